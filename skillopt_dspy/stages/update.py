"""Update: apply the selected edits to the current skill; pure, one report per edit.

Example:
    >>> from skillopt_dspy.edits import Edit
    >>> update("# Rules\\n", [Edit(op="add", target="Rules", content="- Be brief.")]).text
    '# Rules\\n- Be brief.\\n'
"""

from __future__ import annotations

from collections.abc import Sequence

from skillopt_dspy.edits import ApplyResult, Edit, apply_edits
from skillopt_dspy.skill import normalize_skill


def update(skill: str, edits: Sequence[Edit]) -> ApplyResult:
    """The candidate skill: ``skill`` with ``edits`` applied in rank order (skipped edits reported)."""
    result = apply_edits(skill, list(edits))
    return ApplyResult(normalize_skill(result.text), result.reports)
