"""Select: rank the aggregated edits and keep at most this step's edit budget.

Edits identical to a previously rejected one are dropped first (rejected edits are not proposed again).
The rest are ranked by support (how many reflections proposed them), failure-sourced before
success-sourced on equal support, and clipped to the edit budget. Every dropped edit keeps its reason.

Example:
    >>> from skillopt_dspy.edits import Edit
    >>> picked = select([Edit(op="add", content="a"), Edit(op="add", content="b", support=3)], edit_budget=1)
    >>> [e.content for e in picked.selected]
    ['b']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skillopt_dspy.edits import Edit

_SOURCE_RANK = {"failure": 0, "user": 0, "success": 1}


@dataclass(frozen=True)
class Selection:
    """The kept edits in rank order, and each dropped edit with why it was dropped."""

    selected: tuple[Edit, ...]
    dropped: tuple[tuple[Edit, str], ...]


def select(edits: Sequence[Edit], *, edit_budget: int, rejected: Iterable[Edit] = ()) -> Selection:
    """Rank ``edits`` and keep at most ``edit_budget``; pure."""
    rejected_keys = {e.key() for e in rejected}
    dropped: list[tuple[Edit, str]] = []
    fresh = []
    for e in edits:
        if e.key() in rejected_keys:
            dropped.append((e, "previously rejected"))
        else:
            fresh.append(e)
    ranked = sorted(fresh, key=lambda e: (-e.support, _SOURCE_RANK.get(e.source, 1)))  # stable: ties keep order
    dropped += [(e, "over the edit budget") for e in ranked[edit_budget:]]
    return Selection(tuple(ranked[:edit_budget]), tuple(dropped))
