"""Select: rank the aggregated edits and keep at most this step's edit budget.

Edits that change nothing are dropped: an ``add`` / ``insert_after`` whose every line the skill already
has. So are small models' artefacts (see :mod:`skillopt_dspy.guards`: copies of the prompt's template,
one-word additions). An edit that repeats edits rejected earlier this epoch (whole, a stretch of one, or
sentences of several: :func:`skillopt_dspy.guards.repeats_rejected`) is not banned — the gate judged it
inside a candidate with other edits — but ranked after every fresh edit. The rest are ranked by support
(how many reflections proposed them); on equal support, an edit quoting a value of one example only (see
:func:`skillopt_dspy.guards.one_example_value`) after the others, then failure-sourced before success-sourced;
and clipped to the edit budget. Every dropped edit keeps its reason.

Example:
    >>> from skillopt_dspy.edits import Edit
    >>> once, thrice = "- Rule a, said once.", "- Rule b, said thrice."
    >>> edits = [Edit(op="add", content=once), Edit(op="add", content=thrice, support=3)]
    >>> [e.content for e in select(edits, edit_budget=1).selected]
    ['- Rule b, said thrice.']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skillopt_dspy.edits import Edit, squash
from skillopt_dspy.guards import one_example_value, repeats_rejected, small_model_problem

_SOURCE_RANK = {"failure": 0, "user": 0, "success": 1}
_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s*")


def _line_set(text: str) -> set[str]:
    return {squash(_MARKER.sub("", line)) for line in text.splitlines() if line.strip()}


def lint(edit: Edit, skill: str = "", *, inputs: Sequence[str] = (), task: str = "") -> str | None:
    """Why ``edit`` would change nothing or is a small model's artefact, or None. Pure."""
    problem = small_model_problem(edit, inputs=inputs, task=task)
    if problem:
        return problem
    if edit.op in ("add", "insert_after") and skill:
        lines = _line_set(edit.content)
        if lines and lines <= _line_set(skill):
            return "the skill already has every line of this text"
    return None


@dataclass(frozen=True)
class Selection:
    """The kept edits in rank order, and each dropped edit with why it was dropped."""

    selected: tuple[Edit, ...]
    dropped: tuple[tuple[Edit, str], ...]
    over_budget: int = 0  # edits that passed the guards but ranked past the edit budget


def select(
    edits: Sequence[Edit],
    *,
    edit_budget: int,
    rejected: Iterable[Edit] = (),
    skill: str = "",
    inputs: Sequence[str] = (),
    task: str = "",
    examples: Sequence[str] | None = None,
) -> Selection:
    """Rank ``edits`` and keep at most ``edit_budget``; ``rejected`` (this epoch's) ranks last. Pure.

    ``inputs`` (the step's example inputs as text) and ``task`` let the guards spot pasted text; ``examples``
    (each example's inputs and expected answers as text; default ``inputs``) are where a value of one example
    is looked for: a rule quoting one invoice's expected date is about that invoice as much as one quoting
    its input."""
    rejected = list(rejected)
    dropped: list[tuple[Edit, str]] = []
    fresh = []
    for e in edits:
        problem = lint(e, skill, inputs=inputs, task=task)
        if problem:
            dropped.append((e, problem))
        else:
            fresh.append(e)
    specific = {id(e): one_example_value(e, inputs if examples is None else examples) for e in fresh}
    tried = {id(e): repeats_rejected(e, rejected) for e in fresh}
    ranked = sorted(  # stable: ties keep the aggregate's order
        fresh,
        key=lambda e: (
            tried[id(e)],
            -e.support,
            specific[id(e)] is not None,
            _SOURCE_RANK.get(e.source, 1),
        ),
    )
    for e in ranked[edit_budget:]:
        again = " (tried earlier this epoch in a rejected candidate)" if tried[id(e)] else ""
        if specific[id(e)] is not None:
            again += f" (quotes {specific[id(e)]!r}, a value of one example: ranked after general rules)"
        dropped.append((e, "over the edit budget" + again))
    return Selection(tuple(ranked[:edit_budget]), tuple(dropped), over_budget=len(ranked[edit_budget:]))
