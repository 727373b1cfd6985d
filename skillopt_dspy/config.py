"""Configs: pydantic models for every knob, YAML with ``_base_`` inheritance, dotted overrides.

A config has six sections: ``model`` (which LMs), ``task`` (program, metric, field names), ``data``
(where the examples are), ``optimizer`` and ``train`` (every ``SkillOpt`` knob, by its own name), and
``run`` (where to write). ``_base_`` names one or more YAML files, relative to the config, that are merged
first. A config written for microsoft SkillOpt (sections ``gradient`` / ``evaluation``, keys such as
``num_epochs``) is translated by :mod:`skillopt_dspy.skillopt_compat` first.

Example:
    >>> cfg = load_config("configs/quickstart.yaml", overrides=["optimizer.learning_rate=8"])  # doctest: +SKIP
    >>> cfg.optimizer.learning_rate  # doctest: +SKIP
    8
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillopt_dspy import skillopt_compat

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config is invalid; the message names the key path and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Section):
    lm: str = Field(
        "local/qwen2.5-coder-0.5b",
        description="target LM: local/<name or path.gguf>, a dspy.LM model string, or module:factory",
    )
    reflection_lm: str | None = Field(None, description="optimizer LM; default: the target LM")
    lm_kwargs: dict[str, Any] = Field(default_factory=dict, description="extra dspy.LM / local engine arguments")
    reflection_lm_kwargs: dict[str, Any] = Field(default_factory=dict)
    adapter: Literal["json", "chat", "xml"] = Field("json", description="DSPy adapter of the target program")


class TaskConfig(_Section):
    name: str | None = Field(None, description="a bundled task: fills program, metric, fields and split dir")
    program: str | None = Field(None, description="module:attribute of a dspy.Module class (default: generic)")
    metric: str | None = Field(None, description="module:attribute of a metric (default: exact match)")
    fields: dict[str, str] | None = Field(None, description="split-dir key -> program field name")
    predictors: list[str] | None = Field(None, description="predictors that get the skill (default: all)")


class DataConfig(_Section):
    split_dir: str | None = Field(None, description="directory with train.jsonl, valid.jsonl, test.jsonl")
    train_limit: int | None = Field(None, ge=1)
    valid_limit: int | None = Field(None, ge=1)
    test_limit: int | None = Field(None, ge=1)


class OptimizerConfig(_Section):
    gate: Literal["hard", "soft", "mixed"] = "hard"
    mixed_weight: float = Field(0.5, ge=0.0, le=1.0)
    pass_threshold: float = 1.0
    learning_rate: int = Field(4, ge=1, description="edit budget: most edits applied per step")
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    min_learning_rate: int = Field(1, ge=1)
    aggregate_fan_in: int = Field(4, ge=2)
    use_slow_update: bool = True
    slow_update_samples: int = Field(8, ge=1)
    use_meta_skill: bool = True
    meta_skill: str | None = Field(None, description="text or path of a meta-skill from an earlier run")
    initial_skill: str | None = Field(None, description="text or path of the skill to start from")


class TrainConfig(_Section):
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(2, ge=1)
    minibatch_size: int = Field(8, ge=1)
    num_threads: int = Field(8, ge=1)
    seed: int = 0
    max_errors: int | None = Field(None, ge=0)
    max_lm_calls: int | None = Field(None, ge=1)
    max_metric_calls: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)


class RunConfig(_Section):
    log_dir: str | None = Field(None, description="run directory (default: runs/<config name>)")
    progress: bool = True
    eval_test: bool = Field(True, description="after training, score the test split without and with the skill")


class Config(_Section):
    """The whole configuration of a run."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    source: str | None = Field(None, description="the config file this came from (set by the loader)")

    def skillopt_kwargs(self) -> dict[str, Any]:
        """The ``SkillOpt(...)`` keyword arguments this config sets (LMs, metric and callbacks aside)."""
        opt = self.optimizer.model_dump()
        return {**opt, **self.train.model_dump(), "predictors": self.task.predictors, "progress": self.run.progress}

    def dump_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


SECTIONS = {name: field.annotation for name, field in Config.model_fields.items() if name != "source"}


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` merged into a copy of ``base``; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML file with its ``_base_`` files merged underneath it (paths relative to the file)."""
    path = path.resolve()
    if path in _seen:
        raise ConfigError(f"_base_ cycle: {' -> '.join(str(p) for p in (*_seen, path))}")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    bases = data.pop("_base_", [])
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged: dict[str, Any] = {}
    for base in bases:
        merged = deep_merge(merged, read_yaml(path.parent / base, (*_seen, path)))
    return deep_merge(merged, data)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides (values parsed as YAML: ``8`` is an int, ``true`` a bool)."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like section.key=value")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            node[parts[-1]] = raw
    return data


def _allowed(loc: tuple) -> list[str]:
    model: Any = Config
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return sorted(getattr(model, "model_fields", {}))


def format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        path = ".".join(loc)
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key; allowed here: {', '.join(_allowed(loc))}")
        else:
            lines.append(f"{path}: {err['msg']} (got {err.get('input')!r})")
    return "invalid config:\n  " + "\n  ".join(lines)


def build_config(data: dict[str, Any], *, source: str | None = None) -> Config:
    """Validate a config mapping; translate a SkillOpt-format one first. Errors name the key path."""
    if skillopt_compat.is_skillopt_format(data):
        data, unmapped = skillopt_compat.translate(data)
        for key in unmapped:
            logger.warning("SkillOpt config key %s has no meaning in skillopt-dspy and was not used", key)
    try:
        config = Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from None
    if config.optimizer.min_learning_rate > config.optimizer.learning_rate:
        raise ConfigError(
            f"optimizer.min_learning_rate ({config.optimizer.min_learning_rate}) must not exceed "
            f"optimizer.learning_rate ({config.optimizer.learning_rate})"
        )
    return config


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = ()) -> Config:
    """Load a YAML config (with ``_base_`` files), apply dotted overrides, and validate it."""
    data = read_yaml(Path(path)) if path is not None else {}
    data = apply_overrides(data, overrides)
    return build_config(data, source=str(path) if path is not None else None)
