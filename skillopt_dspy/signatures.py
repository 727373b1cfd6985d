"""Every DSPy signature the optimizer calls, with typed pydantic outputs (run them under ``dspy.JSONAdapter``).

The reflect prompts are written for small models too: one general rule per failure pattern, a worked
example, and a JSON schema that the embedded LM's constrained decoding enforces.
"""

from __future__ import annotations

from typing import Literal

import dspy
from pydantic import BaseModel, Field


class ProposedEdit(BaseModel):
    """One edit as the reflection LM writes it."""

    op: Literal["add", "insert_after", "replace", "delete"] = Field(
        description="add: append a new rule under a section heading; insert_after: put content on the line after "
        "target; replace: swap target for content; delete: remove target"
    )
    target: str = Field(
        default="",
        description="for add: the section heading to add under (empty = end of the skill); otherwise text copied "
        "exactly from the current skill",
        json_schema_extra={"maxLength": 300},
    )
    # maxLength lives only in the schema (constrained decoding stops loops); validation never rejects a long edit.
    content: str = Field(
        default="", description="the new Markdown text (empty for delete)", json_schema_extra={"maxLength": 600}
    )
    rationale: str = Field(
        default="", description="which examples this fixes and why", json_schema_extra={"maxLength": 300}
    )


class MergedEdit(ProposedEdit):
    """An edit produced by merging proposals; ``merged_from`` lists the numbers of the proposals it covers."""

    merged_from: list[int] = Field(default_factory=list, description="numbers of the proposals this edit merges")


# The worked example's domain (unit conversion) is on purpose none of the bundled tasks': a rule shown here
# must never be a rule of a task being trained. Small models copy it anyway; select drops such copies.
GUIDE_EXAMPLE_EDITS = (
    "- When a distance is given in miles, convert it to kilometres (x 1.609) and round to two decimals.",
    "- The answer for '3 miles' is 4.83.",
)

_EDIT_GUIDE = f"""
How to write edits:
- Write ONE general rule per pattern you see, never a rule about a single example. A rule names the \
condition and the required behaviour ("When the question gives a weight in pounds, answer in kilograms.").
- Prefer `add` with a section heading as target. Use `replace` or `delete` only with a target copied \
exactly from the current skill, and only to fix a rule that is wrong or to merge duplicates.
- Never repeat a rule the skill already states, and never propose an edit listed as rejected before.
- Propose at most `edit_budget` edits, most important first. If nothing general can be learned, return no edits.
- Learn from the examples below only: the worked example that follows is about another task; never copy it.

Worked example (another task). Skill: "# Rules\\n- Answer with a number only." A failure: input "How far \
is 3 miles in km?", output `3`, expected `4.83`, feedback "convert miles to kilometres, two decimals". \
Good edit: {{"op": "add", "target": "Rules", "content": "{GUIDE_EXAMPLE_EDITS[0]}", "rationale": "answers \
must be in kilometres"}}. Bad edit: content "{GUIDE_EXAMPLE_EDITS[1]}" (one example, not a rule).
""".strip()


class ReflectFailures(dspy.Signature):
    """You are the failure analyst of a skill: a Markdown document of rules that a language model follows
    when it solves a task. Below are examples where the model, following the current skill, failed, with
    its output, the expected output and feedback. Find the patterns behind the failures and propose edits
    to the skill that would make the model succeed on these and similar inputs."""

    skill: str = dspy.InputField(desc="the current skill document (Markdown)")
    trajectories: str = dspy.InputField(desc="failed examples: inputs, the model's output, expected output, feedback")
    edit_budget: int = dspy.InputField(desc="the maximum number of edits to propose")
    rejected_edits: str = dspy.InputField(desc="edits tried before that made validation worse: do not repeat them")
    optimizer_memory: str = dspy.InputField(desc="lessons from earlier epochs about which edits helped")
    failure_summary: str = dspy.OutputField(desc="one or two sentences naming the failure patterns")
    edits: list[ProposedEdit] = dspy.OutputField(desc="the edits, most important first")


class ReflectSuccesses(dspy.Signature):
    """You are the success analyst of a skill: a Markdown document of rules that a language model follows
    when it solves a task. Below are examples the model solved correctly. Find what made them succeed that
    the skill does not state yet, and propose edits that write it down as general rules, so the behaviour is
    kept. Propose nothing when the skill already covers it."""

    skill: str = dspy.InputField(desc="the current skill document (Markdown)")
    trajectories: str = dspy.InputField(desc="solved examples: inputs, the model's output, feedback")
    edit_budget: int = dspy.InputField(desc="the maximum number of edits to propose")
    rejected_edits: str = dspy.InputField(desc="edits tried before that made validation worse: do not repeat them")
    optimizer_memory: str = dspy.InputField(desc="lessons from earlier epochs about which edits helped")
    failure_summary: str = dspy.OutputField(desc="one or two sentences naming what the successes have in common")
    edits: list[ProposedEdit] = dspy.OutputField(desc="the edits, most important first")


for _sig in (ReflectFailures, ReflectSuccesses):
    _sig.__doc__ = f"{_sig.__doc__}\n\n{_EDIT_GUIDE}"
ReflectFailures = ReflectFailures.with_instructions(ReflectFailures.__doc__)
ReflectSuccesses = ReflectSuccesses.with_instructions(ReflectSuccesses.__doc__)


class AggregateEdits(dspy.Signature):
    """You merge edit proposals for a skill document (Markdown rules a language model follows). Several
    analysts proposed the numbered edits below independently. Merge proposals that say the same thing into
    one edit, keep distinct ones, drop proposals that contradict a better-supported one, and list for every
    edit you output the numbers of the proposals it merges in `merged_from`. Do not invent new rules.
    Targets of replace/insert_after/delete must stay exact text from the current skill."""

    skill: str = dspy.InputField(desc="the current skill document (Markdown)")
    proposals: str = dspy.InputField(desc="numbered proposals with their support counts")
    edit_budget: int = dspy.InputField(desc="how many edits the step will keep at most")
    optimizer_memory: str = dspy.InputField(desc="lessons from earlier epochs about which edits helped")
    edits: list[MergedEdit] = dspy.OutputField(desc="the merged edits, best supported first")


class SlowUpdate(dspy.Signature):
    """You write the longitudinal guidance of a skill: a Markdown document of rules a language model follows.
    At the end of an epoch the same training examples were run with the skill as it was at the start of the
    epoch and with the current skill. Read the comparison: regressions (solved before, failed now),
    improvements, and persistent failures (failed both times). Write short guidance, 3 to 8 bullet points,
    that states the general principles behind what improved, warns against what caused regressions, and
    addresses the persistent failures. It is added to the skill as its own section and replaces the previous
    guidance, so keep what still holds. Do not restate rules the skill already has word for word."""

    skill: str = dspy.InputField(desc="the current skill document (Markdown)")
    previous_guidance: str = dspy.InputField(desc="the guidance written at the last epoch boundary")
    comparison: str = dspy.InputField(desc="per-example results with the old and the current skill")
    optimizer_memory: str = dspy.InputField(desc="lessons from earlier epochs about which edits helped")
    guidance: str = dspy.OutputField(desc="the new guidance: 3 to 8 Markdown bullet points")


class MetaSkill(dspy.Signature):
    """You keep the memory of a skill optimizer: notes on which kinds of edits to a skill document helped and
    which hurt, so that future edit proposals are better. Read the outcomes of this epoch's edits (accepted
    ones raised the validation score, rejected ones did not) and update the notes: at most 10 bullet points
    of concrete, reusable lessons (e.g. "Rules that name the exact output label helped; vague style advice
    was rejected."). Keep lessons from the previous notes that still hold."""

    previous_notes: str = dspy.InputField(desc="the optimizer's notes so far")
    edit_outcomes: str = dspy.InputField(desc="this epoch's edits with the gate decision and score change")
    notes: str = dspy.OutputField(desc="the updated notes: at most 10 Markdown bullet points")
