"""From a :class:`~skillopt_dspy.config.Config` to live objects: LMs, program, metric, datasets.

Everything here fails with one clear error before any LM call: an unknown bundled task, a program or
metric that cannot be imported, an unknown local model, a split dir that does not exist.

LM strings: ``local/<name>`` or ``local/<path.gguf>`` is the embedded model; any other string with a
``/`` is a ``dspy.LM`` model (``openai/gpt-4o-mini``, ``anthropic/...``, ``ollama_chat/...``); a
``module:attribute`` names a factory returning a ``dspy.LM`` (or the LM itself).
"""

from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from skillopt_dspy.config import Config, ConfigError
from skillopt_dspy.data import load_split_dir
from skillopt_dspy.generic import GenericProgram, exact_match

BUNDLED_TASKS = {
    "ticket_routing": ("programs.ticket_routing:TicketRouter", "metrics.ticket_routing:metric"),
    "date_normalization": ("programs.date_normalization:DateNormalizer", "metrics.date_normalization:metric"),
    "field_extraction": ("programs.field_extraction:InvoiceExtractor", "metrics.field_extraction:metric"),
}
_OBJECT_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def project_root(config: Config) -> Path:
    """The directory that holds ``configs/`` (the config's repo), else the current directory."""
    if config.source:
        for parent in Path(config.source).resolve().parents:
            if parent.name == "configs":
                return parent.parent
    return Path.cwd()


def resolve_path(config: Config, value: str) -> Path:
    """A relative path is looked up in the current directory first, then in the project root."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists():
        return path
    candidate = project_root(config) / path
    return candidate if candidate.exists() else path


def import_object(spec: str, *, what: str, search: list[Path] | None = None) -> Any:
    """Import ``module:attribute`` (the current directory and ``search`` dirs are importable)."""
    if not _OBJECT_RE.match(spec):
        raise ConfigError(
            f"{what} must be named as module:attribute (e.g. programs.routing:TicketRouter), got {spec!r}"
        )
    for folder in [Path.cwd(), *(search or [])]:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {spec!r}: cannot import module {module_name!r} ({exc})") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def make_lm(spec: str, kwargs: dict[str, Any] | None = None, *, search: list[Path] | None = None) -> dspy.BaseLM:
    """A ``dspy.LM`` from a config string (see the module docstring)."""
    kwargs = dict(kwargs or {})
    if spec.startswith("local/"):
        from skillopt_dspy.lm import LocalModelError, local_lm

        try:
            return local_lm(spec[len("local/") :], **kwargs)
        except LocalModelError as exc:
            raise ConfigError(f"model.lm {spec!r}: {exc}") from None
    if "/" in spec:
        return dspy.LM(spec, **kwargs)
    factory = import_object(spec, what="LM factory", search=search)
    lm = factory(**kwargs) if callable(factory) and not isinstance(factory, dspy.BaseLM) else factory
    if not isinstance(lm, dspy.BaseLM):
        raise ConfigError(f"LM factory {spec!r} returned {type(lm).__name__}, not a dspy.LM")
    return lm


@dataclass
class Workspace:
    """Everything a run needs, built from a config."""

    config: Config
    program: dspy.Module
    metric: Any
    splits: dict[str, list[dspy.Example]]
    lm: dspy.BaseLM
    reflection_lm: dspy.BaseLM
    adapter: dspy.Adapter


ADAPTERS = {"json": dspy.JSONAdapter, "chat": dspy.ChatAdapter, "xml": dspy.XMLAdapter}


def task_parts(config: Config) -> tuple[str | None, str | None, dict[str, str] | None, str | None]:
    """Program, metric, fields and split dir, with a bundled task name filling what is not given."""
    task = config.task
    program, metric, fields, split_dir = task.program, task.metric, task.fields, config.data.split_dir
    if task.name is not None:
        if task.name not in BUNDLED_TASKS:
            raise ConfigError(f"task.name: unknown bundled task {task.name!r}; bundled: {', '.join(BUNDLED_TASKS)}")
        default_program, default_metric = BUNDLED_TASKS[task.name]
        program, metric = program or default_program, metric or default_metric
        split_dir = split_dir or f"data/{task.name}"
    return program, metric, fields, split_dir


def build_data(config: Config, fields: dict[str, str] | None, split_dir: str | None) -> dict[str, list[dspy.Example]]:
    if split_dir is None:
        raise ConfigError("data.split_dir: no data; set data.split_dir (or task.name for a bundled task)")
    limits = {"train": config.data.train_limit, "valid": config.data.valid_limit, "test": config.data.test_limit}
    return load_split_dir(resolve_path(config, split_dir), fields=fields, limits=limits)


def build(config: Config, *, need_reflection: bool = True) -> Workspace:
    """Import and construct everything; no LM is called."""
    root = project_root(config)
    program_spec, metric_spec, fields, split_dir = task_parts(config)
    if program_spec:
        program_cls = import_object(program_spec, what="task.program", search=[root])
        module = sys.modules[program_spec.split(":")[0]]
        fields = fields or getattr(module, "FIELDS", None)
        program = program_cls() if isinstance(program_cls, type) else program_cls
        if not isinstance(program, dspy.Module):
            raise ConfigError(f"task.program {program_spec!r} is not a dspy.Module")
    else:
        program = GenericProgram()
    metric = import_object(metric_spec, what="task.metric", search=[root]) if metric_spec else exact_match
    splits = build_data(config, fields, split_dir)
    lm = make_lm(config.model.lm, config.model.lm_kwargs, search=[root])
    reflection = lm
    if need_reflection and config.model.reflection_lm and config.model.reflection_lm != config.model.lm:
        reflection = make_lm(config.model.reflection_lm, config.model.reflection_lm_kwargs, search=[root])
    return Workspace(config, program, metric, splits, lm, reflection, ADAPTERS[config.model.adapter]())
