"""From a :class:`~skillopt_dspy.config.Config` to live objects: LMs, program, metric, datasets.

Everything is checked before any LM is called, and each problem is one :class:`ConfigError` naming the
key: an unknown bundled task, a program or metric that cannot be imported, an unknown local model, a
split dir that does not exist, data whose fields do not match the program's inputs.

LM strings: ``local/<name>`` or ``local/<path.gguf>`` is the embedded model; any other string with a
``/`` is a ``dspy.LM`` model (``openai/gpt-4o-mini``, ``anthropic/...``, ``ollama_chat/...``); a
``module:attribute`` names a factory returning a ``dspy.LM`` (or the LM itself). Relative paths and
``module:attribute`` names resolve against the current directory, then the project root (the directory
holding ``configs/``); relative paths are looked up beside the config file first.

Example:
    >>> ws = build(load_config("configs/ticket_routing.yaml"))  # doctest: +SKIP
    >>> len(ws.splits["train"]), type(ws.program).__name__  # doctest: +SKIP
    (80, 'TicketRouter')
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from skillopt_dspy.config import OBJECT_RE, Config, ConfigError
from skillopt_dspy.data import DEFAULT_FIELDS, DataError, load_split_dir
from skillopt_dspy.generic import GenericProgram, exact_match
from skillopt_dspy.scoring import check_metric

ADAPTERS = {"json": dspy.JSONAdapter, "chat": dspy.ChatAdapter, "xml": dspy.XMLAdapter}


def project_root(config: Config) -> Path:
    """The directory holding ``configs/`` above the config file (its repo), else the current directory."""
    if config.source:
        for parent in Path(config.source).resolve().parents:
            if parent.name == "configs":
                return parent.parent
            if (parent / "configs").is_dir():
                return parent
    return Path.cwd()


def search_dirs(config: Config) -> list[Path]:
    """Where a relative path in ``config`` is looked up, in order: beside the config file (as ``_base_``
    files are), the current directory, the project root."""
    beside = [Path(config.source).resolve().parent] if config.source else []
    return list(dict.fromkeys([*beside, Path.cwd(), project_root(config)]))


def resolve_path(config: Config, value: str) -> Path:
    """A relative path found beside the config file, else in the current directory, else in the project
    root (else as given: :func:`require_path` says where it looked)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    for folder in search_dirs(config):
        if (folder / path).exists():
            return folder / path
    return path


def require_path(config: Config, value: str, key: str) -> Path:
    """:func:`resolve_path`, or a :class:`ConfigError` naming ``key`` and every place it looked."""
    path = resolve_path(config, value)
    if path.exists() or Path(value).expanduser().is_absolute():
        return path
    raise ConfigError(f"{key}: {value!r} not found; {looked_in(config, value)}")


def looked_in(config: Config, value: str) -> str:
    """``looked in A, B, C``: every place :func:`resolve_path` tried for ``value``."""
    if Path(value).expanduser().is_absolute():
        return f"looked in {Path(value).expanduser()}"
    return "looked in " + ", ".join(str(folder / value) for folder in search_dirs(config))


def _importable(folders: list[Path]) -> None:
    # Console scripts do not put the current directory on sys.path; `programs.x:Y` must import from it.
    for folder in reversed([Path.cwd(), *folders]):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def _import_module(name: str, what: str, search: list[Path]) -> Any:
    _importable(search)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"{what}: cannot import module {name!r} ({exc})") from None


def import_object(spec: str, *, what: str, search: list[Path] | None = None) -> Any:
    """Import ``module:attribute`` (the current directory and ``search`` folders are importable)."""
    if not OBJECT_RE.match(spec):
        raise ConfigError(
            f"{what} must be named as module:attribute (e.g. programs.routing:TicketRouter), got {spec!r}"
        )
    module_name, attr = spec.split(":")
    obj: Any = _import_module(module_name, f"{what} {spec!r}", search or [])
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def bundled_tasks(roots: list[Path]) -> dict[str, Path]:
    """Task name -> root, for every ``data/<name>/`` that has ``programs/<name>.py`` and ``metrics/<name>.py``."""
    found: dict[str, Path] = {}
    for root in roots:
        for folder in sorted((root / "data").glob("*/")) if (root / "data").is_dir() else []:
            name = folder.name
            if (root / "programs" / f"{name}.py").is_file() and (root / "metrics" / f"{name}.py").is_file():
                found.setdefault(name, root)
    return found


def _program_class(module_name: str, search: list[Path]) -> str:
    """``module:Class`` of the one dspy.Module class defined in ``module_name``."""
    module = _import_module(module_name, "task.name", search)
    classes = [
        name
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, dspy.Module) and obj.__module__ == module_name
    ]
    if len(classes) != 1:
        raise ConfigError(f"task.name: {module_name} must define exactly one dspy.Module class, found {classes}")
    return f"{module_name}:{classes[0]}"


@dataclass(frozen=True)
class TaskParts:
    """What a config names, with a bundled task filling what is unset."""

    program: str | None
    metric: str | None
    split_dir: str | None


def task_parts(config: Config) -> TaskParts:
    """Program, metric and split dir; a bundled ``task.name`` fills what the config leaves unset."""
    task, split_dir = config.task, config.data.split_dir
    if task.name is None:
        return TaskParts(task.program, task.metric, split_dir)
    roots = list(dict.fromkeys([Path.cwd(), project_root(config)]))
    tasks = bundled_tasks(roots)
    if task.name not in tasks:
        where = " or ".join(str(r) for r in roots)
        listed = ", ".join(sorted(tasks)) or f"none found under {where}"
        raise ConfigError(f"task.name: unknown bundled task {task.name!r}; bundled tasks: {listed}")
    root = tasks[task.name]
    program = task.program or _program_class(f"programs.{task.name}", [root])
    return TaskParts(program, task.metric or f"metrics.{task.name}:metric", split_dir or str(root / "data" / task.name))


def check_lm(spec: str, key: str, config: Config) -> None:
    """Fail now on an unknown local model, a missing .gguf file, or a factory that cannot be imported."""
    if spec.startswith("local/"):
        from skillopt_dspy.lm import MODELS  # the embedded engine only when a config asks for it

        name = spec[len("local/") :]
        if name in MODELS:
            return
        if name.endswith(".gguf"):
            if not resolve_path(config, name).is_file():
                raise ConfigError(f"{key}: no GGUF file at {name!r}; {looked_in(config, name)}")
            return
        raise ConfigError(f"{key}: unknown local model {name!r}; use one of {sorted(MODELS)} or a path to a .gguf file")
    if "/" not in spec:
        import_object(spec, what=key, search=[project_root(config)])


def make_lm(
    spec: str, kwargs: dict[str, Any] | None = None, *, config: Config | None = None, key: str = "model.lm"
) -> dspy.BaseLM:
    """A ``dspy.LM`` from an LM string (see the module docstring); ``key`` names it in errors.

    Example:
        >>> make_lm("openai/gpt-4o-mini", {"temperature": 0.0}).model
        'openai/gpt-4o-mini'
    """
    kwargs = dict(kwargs or {})
    if spec.startswith("local/"):
        from skillopt_dspy.lm import LocalModelError, local_lm

        name = spec[len("local/") :]
        if config is not None and name.endswith(".gguf"):
            name = str(resolve_path(config, name))
        try:
            return local_lm(name, **kwargs)
        except LocalModelError as exc:
            raise ConfigError(f"{key} {spec!r}: {exc}") from None
    if "/" in spec:
        return dspy.LM(spec, **kwargs)
    search = [project_root(config)] if config is not None else []
    factory = import_object(spec, what=key, search=search)
    lm = factory(**kwargs) if callable(factory) and not isinstance(factory, dspy.BaseLM) else factory
    if not isinstance(lm, dspy.BaseLM):
        raise ConfigError(f"{key}: the factory {spec!r} returned {type(lm).__name__}, not a dspy.LM")
    return lm


def program_inputs(program: dspy.Module) -> list[str] | None:
    """The required named parameters of ``program.forward``; None when it takes ``**kwargs`` only."""
    forward = getattr(type(program), "forward", None)  # the class's: DSPy warns on instance.forward access
    try:
        params = list(inspect.signature(forward).parameters.values())[1:]  # after self
    except (TypeError, ValueError):
        return None
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = [p.name for p in named if p.default is p.empty]
    return required or None


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

    def skillopt_kwargs(self) -> dict[str, Any]:
        """``config.skillopt_kwargs()`` with relative skill paths resolved like every other path."""
        kwargs = self.config.skillopt_kwargs()
        for key in ("initial_skill", "meta_skill"):
            value = kwargs[key]
            if isinstance(value, str) and "\n" not in value and value.endswith(".md"):
                kwargs[key] = str(require_path(self.config, value, f"optimizer.{key}"))
        return kwargs


def _load_program(spec: str | None, search: list[Path]) -> tuple[dspy.Module, dict[str, str] | None]:
    if spec is None:
        return GenericProgram(), None
    obj = import_object(spec, what="task.program", search=search)
    program = obj() if isinstance(obj, type) and issubclass(obj, dspy.Module) else obj
    if not isinstance(program, dspy.Module):
        raise ConfigError(f"task.program {spec!r} is a {type(program).__name__}, not a dspy.Module class or instance")
    return program, getattr(sys.modules[spec.split(":")[0]], "FIELDS", None)


def build(config: Config, *, need_reflection: bool = True) -> Workspace:
    """Check and construct everything a run needs; no LM is called."""
    root = project_root(config)
    parts = task_parts(config)
    check_lm(config.model.lm, "model.lm", config)
    model = config.model
    reflection_spec = model.reflection_lm or model.lm
    # The target LM doubles as the reflection LM unless another LM, or other settings for it, are given
    # (e.g. speculative decoding for the reflection calls' long answers only).
    own_kwargs = bool(model.reflection_lm_kwargs) and model.reflection_lm_kwargs != model.lm_kwargs
    use_reflection = need_reflection and (reflection_spec != model.lm or own_kwargs)
    if use_reflection:
        check_lm(reflection_spec, "model.reflection_lm", config)
    program, module_fields = _load_program(parts.program, [root])
    fields = config.data.fields if config.data.fields is not None else module_fields
    metric = import_object(parts.metric, what="task.metric", search=[root]) if parts.metric else exact_match
    try:
        check_metric(metric)
    except TypeError as exc:
        raise ConfigError(f"task.metric: {exc}") from None
    if parts.split_dir is None:
        raise ConfigError("data.split_dir: no data; set data.split_dir (--split-dir) or task.name (a bundled task)")
    mapping = {**DEFAULT_FIELDS, **(fields or {})}
    knows_label = parts.program is None or (fields is not None and "expected_output" in fields)
    limits = {"train": config.data.train_limit, "valid": config.data.valid_limit, "test": config.data.test_limit}
    try:
        splits = load_split_dir(
            require_path(config, parts.split_dir, "data.split_dir"),
            fields=fields,
            input_keys=program_inputs(program) or [mapping["input"]],
            label_keys=None if knows_label else (),
            limits=limits,
        )
    except DataError as exc:
        raise ConfigError(f"data: {exc}") from None
    lm = make_lm(config.model.lm, config.model.lm_kwargs, config=config)
    reflection = lm
    if use_reflection:
        reflection = make_lm(reflection_spec, model.reflection_lm_kwargs, config=config, key="model.reflection_lm")
    if config.model.adapter == "json":  # on the embedded LM, the fixed prompt text is all in the cached prefix
        from skillopt_dspy.lm.adapter import json_adapter

        adapter = json_adapter(lm)
    else:
        adapter = ADAPTERS[config.model.adapter]()
    return Workspace(config, program, metric, splits, lm, reflection, adapter)
