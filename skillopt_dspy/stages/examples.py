"""Worked examples: training examples with their expected answers, added to a step's candidate in the
skill's protected ``worked-examples`` region.

A rule has to be written by the reflection LM; a worked example only has to be picked. A small target model
learns much from a few solved examples in its instructions (on the bundled date task, six random training
dates raised the 1.5B program from 0.433 to 0.550–0.583 on 60 validation dates, as much as the task's whole
rule book), and a small reflection model that cannot yet word the rule still gets what the batch shows in
front of the program. So each step can add up to ``worked_examples`` examples of its batch to the candidate
beside the analysts' edits; they do not count against the edit budget, and the skill holds at most
``max_worked_examples``. ``worked_examples_from="batch"`` (the default) draws them from the batch in its
random order, passes and failures alike, as a few-shot demo set is drawn; ``"failures"`` takes only its
failures, one per failure group (:func:`~skillopt_dspy.stages.evidence.failure_groups`, largest first).
On dates the failures over-represent what the 1.5B program finds hardest (relative dates it cannot work
out): on test, four a step from the batch gained +5.0 and +8.3 at seeds 0 and 1, two a step from the
failures +3.3 and −8.3, four from the failures +0 (nothing accepted). The gate
judges the candidate as a whole, so an example that does not help on validation is not kept; the batch
check leaves out the examples shown (their answers are in the candidate).

The region is the library's: the reflection LM is not shown it (:func:`without_examples`: analysts, merger
and slow update) and edits cannot change it, so rules are never written into the examples and an example
is never copied into a rule. Examples come only from the training batch, never from validation. An example whose
inputs are longer than ``EXAMPLE_INPUT_LIMIT`` characters is not shown (a cut example would teach a wrong
answer, and a long one would crowd the prompt).

Example:
    >>> import dspy
    >>> from skillopt_dspy.scoring import Score
    >>> from skillopt_dspy.stages.rollout import Trajectory
    >>> ex = dspy.Example(text="Ref 2024-03-15. On 3/4/21", date="2021-04-03").with_inputs("text")
    >>> t = Trajectory(ex, dspy.Prediction(date="2021-03-04"), Score(0.0, 0.0, "day and month swapped"))
    >>> lines = [example_line(t) for t in pick_examples([t], "", 2, 8)]
    >>> print(with_examples("- Be brief.\\n", lines))
    - Be brief.
    <BLANKLINE>
    <!-- skillopt:protected:begin worked-examples -->
    ## Worked examples
    - text: Ref 2024-03-15. On 3/4/21 → date: 2021-04-03
    <!-- skillopt:protected:end worked-examples -->
    <BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Sequence

from skillopt_dspy.skill import normalize_skill, protected_regions, read_region, write_region
from skillopt_dspy.stages.evidence import ID_FIELDS, expected_fields, failure_groups, label_fields, one_line
from skillopt_dspy.stages.rollout import Trajectory

EXAMPLES_REGION = "worked-examples"
EXAMPLES_HEADING = "## Worked examples"
EXAMPLE_SOURCES = ("batch", "failures")  # where worked_examples_from picks from
EXAMPLE_INPUT_LIMIT = 600  # characters of an example's inputs, on one line; a longer example is not shown


def example_line(t: Trajectory) -> str | None:
    """``t``'s example as one line, inputs then the expected answers, or None when its inputs are too long.

    Line breaks inside a value are shown as `` / ``; an example's id is no answer and is left out."""
    inputs = "; ".join(f"{k}: {one_line(v)}" for k, v in t.example.inputs().items())
    if not inputs or len(inputs) > EXAMPLE_INPUT_LIMIT:
        return None
    answers = "; ".join(f"{k}: {one_line(v)}" for k, v in expected_fields(t).items() if k not in ID_FIELDS)
    return f"- {inputs} → {answers}" if answers else None


def shown_examples(skill: str) -> list[str]:
    """The worked examples ``skill`` holds, one line each."""
    region = read_region(skill, EXAMPLES_REGION) or ""
    return [line for line in region.splitlines() if line.startswith("- ")]


def pick_examples(
    trajectories: Sequence[Trajectory], skill: str, per_step: int, cap: int, source: str = "batch"
) -> list[Trajectory]:
    """Up to ``per_step`` examples of ``trajectories`` to show as worked examples, and no more than ``cap``
    in the skill in all. ``source="batch"``: the batch in its (random) order, passes and failures alike, as a
    few-shot demo set is drawn. ``source="failures"``: failures only, one per failure group, the largest
    group first, then a second of each, and so on. Examples that cannot be shown (inputs too long) or are
    shown already are passed over. Pure."""
    if source not in EXAMPLE_SOURCES:
        raise ValueError(f"worked_examples_from must be one of {EXAMPLE_SOURCES}, not {source!r}")
    room = min(per_step, cap - len(shown_examples(skill)))
    if room <= 0:
        return []
    if source == "batch":
        order = list(trajectories)
    else:
        failures = [t for t in trajectories if t.failed]
        groups = sorted(
            failure_groups(failures, label_fields(trajectories)).values(), key=lambda g: -len(g)
        )  # stable: equal groups keep the batch's order
        order = [g[rank] for rank in range(max(map(len, groups), default=0)) for g in groups if rank < len(g)]
    shown = set(shown_examples(skill))
    picked: list[Trajectory] = []
    for t in order:
        line = example_line(t)
        if line is not None and line not in shown and len(picked) < room:
            picked.append(t)
            shown.add(line)
    return picked


def without_examples(skill: str) -> str:
    """``skill`` as the reflection LM is shown it: without the worked-examples region.

    The 1.5B analysts copied the examples they saw into an added "rule" (the whole region on one line under
    a heading of its own); what the examples teach, the analysts see in the evidence anyway."""
    for r in protected_regions(skill):
        if r.name == EXAMPLES_REGION:
            return normalize_skill(skill[: r.start] + skill[r.end :])
    return skill


def with_examples(skill: str, lines: Sequence[str]) -> str:
    """``skill`` with ``lines`` appended to its worked examples (the region is made when absent)."""
    if not lines:
        return skill
    body = "\n".join([EXAMPLES_HEADING, *shown_examples(skill), *lines])
    return normalize_skill(write_region(skill, EXAMPLES_REGION, body))
