"""One thread pool for a whole run, carrying the caller's DSPy settings into every worker.

DSPy settings set with ``dspy.context`` live in a context variable that new threads do not inherit; the
runner copies the caller's overrides into each worker (as ``dspy.Parallel`` does), adds the LM the stage
chose and the usage counters, and marks the role the calls are billed to. Tasks never submit to the pool
themselves, so one ``num_threads`` budget serves rollouts, reflection and validation without deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import dspy
from dspy.dsp.utils.settings import thread_local_overrides
from dspy.dsp.utils.utils import dotdict

from skillopt_dspy.budget import Usage, role

T = TypeVar("T")
R = TypeVar("R")


class Runner:
    """Runs ``fn`` over items on ``num_threads`` threads with explicit DSPy settings; results in input order.

    Example:
        >>> with Runner(num_threads=2, usage=Usage()) as runner:
        ...     runner.map(lambda x: x * 2, [1, 2, 3], role_name="target")
        [2, 4, 6]
    """

    def __init__(self, num_threads: int, usage: Usage, base_overrides: dict[str, Any] | None = None) -> None:
        self.num_threads = num_threads
        self.usage = usage
        self._pool = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="skillopt")
        # The caller's dspy.context overrides (adapter, callbacks, ...), captured in the calling thread.
        self._base = dict(thread_local_overrides.get()) if base_overrides is None else dict(base_overrides)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def settings(self, lm: dspy.BaseLM | None = None, **extra: Any) -> dict[str, Any]:
        """The DSPy settings a worker runs under: caller's overrides + counters + ``lm`` + ``extra``."""
        counting = self.usage.dspy_overrides(self._base.get("usage_tracker"))
        callbacks = list(self._base.get("callbacks") or dspy.settings.get("callbacks", []) or [])
        merged = {**self._base, **extra, "usage_tracker": counting["usage_tracker"]}
        merged["callbacks"] = callbacks + counting["callbacks"]
        if lm is not None:
            merged["lm"] = lm
        return merged

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        role_name: str,
        lm: dspy.BaseLM | None = None,
        **extra: Any,
    ) -> list[R]:
        """Apply ``fn`` to every item in parallel under the run's DSPy settings; exceptions propagate."""
        overrides = self.settings(lm, **extra)

        def work(item: T) -> R:
            token = thread_local_overrides.set(dotdict({**thread_local_overrides.get(), **overrides}))
            try:
                with role(role_name):
                    return fn(item)
            finally:
                thread_local_overrides.reset(token)

        items = list(items)
        if self.num_threads == 1 or len(items) <= 1:
            return [work(item) for item in items]
        return list(self._pool.map(work, items))
