"""Small-model guards: the one place for filters that exist because small reflection models misbehave.

Measured on the embedded 0.5B and 1.5B models: they copy text from the reflection prompt into the skill
(once the worked example of another task, now possibly the rule template's placeholders) and answer with
bare fragments (a single label as a "rule"). Each guard here drops only what no capable model writes — a
literal copy of the prompt's template, or a one-word addition — so a valid edit is never lost; every drop
keeps its reason in the step's history.

Example:
    >>> from skillopt_dspy.edits import Edit
    >>> small_model_problem(Edit(op="add", content="billing"))
    'a fragment, not a rule: one word added'
    >>> small_model_problem(Edit(op="replace", target="label is FOO", content="label is BAR")) is None
    True
"""

from __future__ import annotations

import re

from skillopt_dspy.edits import Edit, squash
from skillopt_dspy.signatures import RULE_TEMPLATE

# The template's placeholders, as they appear in the prompt (a copy keeps at least one of them).
_PLACEHOLDERS = tuple(squash(p) for p in re.findall(r"<[^>]+>", RULE_TEMPLATE))


def small_model_problem(edit: Edit) -> str | None:
    """Why ``edit`` is a small model's artefact rather than a rule, or None. Pure."""
    if edit.op == "delete":
        return None
    text = squash(f"{edit.target} {edit.content}")
    if any(p in text for p in _PLACEHOLDERS):
        return "copied the prompt's rule template with its placeholders, not a rule learned from this batch"
    if edit.op in ("add", "insert_after") and len(re.findall(r"\w+", edit.content)) < 2:
        return "a fragment, not a rule: one word added"
    return None
