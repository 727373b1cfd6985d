"""Every DSPy signature the optimizer calls, with typed pydantic outputs (run them under ``dspy.JSONAdapter``).

The reflect prompts are written for small models too: the task and its labels, failures grouped by
confusion with contrasting solved inputs, one rule per pattern in a stated shape (a template, never a
worked example from another task), and a JSON schema that the embedded LM's constrained decoding enforces.
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


class ProposedAddition(ProposedEdit):
    """An edit to an empty skill: only ``add`` can apply (the other ops need text of the skill as target)."""

    op: Literal["add"] = Field(default="add", description="add: append a new rule under a section heading")
    target: str = Field(
        default="",
        description="the section heading to add the rule under (a short title; empty = no heading)",
        json_schema_extra={"maxLength": 80},
    )


class MergedEdit(ProposedEdit):
    """An edit produced by merging proposals; ``merged_from`` lists the numbers of the proposals it covers."""

    merged_from: list[int] = Field(default_factory=list, description="numbers of the proposals this edit merges")


class MergedAddition(ProposedAddition):
    """A merged edit to an empty skill: only ``add`` can apply."""

    merged_from: list[int] = Field(default_factory=list, description="numbers of the proposals this edit merges")


# The rule shape the prompts ask for. It is a template with placeholders, not a rule from some other task:
# a worked example from a foreign domain is text small models copy into the skill (a 0.5B and a 1.5B model
# both pasted a unit-conversion example into ticket-routing skills). guards.py drops literal copies of it.
RULE_TEMPLATE = "When <a cue you can see in the input>, <what the output must be>."

_EDIT_GUIDE = f"""
How to write edits:
- Write ONE general rule per pattern, never a rule about a single example. A rule names a concrete cue \
that can be seen in the input (a word, a phrase, a format, a value) and the output it requires, in the \
shape "{RULE_TEMPLATE}". Use the words that occur in the inputs and the exact values the output fields allow.
- Advice without a cue ("read the input carefully", "categorize it based on the type of item") and rules \
that restate the task do not help the program: do not write them.
- Rules must agree with the task's own instructions and field types shown in `task`.
- Ops: `add` appends a rule under a section heading (target = the heading's text; empty target = end of the \
skill); `replace` swaps text copied exactly from the current skill (target) for corrected text (content); \
`delete` removes text copied exactly from the skill; `insert_after` puts content on the line after target. \
When a rule of the skill caused the failures, fix it with `replace` or `delete` instead of adding a rule that \
contradicts it.
- Propose at most `edit_budget` edits, most important first. If nothing general can be learned, return no edits.
""".strip()


class ReflectFailures(dspy.Signature):
    """You improve a skill: a Markdown document of rules that a language model (the program) reads as part of
    its instructions when it does the task described in `task`. Below are examples the program got wrong
    while following the current skill, grouped by pattern: what the answer should have been, what the program
    answered, and inputs it answered correctly for contrast. For each pattern, find what the failing inputs
    have in common that the contrasting inputs lack, and write the rule that tells them apart."""

    task: str = dspy.InputField(desc="the program: each predictor's instructions and typed input/output fields")
    skill: str = dspy.InputField(desc="the current skill document (Markdown)")
    evidence: str = dspy.InputField(desc="failed examples grouped by pattern, with contrasting solved inputs")
    edit_budget: int = dspy.InputField(desc="the maximum number of edits to propose")
    rejected_edits: str = dspy.InputField(
        desc="edits tried this epoch that did not raise the score (on validation, or on the training batch they "
        "were written from; before -> after); "
        "propose one again only if the evidence calls for it, corrected"
    )
    optimizer_memory: str = dspy.InputField(desc="lessons from earlier epochs about which edits helped")
    failure_summary: str = dspy.OutputField(
        desc="for each pattern: what the failing inputs have in common that the contrasting inputs lack (the "
        "cue, in words from the inputs), and the answer that cue requires"
    )
    edits: list[ProposedEdit] = dspy.OutputField(desc="the edits, most important first")


class ReflectSuccesses(dspy.Signature):
    """You improve a skill: a Markdown document of rules that a language model (the program) reads as part of
    its instructions when it does the task described in `task`. Below are examples the program solved
    correctly. Find what decided the correct answer that the skill does not state yet, and write it down as
    general rules so the behaviour is kept. Propose nothing when the skill already covers it."""

    task: str = dspy.InputField(desc="the program: each predictor's instructions and typed input/output fields")
    skill: str = dspy.InputField(desc="the current skill document (Markdown)")
    evidence: str = dspy.InputField(desc="solved examples: inputs, the program's output, feedback")
    edit_budget: int = dspy.InputField(desc="the maximum number of edits to propose")
    rejected_edits: str = dspy.InputField(
        desc="edits tried this epoch that did not raise the score (on validation, or on the training batch they "
        "were written from; before -> after); "
        "propose one again only if the evidence calls for it, corrected"
    )
    optimizer_memory: str = dspy.InputField(desc="lessons from earlier epochs about which edits helped")
    failure_summary: str = dspy.OutputField(desc="one or two sentences naming what decided the correct answers")
    edits: list[ProposedEdit] = dspy.OutputField(desc="the edits, most important first")


for _sig in (ReflectFailures, ReflectSuccesses):
    _sig.__doc__ = f"{_sig.__doc__}\n\n{_EDIT_GUIDE}"
ReflectFailures = ReflectFailures.with_instructions(ReflectFailures.__doc__)
ReflectSuccesses = ReflectSuccesses.with_instructions(ReflectSuccesses.__doc__)


def for_empty_skill(signature: type[dspy.Signature]) -> type[dspy.Signature]:
    """``signature`` whose edits can only be ``add``: with no skill text, no other op has a target, and
    under constrained decoding the schema keeps a model from proposing ones that cannot apply."""
    item = MergedAddition if signature is AggregateEdits else ProposedAddition
    return signature.with_updated_fields("edits", type_=list[item])


class AggregateEdits(dspy.Signature):
    """You merge edit proposals for a skill document (Markdown rules a language model follows). Several
    analysts proposed the numbered edits below independently. Merge proposals that say the same thing into
    one edit, keep distinct ones, drop proposals that contradict a better-supported one, and list for every
    edit you output the numbers of the proposals it merges in `merged_from`. Do not invent new rules.
    Targets of replace/insert_after/delete must stay exact text from the current skill. When a proposal from
    failure analysis and one from success analysis conflict, keep the failure analysis's: it fixes errors."""

    task: str = dspy.InputField(desc="the program: each predictor's instructions and typed input/output fields")
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
    task: str = dspy.InputField(desc="the program: each predictor's instructions and typed input/output fields")
    comparison: str = dspy.InputField(desc="per-example outputs with the old and with the current skill")
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
