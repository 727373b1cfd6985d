"""The search space of a sweep: which ``SkillOpt`` knobs vary, and the checks made before any trial.

A space maps a ``SkillOpt`` keyword to its values: a list is a categorical choice, ``{"low": 1, "high": 8}``
a range (integers when both ends are ints; ``step`` and ``log`` optional), or any Optuna distribution.

Example:
    >>> space = parse_space({"learning_rate": {"low": 1, "high": 8}, "lr_scheduler": ["constant", "cosine"]})
    >>> sorted(space), type(space["learning_rate"]).__name__
    (['learning_rate', 'lr_scheduler'], 'IntDistribution')
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

# SkillOpt keywords that are objects, paths, resources or budgets rather than hyperparameters of the method.
NOT_TUNABLE = frozenset(
    {
        "metric",
        "reflection_lm",
        "log_dir",
        "callbacks",
        "progress",
        "initial_skill",
        "meta_skill",
        "predictors",
        "num_threads",
        "seed",
        "max_errors",
        "max_lm_calls",
        "max_metric_calls",
        "max_tokens",
    }
)
DEFAULT_BATCH_SIZES = (4, 8, 16, 32)
RANGE_KEYS = frozenset({"low", "high", "step", "log"})


def tunable_names() -> list[str]:
    """The ``SkillOpt`` keywords a search space may name (every knob of the method, read from its signature)."""
    from skillopt_dspy.optimizer import SkillOpt

    params = inspect.signature(SkillOpt.__init__).parameters
    return sorted(name for name, p in params.items() if p.kind is p.KEYWORD_ONLY and name not in NOT_TUNABLE)


def default_space(n_train: int) -> dict[str, BaseDistribution]:
    """``learning_rate`` from 1 to 8 and ``batch_size`` among 4, 8, 16, 32 (those not above the trainset)."""
    sizes = [b for b in DEFAULT_BATCH_SIZES if b <= n_train] or [n_train]
    return {"learning_rate": IntDistribution(1, 8), "batch_size": CategoricalDistribution(sizes)}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _range(name: str, spec: Mapping[str, Any]) -> BaseDistribution:
    unknown = set(spec) - RANGE_KEYS
    if unknown or not {"low", "high"} <= set(spec):
        raise ValueError(
            f"search_space[{name!r}]: a range is {{low: ..., high: ..., step: ..., log: ...}} (low and high "
            f"required), got keys {sorted(spec)}; give a list for a categorical choice"
        )
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), spec.get("log", False)
    if not (_number(low) and _number(high)) or (step is not None and not _number(step)):
        raise ValueError(f"search_space[{name!r}]: low, high and step must be numbers, got {dict(spec)!r}")
    if not isinstance(log, bool):
        raise ValueError(f"search_space[{name!r}]: log must be true or false, got {log!r}")
    try:
        if all(isinstance(v, int) for v in (low, high, step if step is not None else 1)):
            return IntDistribution(low, high, log=log, step=1 if step is None else step)
        return FloatDistribution(float(low), float(high), log=log, step=None if step is None else float(step))
    except ValueError as exc:
        raise ValueError(f"search_space[{name!r}]: {exc}") from None


def parse_space(space: Mapping[str, Any] | None, *, n_train: int | None = None) -> dict[str, BaseDistribution]:
    """Optuna distributions for a search space (None: :func:`default_space`); a bad entry is a ValueError."""
    if space is None:
        if n_train is None:
            raise ValueError("the default search space needs the trainset size")
        return default_space(n_train)
    if not isinstance(space, Mapping):
        raise TypeError(f"search_space must be a mapping of SkillOpt keyword -> values, got {type(space).__name__}")
    if not space:
        raise ValueError("search_space is empty: name at least one SkillOpt knob, e.g. {'learning_rate': [2, 4, 8]}")
    allowed = tunable_names()
    out: dict[str, BaseDistribution] = {}
    for name, spec in space.items():
        if name not in allowed:
            raise ValueError(f"search_space: {name!r} is not a SkillOpt knob that can be swept; allowed: {allowed}")
        if isinstance(spec, BaseDistribution):
            out[name] = spec
        elif isinstance(spec, Mapping):
            out[name] = _range(name, spec)
        elif isinstance(spec, (list, tuple)):
            if not spec:
                raise ValueError(f"search_space[{name!r}]: the list of values is empty")
            if len(set(map(repr, spec))) != len(spec):
                raise ValueError(f"search_space[{name!r}]: values repeat in {list(spec)!r}")
            if not all(v is None or isinstance(v, (bool, int, float, str)) for v in spec):
                raise ValueError(f"search_space[{name!r}]: values must be numbers, strings or booleans, got {spec!r}")
            out[name] = CategoricalDistribution(list(spec))
        else:
            raise ValueError(
                f"search_space[{name!r}]: give a list of values or a range {{low: ..., high: ...}}, got {spec!r}"
            )
    return out


def _corners(dist: BaseDistribution) -> list[Any]:
    """The values worth checking: every choice, or both ends of a range."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return [dist.low, dist.high]
    if isinstance(dist, FloatDistribution):
        return [dist.low, dist.high]
    raise ValueError(f"unsupported distribution {dist!r}")


def check_values(space: Mapping[str, BaseDistribution], build: Any) -> None:
    """Call ``build(params)`` (which constructs a ``SkillOpt``) on the corners of the space; name the first bad one.

    Combinations are tried together (``min_learning_rate`` against ``learning_rate``, a gate with its
    options) while there are few of them, one knob at a time otherwise.
    """
    names = list(space)
    corners = [_corners(space[n]) for n in names]
    total = 1
    for values in corners:
        total *= len(values)
    if total <= 256:
        combos = [dict(zip(names, combo)) for combo in itertools.product(*corners)]
    else:
        combos = [{name: value} for name, values in zip(names, corners) for value in values]
    for params in combos:
        try:
            build(params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"search_space: the setting {params} is not valid for SkillOpt: {exc}") from None


def space_json(space: Mapping[str, BaseDistribution]) -> str:
    """A canonical text of the space, kept on the study to refuse a re-run that asks for another space."""
    return json.dumps({k: json.loads(distribution_to_json(v)) for k, v in sorted(space.items())}, sort_keys=True)


def grid_of(space: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Every value of each knob, for ``GridSampler``; a float range needs a ``step``."""
    grid: dict[str, list[Any]] = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            grid[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            grid[name] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None and not dist.log:
            n = round((dist.high - dist.low) / dist.step)
            grid[name] = [dist.low + i * dist.step for i in range(n + 1)]
        else:
            raise ValueError(f"search_space[{name!r}]: a grid needs a list or a range with a step and no log scale")
    return grid
