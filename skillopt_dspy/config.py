"""Configs: pydantic models for every knob, YAML with ``_base_`` inheritance, dotted overrides.

A config has seven sections: ``model`` (which LMs), ``task`` (program, metric, which predictors get the
skill), ``data`` (where the examples are and how their keys map to the program's fields), ``optimizer``
and ``train`` (every ``SkillOpt`` knob, under its own keyword name), ``run`` (where to write), and
``sweep`` (``skillopt-dspy sweep``: the search space, the study's storage, workers, pruning).
``_base_`` names YAML files, relative to the file, merged underneath it. ``task: ticket_routing`` is short
for ``task: {name: ticket_routing}`` (``data.task`` too). A config written for microsoft SkillOpt
(``gradient`` / ``evaluation`` / ``env`` sections, ``train.num_epochs``...) is translated by
:mod:`skillopt_dspy.skillopt_compat`; its keys that mean nothing here are logged, never dropped silently.
Every error names the key's dotted path and what is allowed, before anything runs.

Example:
    >>> cfg = load_config("configs/quickstart.yaml", overrides=["optimizer.learning_rate=8"])  # doctest: +SKIP
    >>> cfg.optimizer.learning_rate  # doctest: +SKIP
    8
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from skillopt_dspy import skillopt_compat

logger = logging.getLogger(__name__)

OBJECT_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
LM_FORMS = "local/<model name or path.gguf>, a dspy.LM model string such as openai/gpt-4o-mini, or module:factory"


class ConfigError(ValueError):
    """A config is invalid; the message names the key path and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ModelConfig(_Section):
    lm: str = Field("local/qwen2.5-coder-0.5b", description=f"the target LM (the program's): {LM_FORMS}")
    reflection_lm: str | None = Field(None, description="the optimizer LM, same forms; null: the target LM")
    lm_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for dspy.LM / local_lm / the factory"
    )
    reflection_lm_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="the same for the reflection LM (with reflection_lm null, set: the target's model with these)",
    )
    adapter: Literal["json", "chat", "xml"] = Field("json", description="DSPy adapter the program runs under")

    @field_validator("lm", "reflection_lm")
    @classmethod
    def _lm_string(cls, value: str | None) -> str | None:
        if value is None or "/" in value or OBJECT_RE.match(value):
            return value
        raise ValueError(f"{value!r} is not an LM string; use {LM_FORMS}")


class TaskConfig(_Section):
    name: str | None = Field(
        None, description="a bundled task (programs/<name>.py, metrics/<name>.py, data/<name>/) filling what is unset"
    )
    program: str | None = Field(
        None, description="module:attribute of a dspy.Module class or instance; null: the generic program"
    )
    metric: str | None = Field(None, description="module:attribute of the metric; null: exact match with feedback")
    predictors: list[str] | None = Field(None, description="names of the predictors that get the skill; null: all")

    @field_validator("program", "metric")
    @classmethod
    def _object_name(cls, value: str | None) -> str | None:
        if value is None or OBJECT_RE.match(value):
            return value
        raise ValueError(f"{value!r} must be named as module:attribute, e.g. programs.ticket_routing:TicketRouter")


class DataConfig(_Section):
    split_dir: str | None = Field(
        None, description="train/valid/test as .jsonl or .json files, or SkillOpt's train/ val/ test/ folders"
    )
    fields: dict[str, str] | None = Field(
        None, description="data key -> program field name; null: the program module's FIELDS"
    )
    train_limit: int | None = Field(None, ge=1, description="use the first N training examples; null: all")
    valid_limit: int | None = Field(None, ge=1, description="use the first N validation examples; null: all")
    test_limit: int | None = Field(None, ge=1, description="use the first N test examples; null: all")


class OptimizerConfig(_Section):
    gate: Literal["hard", "soft", "mixed"] = Field(
        "hard", description="validation score the gate compares: pass rate, mean score, or a mix"
    )
    mixed_weight: float = Field(0.5, ge=0.0, le=1.0, description="weight of the soft score in the mixed gate")
    gate_test: Literal["strict", "paired"] = Field(
        "paired", description="accept on a strictly higher score, or only when a paired test finds it significant"
    )
    gate_alpha: float = Field(0.1, gt=0.0, le=0.5, description="level of the paired test (gate_test: paired)")
    racing: bool = Field(True, description="stop scoring a candidate once it can no longer win (same decisions)")
    batch_check: bool = Field(
        True, description="score a candidate on its step's training batch first; validate only if it does better there"
    )
    carry_ahead: bool = Field(
        True,
        description="later steps of an epoch build on a candidate that did better on its batch and was ahead on "
        "validation but not significantly (still gated against the accepted skill)",
    )
    worked_examples: int = Field(
        0,
        ge=0,
        description="examples of a step's batch added with their expected answers to its candidate, in the skill's "
        "protected worked-examples region (0: none; not counted against learning_rate)",
    )
    max_worked_examples: int = Field(8, ge=0, description="the most worked examples the skill holds")
    worked_examples_from: Literal["batch", "failures"] = Field(
        "batch",
        description="where worked examples come from: the batch in its random order, passes and failures alike, "
        "or the batch's failures, one per failure group",
    )
    metric_range: list[float] = Field(
        default_factory=lambda: [0.0, 1.0], description="[low, high] a soft score can take (racing's bound)"
    )
    pass_threshold: float = Field(1.0, description="a float metric score at or above this is a hard pass")
    learning_rate: int = Field(4, ge=1, description="the edit budget: most edits applied per step")
    lr_scheduler: Literal["constant", "linear", "cosine"] = Field(
        "constant", description="how the edit budget decays over the run"
    )
    min_learning_rate: int = Field(1, ge=1, description="the edit budget the scheduler decays towards")
    aggregate_fan_in: int = Field(4, ge=2, description="patches merged per aggregation call")
    contrast_examples: int = Field(
        0, ge=0, description="solved inputs shown per answer next to each confusion group of failures (0: none)"
    )
    reflection_samples: int = Field(
        1, ge=1, description="analyses of each failure minibatch; after the first, sampled at reflection_temperature"
    )
    reflection_temperature: float = Field(
        0.8, ge=0.0, le=2.0, description="temperature of the failure analyses after the first (reflection_samples)"
    )
    use_slow_update: bool = Field(True, description="gated slow update at each epoch boundary")
    slow_update_samples: int = Field(8, ge=1, description="training examples the slow update compares")
    use_meta_skill: bool = Field(True, description="optimizer-side memory of which edits worked")
    meta_skill: str | None = Field(None, description="text or .md path of a meta-skill from an earlier run")
    initial_skill: str | None = Field(None, description="text or .md path of the skill to start from")

    @field_validator("metric_range")
    @classmethod
    def _range(cls, value: list[float]) -> list[float]:
        if len(value) != 2 or not value[0] < value[1]:
            raise ValueError(f"must be [low, high] with low < high, e.g. [0.0, 1.0], got {value!r}")
        return value


class TrainConfig(_Section):
    batch_size: int = Field(16, ge=1, description="training examples rolled out per step")
    epochs: int = Field(2, ge=1, description="passes over the training set")
    minibatch_size: int = Field(8, ge=1, description="trajectories per reflection call")
    num_threads: int = Field(8, ge=1, description="one thread budget for rollouts, reflection and validation")
    seed: int = Field(0, description="shuffling and sampling seed")
    max_errors: int | None = Field(
        None, ge=0, description="program exceptions tolerated per evaluation; null: DSPy's max_errors"
    )
    max_lm_calls: int | None = Field(None, ge=1, description="stop at a step boundary after this many LM calls")
    max_metric_calls: int | None = Field(None, ge=1, description="stop after this many metric calls")
    max_tokens: int | None = Field(None, ge=1, description="stop after this many tokens")


class RunConfig(_Section):
    log_dir: str | None = Field(
        None, description="run directory; an existing run there resumes; null: runs/<config>-<timestamp>"
    )
    progress: bool = Field(True, description="show a progress bar")
    eval_test: bool = Field(True, description="after training, score the test split without and with the skill")
    report: bool = Field(True, description="write the HTML run report (report.html) into the run directory at the end")


class SearchRange(_Section):
    low: int | float = Field(description="lowest value")
    high: int | float = Field(description="highest value")
    step: int | float | None = Field(None, description="spacing of the values; null: any (ints: 1)")
    log: bool = Field(False, description="sample on a log scale")


class SweepConfig(_Section):
    search_space: dict[str, list[StrictBool | int | float | str] | SearchRange] | None = Field(
        None, description="SkillOpt knob -> list of values or {low, high, step, log}; null: learning_rate, batch_size"
    )
    n_trials: int | None = Field(None, ge=1, description="trials the study holds in the end (--n-trials)")
    storage: str | None = Field(None, description="sqlite:///sweep.db, postgresql+psycopg://...; null: memory")
    study_name: str | None = Field(None, description="the study in the storage; null: <config name>-sweep")
    workers: int = Field(1, ge=1, description="trials run at once in this process (--workers)")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="how the next trial's knobs are picked")
    pruner: Literal["median", "none"] = Field("median", description="stop a trial below the median at a step")
    heartbeat_interval: int | None = Field(60, ge=1, description="seconds between a running trial's heartbeats")
    grace_period: int | None = Field(None, ge=1, description="seconds without one before a trial is FAILED and retried")
    max_retry: int | None = Field(3, ge=0, description="times a dead worker's trial is retried; null: always")

    @field_validator("search_space", mode="before")
    @classmethod
    def _space(cls, value: Any) -> Any:
        if isinstance(value, dict):  # the shape first, with one message per mistake (types are checked after)
            from skillopt_dspy.sweep_space import parse_space  # optuna only when a config has a sweep section

            parse_space({k: v.model_dump() if isinstance(v, SearchRange) else v for k, v in value.items()})
        return value


class Config(_Section):
    """The whole configuration of a run; ``source`` is the file it was loaded from (not a key)."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    sweep: SweepConfig = Field(default_factory=SweepConfig)
    _source: str | None = PrivateAttr(None)
    _ignored: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _check_budget_order(self) -> Config:
        if self.optimizer.min_learning_rate > self.optimizer.learning_rate:
            raise ValueError(
                f"optimizer.min_learning_rate ({self.optimizer.min_learning_rate}) must not exceed "
                f"optimizer.learning_rate ({self.optimizer.learning_rate})"
            )
        return self

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def ignored_keys(self) -> list[str]:
        """Keys of a SkillOpt-format config that have no meaning here (reported when loaded)."""
        return list(self._ignored)

    def skillopt_kwargs(self) -> dict[str, Any]:
        """The ``SkillOpt(...)`` keyword arguments this config sets (metric, LMs, log_dir, callbacks aside)."""
        opt = self.optimizer.model_dump()
        return {**opt, **self.train.model_dump(), "predictors": self.task.predictors, "progress": self.run.progress}

    def dump_yaml(self, header: str = "") -> str:
        """The config as YAML (every key), after ``header`` lines written as comments."""
        comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
        return comments + yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


SECTIONS: dict[str, type[BaseModel]] = {name: f.annotation for name, f in Config.model_fields.items()}


def native_keys() -> dict[str, set[str]]:
    """Section -> key names of the schema."""
    return {name: set(model.model_fields) for name, model in SECTIONS.items()}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``; nested mappings merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _normalize_layer(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``task: NAME`` -> ``task: {name: NAME}``; ``data.task`` -> ``task.name``."""
    if isinstance(data.get("task"), str):
        data["task"] = {"name": data["task"]}
    section = data.get("data")
    if isinstance(section, dict) and "task" in section:
        name = section.pop("task")
        task = data.setdefault("task", {})
        if isinstance(task, dict):
            if task.get("name") not in (None, name):
                raise ConfigError(f"{where}: data.task ({name!r}) and task.name ({task['name']!r}) disagree")
            task["name"] = name
    return data


def read_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML file with its ``_base_`` files (paths relative to it) merged underneath it."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"_base_ cycle: {' -> '.join(str(p) for p in (*_seen, path))}")
    if not path.is_file():
        where = f" (named in _base_ of {_seen[-1]})" if _seen else ""
        raise ConfigError(f"config file {str(path)!r} does not exist{where}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    bases = data.pop("_base_", [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: _base_ must be a file name or a list of them, got {bases!r}")
    merged: dict[str, Any] = {}
    for base in bases:
        merged = deep_merge(merged, read_yaml(path.parent / base, (*_seen, path)))
    return deep_merge(merged, _normalize_layer(data, str(path)))


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings (``task`` / ``data.task`` mean ``task.name``)."""
    if dotted in ("task", "data.task"):
        dotted = "task.name"
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"override key {dotted!r} must look like section.key")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = value


def parse_override(item: str) -> tuple[str, Any]:
    """``"a.b=value"`` -> ``("a.b", value)``, the value read as YAML (``8`` an int, ``true`` a bool, ``[a, b]``)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with ``section.key=value`` overrides applied (values parsed as YAML).

    Example:
        >>> apply_overrides({"train": {"epochs": 1}}, ["train.epochs=3", "task=ticket_routing"])
        {'train': {'epochs': 3}, 'task': {'name': 'ticket_routing'}}
    """
    data = copy.deepcopy(data)
    for item in overrides:
        set_key(data, *parse_override(item))
    return data


def _allowed(loc: tuple[str, ...]) -> list[str]:
    model: Any = Config
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return sorted(getattr(model, "model_fields", {}))


def format_errors(exc: ValidationError, origin: Mapping[str, str] | None = None) -> str:
    """One line per problem: the key's dotted path (as the user wrote it), what is wrong, what is allowed."""
    origin = origin or {}
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        path = ".".join(loc)
        shown = f"{origin[path]} (here {path})" if path in origin else path
        if err["type"] == "extra_forbidden":
            hint = ""
            if path in skillopt_compat.MAPPING:
                hint = f" (SkillOpt's {path} is {skillopt_compat.MAPPING[path]} here)"
            allowed = ", ".join(_allowed(loc)) or "none (this is a value, not a section)"
            lines.append(f"{shown}: unknown key{hint}; allowed here: {allowed}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            lines.append(f"{shown or 'config'}: {msg}{got}")
    return "invalid config:\n  " + "\n  ".join(lines)


def _validate(data: dict[str, Any], origin: Mapping[str, str], source: str | None, ignored: list[str]) -> Config:
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, origin)) from None
    config._source = source
    config._ignored = list(ignored)
    return config


def _report(ignored: list[str], source: str | None) -> None:
    if not ignored:
        return
    secrets = " API keys are never copied into a config: set the provider's variable (OPENAI_API_KEY, ...)."
    logger.warning(
        "%d key(s) of the SkillOpt config%s have no meaning in skillopt-dspy and were not used: %s "
        "(docs/config.md lists what each SkillOpt key becomes).%s",
        len(ignored),
        f" {source}" if source else "",
        ", ".join(ignored),
        secrets if any("api_key" in key for key in ignored) else "",
    )


def build_config(
    data: Mapping[str, Any],
    *,
    source: str | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
) -> Config:
    """Validate a config mapping: SkillOpt format translated, then ``overrides`` and ``values`` applied.

    ``overrides`` are ``section.key=value`` strings; ``values`` maps dotted keys to values already typed
    (the command line's ``--lm``, ``--split-dir``...). On a SkillOpt-format mapping an override may use
    SkillOpt's key names too.

    Example:
        >>> build_config({"train": {"num_epochs": 3}, "evaluation": {"gate_metric": "soft"}}).optimizer.gate
        'soft'
    """
    data = _normalize_layer(copy.deepcopy(dict(data)), source or "config")
    parsed = [parse_override(item) for item in overrides]
    origin: dict[str, str] = {}
    ignored: list[str] = []
    if skillopt_compat.is_skillopt_format(data):
        for key, value in parsed:
            if skillopt_compat.is_skillopt_key(key):
                set_key(data, key, value)
        parsed = [(k, v) for k, v in parsed if not skillopt_compat.is_skillopt_key(k)]
        data, ignored, origin = skillopt_compat.translate(data, native_keys())
        _report(ignored, source)
    for key, value in [*parsed, *(values or {}).items()]:
        set_key(data, key, value)
        origin.pop("task.name" if key in ("task", "data.task") else key, None)
    return _validate(data, origin, source, ignored)


def load_config(
    path: str | Path | None = None, *, overrides: Sequence[str] = (), values: Mapping[str, Any] | None = None
) -> Config:
    """Load a YAML config (``_base_`` files merged), apply dotted ``overrides`` / typed ``values``, validate.

    Example:
        >>> load_config(None, overrides=["train.epochs=3"]).train.epochs
        3
    """
    data = read_yaml(path) if path is not None else {}
    return build_config(data, source=str(path) if path is not None else None, overrides=overrides, values=values)
