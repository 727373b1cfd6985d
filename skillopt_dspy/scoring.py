"""Scores: one normalization of whatever a metric returns, and the gate's aggregate.

A metric may return a bool, a number, a ``dspy.Prediction`` or a mapping with ``score`` / ``hard`` / ``soft``
/ ``feedback``. It is normalized once into :class:`Score`; the gate compares unrounded means.

Example:
    >>> normalize_score(0.75, pass_threshold=0.7)
    Score(hard=1.0, soft=0.75, feedback='')
    >>> gate_value([Score(1.0, 1.0), Score(0.0, 0.5)], "mixed", mixed_weight=0.5)
    0.625
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

GateMode = Literal["hard", "soft", "mixed"]
GATE_MODES: tuple[str, ...] = ("hard", "soft", "mixed")


class Metric(Protocol):
    """DSPy's metric contract: ``(example, prediction, trace=None) -> bool | float | Prediction``."""

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> Any: ...


class MetricError(ValueError):
    """A metric returned something that is not a score."""


@dataclass(frozen=True)
class Score:
    """One example's score: ``hard`` pass/fail in {0, 1}, ``soft`` in [0, 1] usually, and feedback text."""

    hard: float
    soft: float
    feedback: str = ""

    def to_dict(self) -> dict:
        return {"hard": self.hard, "soft": self.soft, "feedback": self.feedback}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MetricError(f"the metric's {what} is {value!r} ({type(value).__name__}), not a number") from None
    if math.isnan(number):
        raise MetricError(f"the metric's {what} is NaN")
    return number


def normalize_score(result: Any, pass_threshold: float = 1.0) -> Score:
    """Turn a metric's return value into a :class:`Score`; raises :class:`MetricError` if it is not a score.

    bool: hard = soft. Number: soft = value, hard = soft >= pass_threshold. Prediction or mapping: its
    ``hard`` / ``soft`` / ``score`` / ``feedback`` entries (``score`` stands for whichever is missing).
    """
    if isinstance(result, bool):
        return Score(float(result), float(result))
    if isinstance(result, (int, float)):
        soft = _number(result, "score")
        return Score(float(soft >= pass_threshold), soft)
    if isinstance(result, Mapping):
        fields = dict(result)
    elif hasattr(result, "keys") and hasattr(result, "get"):  # dspy.Prediction / dspy.Example
        fields = {k: result.get(k) for k in result.keys()}  # noqa: SIM118
    else:
        raise MetricError(f"the metric returned {type(result).__name__}; return a bool, a float or dspy.Prediction")
    feedback = fields.get("feedback") or ""
    feedback = feedback if isinstance(feedback, str) else str(feedback)
    has = {k: fields.get(k) is not None for k in ("hard", "soft", "score")}
    if not any(has.values()):
        raise MetricError("the metric's Prediction has no `score`, `hard` or `soft` field")
    score = _number(fields["score"], "score") if has["score"] else None
    soft = _number(fields["soft"], "soft score") if has["soft"] else score
    hard = _number(fields["hard"], "hard score") if has["hard"] else None
    if soft is None:
        soft = hard
    if hard is None:
        hard = float(soft >= pass_threshold)
    return Score(hard, soft, feedback)


def gate_value(scores: Sequence[Score], mode: str, mixed_weight: float = 0.5) -> float:
    """The gate's aggregate of ``scores``: mean hard, mean soft, or ``(1 - w)·hard + w·soft``; 0.0 if empty."""
    if not scores:
        return 0.0
    hard = sum(s.hard for s in scores) / len(scores)
    soft = sum(s.soft for s in scores) / len(scores)
    if mode == "hard":
        return hard
    if mode == "soft":
        return soft
    if mode == "mixed":
        return (1.0 - mixed_weight) * hard + mixed_weight * soft
    raise ValueError(f"gate must be one of {GATE_MODES}, got {mode!r}")


def check_metric(metric: Callable) -> None:
    """Raise ``TypeError`` unless ``metric`` is callable as ``metric(example, prediction)``."""
    if not callable(metric):
        raise TypeError(f"metric must be callable as metric(example, prediction, trace=None); got {metric!r}")
    try:
        sig = inspect.signature(metric)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        sig.bind(None, None)
    except TypeError:
        raise TypeError(
            f"metric {getattr(metric, '__name__', metric)!r} has signature {sig}; it must accept "
            "(example, prediction, trace=None)"
        ) from None
