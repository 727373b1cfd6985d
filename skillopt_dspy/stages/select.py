"""Select: rank the aggregated edits and keep at most this step's edit budget.

Edits identical to a previously rejected one are dropped first (rejected edits are not proposed again),
and so are edits that cannot be a rule: new text of fewer than ``MIN_RULE_WORDS`` words (small reflection
models often answer with a bare label), text the skill already contains, and copies of the reflection
prompt's worked example (small models copy it verbatim into any task). The rest are ranked by
support (how many reflections proposed them), failure-sourced before success-sourced on equal support,
and clipped to the edit budget. Every dropped edit keeps its reason.

Example:
    >>> from skillopt_dspy.edits import Edit
    >>> once, thrice = "- Rule a, said once.", "- Rule b, said thrice."
    >>> edits = [Edit(op="add", content=once), Edit(op="add", content=thrice, support=3)]
    >>> [e.content for e in select(edits, edit_budget=1).selected]
    ['- Rule b, said thrice.']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skillopt_dspy.edits import Edit, squash
from skillopt_dspy.signatures import GUIDE_EXAMPLE_EDITS

_SOURCE_RANK = {"failure": 0, "user": 0, "success": 1}
MIN_RULE_WORDS = 4


def _words(text: str) -> str:
    return squash(text.replace("`", "").lstrip("-* "))


_GUIDE_TEXTS = tuple(_words(t) for t in GUIDE_EXAMPLE_EDITS)


def lint(edit: Edit, skill: str = "") -> str | None:
    """Why ``edit`` cannot be a useful rule, or None. Pure."""
    if edit.op == "delete":
        return None
    for text in (_words(edit.content), _words(edit.target)):
        if len(text.split()) >= MIN_RULE_WORDS and any(g in text or text in g for g in _GUIDE_TEXTS):
            return "copied from the reflection prompt's worked example, not learned from this batch"
    if len(edit.content.split()) < MIN_RULE_WORDS:
        return f"not a rule: fewer than {MIN_RULE_WORDS} words"
    if skill and squash(edit.content) in squash(skill):
        return "the skill already says this"
    return None


@dataclass(frozen=True)
class Selection:
    """The kept edits in rank order, and each dropped edit with why it was dropped."""

    selected: tuple[Edit, ...]
    dropped: tuple[tuple[Edit, str], ...]


def select(edits: Sequence[Edit], *, edit_budget: int, rejected: Iterable[Edit] = (), skill: str = "") -> Selection:
    """Rank ``edits`` and keep at most ``edit_budget``; pure."""
    rejected_keys = {e.key() for e in rejected}
    dropped: list[tuple[Edit, str]] = []
    fresh = []
    for e in edits:
        problem = "previously rejected" if e.key() in rejected_keys else lint(e, skill)
        if problem:
            dropped.append((e, problem))
        else:
            fresh.append(e)
    ranked = sorted(fresh, key=lambda e: (-e.support, _SOURCE_RANK.get(e.source, 1)))  # stable: ties keep order
    dropped += [(e, "over the edit budget") for e in ranked[edit_budget:]]
    return Selection(tuple(ranked[:edit_budget]), tuple(dropped))
