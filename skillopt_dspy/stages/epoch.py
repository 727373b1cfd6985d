"""Epoch boundary: the slow update and the meta-skill.

Slow update: the skill the epoch started with and the current skill are rolled out on the same sample of
training examples; the reflection LM reads the comparison (regressions, improvements, persistent
failures) and writes longitudinal guidance into the skill's protected ``slow-update`` region, which
step-level edits can never change. The guided skill is a candidate like any other and must pass the
validation gate: guidance is written by the same fallible reflection model, and only a gate keeps the
skill's validation score monotone, so the returned skill is always the best one seen.

Meta-skill: the optimizer's own memory, distilled from which edits were accepted or rejected this epoch
and by how much. It is shown to Reflect and Aggregate, never to the target program.
"""

from __future__ import annotations

import logging
import random
import re
from typing import TYPE_CHECKING

import dspy

from skillopt_dspy.budget import StageMeter
from skillopt_dspy.candidates import add_candidate, settle
from skillopt_dspy.edits import squash
from skillopt_dspy.guards import pasted_from
from skillopt_dspy.results import EpochRecord, StepRecord
from skillopt_dspy.signatures import MetaSkill, SlowUpdate
from skillopt_dspy.skill import (
    MARKER_PREFIX,
    SLOW_UPDATE_REGION,
    normalize_skill,
    read_region,
    skill_hash,
    write_region,
)
from skillopt_dspy.stages.evidence import clip_middle, evidence_budget, example_line
from skillopt_dspy.stages.examples import without_examples
from skillopt_dspy.stages.rollout import FATAL_ERRORS, Trajectory, prediction_fields

if TYPE_CHECKING:
    from skillopt_dspy.state import RunState
    from skillopt_dspy.trainer import Trainer

logger = logging.getLogger(__name__)


def _ask(trainer: Trainer, signature: type[dspy.Signature], output: str, fault: str, **inputs: str) -> str:
    """One reflection-LM call; a failure is counted as ``fault``, logged, and raised as ``RuntimeError``."""

    def call(_: None) -> str:
        return getattr(dspy.Predict(signature)(**inputs), output)

    try:
        (answer,) = trainer.runner.map(call, [None], role_name="reflection", lm=trainer.reflection_lm)
    except FATAL_ERRORS:
        raise
    except Exception as exc:
        trainer.usage.count_fault(fault)
        message = f"{type(exc).__name__}: {str(exc)[:300]}"
        logger.warning("%s: %s", fault.replace("_", " "), message)
        raise RuntimeError(message) from exc
    return (answer or "").strip()


def _outputs(t: Trajectory, limit: int) -> str:
    if t.prediction is None:
        return f"none, the program failed ({clip_middle(t.error or '', limit)})"
    return "; ".join(f"{k}: {clip_middle(str(v), limit)}" for k, v in prediction_fields(t.prediction).items())


def compare(
    before: list[Trajectory], after: list[Trajectory], *, budget_chars: int = 24_000
) -> tuple[str, dict[str, int]]:
    """Pair the two rollouts example by example: the prompt text (inputs, the old output, the current
    output, the expected output, feedback; fitted to ``budget_chars``) and the counts per category."""
    counts = {"regressions": 0, "improvements": 0, "persistent_failures": 0, "stable_successes": 0}
    shown: list[tuple[int, str, Trajectory, Trajectory]] = []
    for i, (old, new) in enumerate(zip(before, after), 1):
        if old.failed and new.failed:
            kind = "persistent_failures"
        elif old.failed:
            kind = "improvements"
        elif new.failed:
            kind = "regressions"
        else:
            kind = "stable_successes"
        counts[kind] += 1
        if kind != "stable_successes":
            shown.append((i, kind, old, new))

    def render(limit: int) -> str:
        lines = []
        for i, kind, old, new in shown:
            title = kind.replace("_", " ").rstrip("s").upper()
            labels = "; ".join(f"{k}: {clip_middle(str(v), limit)}" for k, v in new.example.labels().items())
            lines.append(
                f"[{i}] {title} (old {old.score.soft:.2f} -> now {new.score.soft:.2f})\n"
                f"  inputs: {example_line(new.example, limit)}\n"
                f"  old output: {_outputs(old, limit)}\n  now output: {_outputs(new, limit)}\n"
                f"  expected: {labels}\n  feedback: {clip_middle(new.score.feedback, max(limit, 400))}"
            )
        return "\n\n".join(lines)

    limit, body = 20_000, render(20_000)
    while len(body) > budget_chars and limit > 80:
        limit //= 2
        body = render(limit)
    header = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
    return header + "\n\n" + (body or "(no differences and no failures)"), counts


# A stretch this long of one line of the comparison, inside a guidance line, is that line copied.
GUIDANCE_PASTE_CHARS = 60


def _line_core(text: str) -> str:
    """A line without its list marker (``[1]``, ``1.``, ``-``), in :func:`squash` form."""
    return squash(re.sub(r"^\s*(?:\[\d+\]|\d+[.)]|[-*])\s*", "", text))


def drop_copied_lines(guidance: str, comparison: str) -> tuple[str, int]:
    """``guidance`` without the lines that copy the comparison it was given; and how many were dropped.

    Small reflection models echo their input (an example's text, its expected label) instead of writing
    guidance; copied training examples are memorization, not guidance, so they never reach the skill. A line
    is a copy when it is a line of the comparison, or holds :data:`GUIDANCE_PASTE_CHARS` characters of one
    behind a label of its own (the 1.5B model, on dates: "- **Persistent Failure (old 0.00 -> now 0.00)**:
    Expected 1939-03-02 but got 2025-03-14. ...", one example's feedback word for word).
    """
    lines = [_line_core(line) for line in comparison.splitlines()]
    source = "\n".join(lines)
    kept, dropped = [], 0
    for line in guidance.splitlines():
        core = _line_core(line)
        if (len(core) >= 12 and core in source) or pasted_from(core, lines, GUIDANCE_PASTE_CHARS) is not None:
            dropped += 1
        else:
            kept.append(line)
    return "\n".join(kept).strip(), dropped


def slow_update(trainer: Trainer, state: RunState, epoch: int) -> dict:
    """Write guidance into the protected region and gate it; returns the record of what happened."""
    n = min(trainer.s.slow_update_samples, len(trainer.trainset))
    ids = sorted(random.Random(trainer.s.seed * 7919 + epoch).sample(range(len(trainer.trainset)), n))
    sample = [trainer.trainset[i] for i in ids]
    before = trainer.rollout(state.epoch_start_skill, sample)
    after = trainer.rollout(state.skill, sample)
    fixed = state.skill + trainer.task + state.meta_skill
    comparison, counts = compare(before, after, budget_chars=evidence_budget(trainer.reflection_lm, fixed))
    previous = read_region(state.skill, SLOW_UPDATE_REGION) or ""
    record: dict = {"samples": ids, **counts, "previous_guidance": previous}

    try:
        guidance = _ask(
            trainer,
            SlowUpdate,
            "guidance",
            "slow_update_error",
            skill=without_examples(state.skill),
            previous_guidance=previous or "(none yet)",
            task=trainer.task,
            comparison=comparison,
            optimizer_memory=state.meta_skill if trainer.s.use_meta_skill else "(none yet)",
        )
    except RuntimeError as exc:
        return {**record, "error": str(exc), "accepted": False}
    guidance, copied = drop_copied_lines(guidance.replace(MARKER_PREFIX, "").strip(), comparison)
    record["guidance"], record["copied_lines_dropped"] = guidance, copied
    if copied:
        logger.info("slow update (epoch %d): dropped %d line(s) copied from the comparison", epoch + 1, copied)
    if len(guidance.split()) < 4:  # nothing, or a fragment: no rule to gate
        return {**record, "accepted": False, "gate": None}
    candidate = normalize_skill(write_region(state.skill, SLOW_UPDATE_REGION, guidance))
    if candidate == state.skill:
        return {**record, "accepted": False, "gate": None}
    if trainer.run_dir is not None:
        trainer.run_dir.save_skill(state.next_step, candidate)
    index = add_candidate(state.candidates, candidate, source="slow_update", epoch=epoch, parent_skill=state.skill)
    decision = trainer.val_gate(state.skill, candidate)  # the steps' gate: same test, same racing
    settle(state.candidates, index, accepted=decision.accepted, metric_calls=trainer.usage.metric_calls)
    if decision.accepted:
        state.skill, state.val_score = candidate, decision.candidate_score
    logger.info("slow update (epoch %d): %s", epoch + 1, decision.reason)
    return {**record, "accepted": decision.accepted, "gate": decision.to_dict(), "candidate": index}


def describe_outcomes(steps: list[StepRecord]) -> str:
    """This epoch's applied edits with their gate decisions, for the meta-skill prompt."""
    lines = []
    for s in steps:
        if not s.gate:
            continue
        delta = s.gate.get("delta")  # on the examples the candidate was scored on (racing may stop early)
        if delta is None:
            delta = (s.gate["candidate_score"] or 0.0) - s.gate["incumbent_score"]
        verdict = "ACCEPTED" if s.accepted else "CARRIED (ahead, not significant)" if s.carried else "REJECTED"
        first = s.examples_alone  # the edits fell with the examples on the batch; the examples went on alone
        head = judged = f"{verdict} ({delta:+.3f})"
        if first:
            head = f"REJECTED on the batch ({(first['candidate_score'] or 0.0) - first['incumbent_score']:+.3f})"
        for e in s.applied:
            content = " ".join(str(e.get("content", "")).split())[:200]
            lines.append(f"- {head} {e['op']} {e.get('target', '')!r}: {content}")
        if s.examples:  # judged with the edits above: a verdict is theirs together
            n = len(s.examples)
            alone = " alone" if first else ""
            lines.append(f"- {judged} {n} worked example{'s' if n > 1 else ''} of the batch{alone}")
    return "\n".join(lines)


def update_meta_skill(trainer: Trainer, state: RunState, steps: list[StepRecord]) -> str | None:
    """Distill this epoch's edit outcomes into the optimizer's notes; None when nothing changed."""
    outcomes = describe_outcomes(steps)
    if not outcomes:
        return None

    try:
        notes = _ask(
            trainer,
            MetaSkill,
            "notes",
            "meta_skill_error",
            previous_notes=state.meta_skill or "(none yet)",
            edit_outcomes=outcomes,
        )
    except RuntimeError:
        return None
    return notes or None


def end_epoch(trainer: Trainer, state: RunState, epoch: int, steps: list[StepRecord]) -> EpochRecord:
    """Close ``epoch``: slow update, meta-skill, then remember the skill the next epoch starts from."""
    meter = StageMeter(trainer.usage)
    slow = None
    if trainer.s.use_slow_update:
        slow = slow_update(trainer, state, epoch)
        meter.lap("slow_update")
    if trainer.s.use_meta_skill:
        notes = update_meta_skill(trainer, state, steps)
        if notes is not None:
            state.meta_skill = notes  # meta_skill.md is written with the state, when the boundary is committed
        meter.lap("meta_skill")
    state.epochs_done = epoch + 1
    state.epoch_start_skill = state.skill
    state.base = ""  # a carried candidate is built on within its epoch only
    return EpochRecord(
        epoch=epoch,
        val_score=state.val_score,
        skill_hash=skill_hash(state.skill),
        slow_update=slow,
        meta_skill=state.meta_skill,
        usage=trainer.usage.snapshot(),
        stages=meter.totals,
    )
