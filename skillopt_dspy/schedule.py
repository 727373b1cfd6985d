"""Edit-budget schedules: the "learning rate" is the most edits one step may apply.

Example:
    >>> [edit_budget(t, 5, learning_rate=8, min_learning_rate=2, scheduler="linear") for t in range(5)]
    [8, 6, 5, 4, 2]
"""

from __future__ import annotations

import math

SCHEDULERS: tuple[str, ...] = ("constant", "linear", "cosine")


def edit_budget(
    step: int, total_steps: int, *, learning_rate: int, min_learning_rate: int = 1, scheduler: str = "constant"
) -> int:
    """The edit budget of step ``step`` (0-based) out of ``total_steps``; always at least 1.

    ``constant`` keeps ``learning_rate``; ``linear`` and ``cosine`` decay from ``learning_rate`` at the first
    step to ``min_learning_rate`` at the last.
    """
    if scheduler not in SCHEDULERS:
        raise ValueError(f"lr_scheduler must be one of {SCHEDULERS}, got {scheduler!r}")
    if scheduler == "constant" or total_steps <= 1:
        return max(1, learning_rate)
    progress = min(max(step, 0), total_steps - 1) / (total_steps - 1)
    low = min(min_learning_rate, learning_rate)
    if scheduler == "linear":
        value = learning_rate - (learning_rate - low) * progress
    else:
        value = low + (learning_rate - low) * (1 + math.cos(math.pi * progress)) / 2
    return max(1, round(value))
