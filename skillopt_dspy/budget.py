"""Counting LM calls, tokens, metric calls and faults across threads, per role, and checking budgets.

LM calls are counted through a DSPy callback and tokens through DSPy's usage-tracker hook, both installed
with ``dspy.context`` in each worker thread, so any ``dspy.LM`` is counted the same way. The role (target or
reflection) is a context variable set by the stage that makes the call.

Example:
    >>> usage = Usage()
    >>> usage.count_metric_call()
    >>> usage.snapshot()["metric_calls"]
    1
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dspy.utils.callback import BaseCallback

ROLE: contextvars.ContextVar[str] = contextvars.ContextVar("skillopt_role", default="target")
# The LM calls of the example being run in this thread (None outside a rollout).
EXAMPLE_CALLS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("skillopt_example", default=None)


@contextmanager
def role(name: str) -> Iterator[None]:
    """Attribute the LM calls made inside this block to ``name`` (e.g. ``"target"``, ``"reflection"``)."""
    token = ROLE.set(name)
    try:
        yield
    finally:
        ROLE.reset(token)


@contextmanager
def example_calls() -> Iterator[list[int]]:
    """Count the LM calls made inside this block (in this thread) into the yielded one-item list."""
    counter = [0]
    token = EXAMPLE_CALLS.set(counter)
    try:
        yield counter
    finally:
        EXAMPLE_CALLS.reset(token)


class Usage:
    """Thread-safe counters: LM calls and tokens per role, metric calls, and faults by kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lm_calls: Counter[str] = Counter()
        self.lm_errors: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self.metric_calls = 0
        self.faults: Counter[str] = Counter()
        self.examples_run = 0  # examples the program ran (not read back from a log_dir)
        self.max_example_calls = 0  # the most LM calls one example made

    def count_lm_call(self, failed: bool = False) -> None:
        with self._lock:
            self.lm_calls[ROLE.get()] += 1
            if failed:
                self.lm_errors[ROLE.get()] += 1

    def count_tokens(self, n: int) -> None:
        with self._lock:
            self.tokens[ROLE.get()] += n

    def count_metric_call(self) -> None:
        with self._lock:
            self.metric_calls += 1

    def count_example(self, lm_calls: int) -> None:
        with self._lock:
            self.examples_run += 1
            self.max_example_calls = max(self.max_example_calls, lm_calls)

    def calls_per_example(self) -> int:
        """The most target LM calls one example may make, as measured so far (at least 1).

        The largest count seen on one example, or the mean over all of them rounded up when calls happen
        where the per-example count cannot see them (threads the program starts itself).
        """
        with self._lock:
            mean = -(-self.lm_calls["target"] // self.examples_run) if self.examples_run else 1
            return max(1, self.max_example_calls, mean)

    def count_fault(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.faults[kind] += n

    @property
    def total_lm_calls(self) -> int:
        return sum(self.lm_calls.values())

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens.values())

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict copy of every counter (for history records and results)."""
        with self._lock:
            return {
                "lm_calls": dict(self.lm_calls),
                "lm_errors": dict(self.lm_errors),
                "tokens": dict(self.tokens),
                "metric_calls": self.metric_calls,
                "faults": dict(self.faults),
                "examples_run": self.examples_run,
                "max_example_calls": self.max_example_calls,
            }

    def restore(self, snap: dict[str, Any]) -> None:
        """Set every counter from a :meth:`snapshot` (used when a run resumes)."""
        with self._lock:
            self.lm_calls = Counter(snap.get("lm_calls", {}))
            self.lm_errors = Counter(snap.get("lm_errors", {}))
            self.tokens = Counter(snap.get("tokens", {}))
            self.metric_calls = int(snap.get("metric_calls", 0))
            self.faults = Counter(snap.get("faults", {}))
            self.examples_run = int(snap.get("examples_run", 0))
            self.max_example_calls = int(snap.get("max_example_calls", 0))

    def dspy_overrides(self, parent_tracker: Any = None) -> dict[str, Any]:
        """The ``dspy.context`` settings that route LM calls and token usage into these counters.

        A usage tracker the caller already had keeps receiving every entry (``parent_tracker``).
        """
        return {"callbacks": [_LMCallCounter(self)], "usage_tracker": _TokenCounter(self, parent_tracker)}


class _LMCallCounter(BaseCallback):
    def __init__(self, usage: Usage) -> None:
        self.usage = usage

    def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
        self.usage.count_lm_call(failed=exception is not None)
        counter = EXAMPLE_CALLS.get()
        if counter is not None:
            counter[0] += 1


class _TokenCounter:
    """Quacks like ``dspy.utils.usage_tracker.UsageTracker`` for the one method DSPy calls."""

    def __init__(self, usage: Usage, parent: Any = None) -> None:
        self.usage = usage
        self.parent = parent

    def add_usage(self, lm: str, usage_entry: dict[str, Any]) -> None:
        if self.parent is not None:
            self.parent.add_usage(lm, usage_entry)
        total = usage_entry.get("total_tokens")
        if not isinstance(total, (int, float)):
            total = sum(
                v for k, v in usage_entry.items() if k in ("prompt_tokens", "completion_tokens") and isinstance(v, int)
            )
        self.usage.count_tokens(int(total or 0))

    def __deepcopy__(self, memo: dict) -> _TokenCounter:  # dspy.Parallel deep-copies trackers: keep one count
        return self


class StageMeter:
    """LM calls, tokens, metric calls and seconds per stage: a lap counter over the run's usage.

    Stages run one after another in the training thread, so the change of the run's counters between two
    laps is what the stage that just finished used (its worker threads included).

    Example:
        >>> usage = Usage()
        >>> meter = StageMeter(usage)
        >>> usage.count_metric_call()
        >>> meter.lap("gate")
        >>> meter.totals["gate"]["metric_calls"]
        1
    """

    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        self.totals: dict[str, dict[str, float]] = {}
        self._mark = self._now()

    def _now(self) -> tuple[float, ...]:
        u = self.usage
        return (u.total_lm_calls, u.total_tokens, u.metric_calls, time.perf_counter())

    def lap(self, stage: str) -> None:
        """Charge everything since the previous lap (or the start) to ``stage``."""
        now = self._now()
        row = self.totals.setdefault(stage, {"lm_calls": 0, "tokens": 0, "metric_calls": 0, "seconds": 0.0})
        for key, new, old in zip(("lm_calls", "tokens", "metric_calls", "seconds"), now, self._mark):
            row[key] += new - old
        self._mark = now


@dataclass(frozen=True)
class Budget:
    """Optional limits; ``None`` means unlimited. Checked at step boundaries, looking one step ahead.

    A budget is a ceiling, not a target: before each step (or epoch boundary) :meth:`exhausted` is given
    the most that unit may use, and the run stops when it could cross a limit. Metric calls have an exact
    bound (the batch, plus a full validation of a new candidate); LM calls multiply those examples by the
    most LM calls one example was measured to make and add the reflection calls; tokens use the largest
    unit seen so far in the run.
    """

    max_lm_calls: int | None = None
    max_metric_calls: int | None = None
    max_tokens: int | None = None

    def exhausted(self, usage: Usage, next_cost: dict[str, int] | None = None) -> str | None:
        """The reason the run must stop, or None while the next unit fits every limit.

        ``next_cost`` holds the most the next unit may use: ``lm_calls``, ``metric_calls``, ``tokens``.
        """
        cost = next_cost or {}
        checks = (
            ("max_lm_calls", self.max_lm_calls, usage.total_lm_calls, cost.get("lm_calls", 0), "LM calls"),
            (
                "max_metric_calls",
                self.max_metric_calls,
                usage.metric_calls,
                cost.get("metric_calls", 0),
                "metric calls",
            ),
            ("max_tokens", self.max_tokens, usage.total_tokens, cost.get("tokens", 0), "tokens"),
        )
        for name, limit, used, ahead, unit in checks:
            if limit is None:
                continue
            if used >= limit:
                return f"{name}={limit} reached ({used} {unit})"
            if used + ahead > limit:
                return f"{name}={limit}: {used} {unit} used, and the next step may take up to {ahead} more"
        return None
