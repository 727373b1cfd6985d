"""One step: rollout (a train batch) → reflect → aggregate → select → update → batch check → gate (validation).

:func:`run_step` runs the stages in order on the trainer's working copy of the run state and returns the
step's record: every edit proposed, aggregated, selected or dropped (with why), applied or skipped, the gate's
decision, and the cost per stage. With ``batch_check`` a candidate is first scored on the step's own batch and
validated only if it did better there. A rejected candidate's applied edits join the rejected-edit buffer
with the scores before and after (validation, or the batch; a hint to this epoch's later reflection calls).

With ``carry_ahead`` a candidate that did better on its batch and was ahead on validation (by
:func:`~skillopt_dspy.stages.gate.estimated_delta`) without being significantly so is *carried*: it becomes
the base (``RunState.base``) the epoch's next steps roll out, reflect on and add their edits to, while every
candidate is still gated against the accepted skill. Its edits are not rejected. The base is dropped when a
candidate is accepted and at the epoch boundary; a candidate built on it that is not carried leaves it as is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from skillopt_dspy.budget import StageMeter
from skillopt_dspy.candidates import add_candidate, index_of, settle
from skillopt_dspy.edits import ApplyResult, Edit, Patch, RejectedEdit
from skillopt_dspy.guards import REJECTED_WITHHELD, echoed_rejected, repeats_rejected
from skillopt_dspy.results import StepRecord
from skillopt_dspy.schedule import edit_budget
from skillopt_dspy.scoring import gate_value
from skillopt_dspy.skill import skill_hash
from skillopt_dspy.stages.aggregate import aggregate
from skillopt_dspy.stages.evidence import ID_FIELDS
from skillopt_dspy.stages.examples import example_line, pick_examples, with_examples
from skillopt_dspy.stages.gate import GateDecision, batch_check, estimated_delta
from skillopt_dspy.stages.reflect import reflect
from skillopt_dspy.stages.rollout import answer
from skillopt_dspy.stages.select import Selection, select
from skillopt_dspy.stages.update import update

if TYPE_CHECKING:
    from skillopt_dspy.state import RunState
    from skillopt_dspy.trainer import Trainer

logger = logging.getLogger(__name__)


def _judged_before(state: RunState, text: str, base: str) -> int | None:
    """The step of a candidate with exactly ``text``, made from ``base`` and rejected; else None."""
    parent = index_of(state.candidates, base)
    for c in state.candidates:
        if c["skill"] == text and c["parent"] == parent and c["accepted"] is False:
            return c["step"] if c["step"] is not None else -1
    return None


def _fresh_candidate(
    state: RunState,
    base: str,
    edits: Sequence[Edit],
    budget: int,
    rejected: Sequence[Edit],
    inputs: Sequence[str] = (),
    examples: Sequence[str] | None = None,
    task: str = "",
    shown: Sequence[str] = (),
) -> tuple[Selection, ApplyResult, tuple[str, ...]]:
    """Select and apply to ``base``, so that the edit budget is spent on edits that apply and on a candidate not
    yet judged.

    A selected edit that cannot apply (a ``replace`` whose target is not in the skill, or is in it several
    times) is dropped with why, and the next-ranked edit takes its slot. A candidate the gate already rejected
    against this same base is not judged again: its verdict would repeat (the gate caches scores by skill),
    so the step would be spent. The edits that made it (those that repeat the rejected buffer, as select
    judges it with :func:`~skillopt_dspy.guards.repeats_rejected`, or the last-ranked one when none does) are
    dropped with the reason and the next-ranked edits take their place, until a new candidate or no edit is
    left.

    ``shown``: worked-example lines (:mod:`~skillopt_dspy.stages.examples`) added to the candidate beside the
    edits; returned as used (none when a candidate of examples alone was rejected against this base before).
    """
    excluded: dict[str, str] = {}
    while True:
        selection = select(
            [e for e in edits if e.key() not in excluded],
            edit_budget=budget,
            rejected=rejected,
            skill=base,
            inputs=inputs,
            examples=examples,
            task=task,
        )
        candidate = update(base, selection.selected)
        unapplied = [r for r in candidate.reports if not r.applied]
        if unapplied and selection.over_budget:  # give the slot of an edit that cannot apply to the next one
            for r in unapplied:
                excluded[r.edit.key()] = f"could not apply ({r.reason}" + (f": {r.detail})" if r.detail else ")")
            continue
        candidate = ApplyResult(with_examples(candidate.text, shown), candidate.reports)
        seen = _judged_before(state, candidate.text, base) if candidate.applied or shown else None
        if seen is None:
            again = tuple((e, excluded[e.key()]) for e in edits if e.key() in excluded)
            kept = Selection(selection.selected, again + selection.dropped, selection.over_budget)
            return kept, candidate, tuple(shown)
        if not candidate.applied:  # the examples alone were judged against this base before
            shown = ()
            continue
        culprits = [e for e in candidate.applied if repeats_rejected(e, rejected)] or [candidate.applied[-1]]
        for e in culprits:
            excluded[e.key()] = f"this candidate was rejected against the same skill at step {seen + 1}"


def _reject(
    state: RunState, edits: Sequence[Edit], decision: GateDecision, changed: int | None, step: int, epoch: int
) -> None:
    """``edits`` of a candidate the gate turned down join the rejected-edit buffer, with the scores before and
    after on the examples it was scored on (racing may have stopped it early; the batch check scores the
    training batch)."""
    old = decision.incumbent_score
    if decision.stopped_early and decision.candidate_score is not None and decision.delta is not None:
        old = decision.candidate_score - decision.delta
    state.rejected.extend(
        RejectedEdit(
            edit=e,
            step=step,
            epoch=epoch,
            incumbent_score=old,
            candidate_score=decision.candidate_score,
            scored_on="training batch" if decision.stage == "batch" else "validation",
            changed=changed if decision.stage == "batch" else None,
        )
        for e in edits
    )


def _carries(trainer: Trainer, state: RunState, candidate: str, decision: GateDecision) -> bool:
    """Whether a candidate the gate turned down becomes the base of the epoch's next steps (``carry_ahead``).

    Only after validation (it did better on its batch) and only when ahead: :func:`estimated_delta` over the
    examples it was scored on is above zero, so a candidate racing stopped on the incumbent's weakest examples
    does not count as ahead for having gained where only gains were possible."""
    if not trainer.s.carry_ahead or decision.accepted or decision.stage != "validation":
        return False
    known = trainer.val_cache.known(candidate)
    delta = estimated_delta(trainer.val_cache.scores(state.skill), known, trainer.gate_rule())
    return delta is not None and delta > 0


def run_step(trainer: Trainer, state: RunState, step: int, batch_size: int | None = None) -> StepRecord:
    """Run step ``step`` on ``state`` (the trainer's working copy, committed by the caller); its record.

    ``batch_size``: fewer training examples than the step's batch, when that is all the budget allows."""
    started = time.perf_counter()
    epoch = step // trainer.steps_per_epoch
    budget = edit_budget(
        step,
        trainer.total_steps,
        learning_rate=trainer.s.learning_rate,
        min_learning_rate=trainer.s.min_learning_rate,
        scheduler=trainer.s.lr_scheduler,
    )
    batch_ids = trainer._batch(step, batch_size)
    meter = StageMeter(trainer.usage)
    batch = [trainer.trainset[i] for i in batch_ids]
    base = state.base or state.skill  # the skill this step's edits are added to (a carried candidate, or the skill)
    built_on = state.candidates[index_of(state.candidates, base)]["step"] if state.base else None
    trajectories = trainer.rollout(base, batch)
    meter.lap("rollout")
    train_score = gate_value([t.score for t in trajectories], trainer.s.gate, trainer.s.mixed_weight)
    errors: list[str] = []
    memory = state.meta_skill if trainer.s.use_meta_skill else ""
    common = {
        "skill": base,
        "task": trainer.task,
        "edit_budget": budget,
        "memory": memory,
        "lm": trainer.reflection_lm,
    }
    rejected = [r for r in state.rejected if r.epoch == epoch]  # the buffer is reset each epoch
    inputs = ["\n".join(str(v) for v in ex.inputs().values()) for ex in batch]
    # Where select looks for a value of one example: its inputs and its expected answers (not its id).
    examples = [
        "\n".join([text, *(str(v) for k, v in ex.labels().items() if k not in ID_FIELDS)])
        for text, ex in zip(inputs, batch)
    ]

    # Worked examples: examples of this batch (its failures, or the batch), with their expected answers.
    picked = pick_examples(
        trajectories, base, trainer.s.worked_examples, trainer.s.max_worked_examples, trainer.s.worked_examples_from
    )
    shown = [line for line in map(example_line, picked) if line]

    def propose(note: str | None = None) -> tuple[list[Patch], Patch, Selection, ApplyResult, tuple[str, ...]]:
        patches = reflect(
            trajectories,
            rejected=rejected,
            runner=trainer.runner,
            minibatch_size=trainer.s.minibatch_size,
            contrasts=trainer.s.contrast_examples,
            samples=trainer.s.reflection_samples,
            temperature=trainer.s.reflection_temperature,
            seed=trainer.s.seed + step,
            errors=errors,
            rejected_note=note,
            **common,
        )
        meter.lap("reflect")
        merged = aggregate(patches, runner=trainer.runner, fan_in=trainer.s.aggregate_fan_in, errors=errors, **common)
        meter.lap("aggregate")
        selection, candidate, used = _fresh_candidate(
            state,
            base,
            merged.edits,
            budget,
            [r.edit for r in rejected],
            inputs=inputs,
            examples=examples,
            task=trainer.task,
            shown=shown,
        )
        meter.lap("select + update")
        return patches, merged, selection, candidate, used

    patches, merged, selection, candidate, used = propose()
    retried = ""
    proposed = [e for p in patches for e in p.edits]
    if echoed_rejected(proposed, [r.edit for r in rejected], candidate.applied):
        retried = "the proposals repeated edits rejected this epoch, nothing new: asked again with the hint withheld"
        logger.info("step %d: %s", step + 1, retried)
        first_dropped = selection.dropped
        patches, merged, selection, candidate, used = propose(REJECTED_WITHHELD)
        proposed += [e for p in patches for e in p.edits]
        selection = Selection(selection.selected, first_dropped + selection.dropped, selection.over_budget)
    decision, index, carried, batch_changed, first_check = None, None, False, None, None
    text = candidate.text  # the candidate the step judges
    if candidate.applied or used:
        if trainer.run_dir is not None:
            trainer.run_dir.save_skill(step + 1, text)
        # The batch check leaves out the examples the candidate shows with their answers.
        held = [i for i, t in enumerate(trajectories) if not (used and any(t is p for p in picked))]
        before = [trajectories[i] for i in held]

        def check(skill: str, examples_only: bool) -> tuple[GateDecision | None, int]:
            after = trainer.rollout(skill, [batch[i] for i in held])
            changed = sum(answer(a) != answer(b) for a, b in zip(before, after))
            scores = [t.score for t in before], [t.score for t in after]
            return batch_check(*scores, trainer.gate_rule(), no_worse=examples_only), changed

        if trainer.s.batch_check and held:
            decision, batch_changed = check(text, examples_only=not candidate.applied)
            alone = with_examples(base, used)
            if decision is not None and used and candidate.applied and _judged_before(state, alone, base) is None:
                # The edits beside the examples did not pass: they are rejected, and the examples judged alone
                # (a small analyst's wrong rule must not take the examples down with it).
                _reject(state, candidate.applied, decision, batch_changed, step, epoch)
                first_check = {**decision.to_dict(), "changed": batch_changed}
                logger.info("step %d: the edits with the worked examples: %s", step + 1, decision.reason)
                text = alone
                if trainer.run_dir is not None:
                    trainer.run_dir.save_skill(step + 1, text)
                decision, batch_changed = check(text, examples_only=True)
            meter.lap("batch check")
        if decision is None:  # no batch check, or the candidate did better on its batch
            index = add_candidate(state.candidates, text, source="step", epoch=epoch, step=step, parent_skill=base)
            decision = trainer.val_gate(state.skill, text)
            meter.lap("gate")
            settle(state.candidates, index, accepted=decision.accepted, metric_calls=trainer.usage.metric_calls)
        carried = _carries(trainer, state, text, decision)
        if decision.accepted:
            state.skill, state.val_score = text, decision.candidate_score
            state.base = ""
        elif carried:
            state.base = text
        elif first_check is None:
            _reject(state, candidate.applied, decision, batch_changed, step, epoch)
    record = StepRecord(
        epoch=epoch,
        step=step,
        edit_budget=budget,
        batch=tuple(batch_ids),
        train_score=train_score,
        proposed=tuple(e.model_dump() for e in proposed),
        aggregated=tuple(e.model_dump() for e in merged.edits),
        selected=tuple(e.model_dump() for e in selection.selected),
        dropped=tuple({"edit": e.model_dump(), "reason": why} for e, why in selection.dropped),
        apply_reports=tuple(r.to_dict() for r in candidate.reports),
        gate=decision.to_dict() if decision else None,
        accepted=bool(decision and decision.accepted),
        skill_hash=skill_hash(state.skill),
        val_score=state.val_score,
        errors=tuple(errors),
        usage=trainer.usage.snapshot(),
        seconds=time.perf_counter() - started,
        stages=meter.totals,
        candidate=index,
        retried=retried,
        built_on=built_on,
        carried=carried,
        batch_changed=batch_changed,
        examples=used,
        examples_alone=first_check,
    )
    if decision:
        gate_text = decision.reason
    elif not merged.edits:
        gate_text = "no candidate (no edit was proposed)"
    else:  # every edit dropped or not applicable: say the first reason (all are in the record)
        why = [w for _, w in selection.dropped] + [r.reason for r in candidate.reports if not r.applied]
        gate_text = f"no candidate ({why[0]})" if why else "no candidate (no edit could be applied)"
    logger.info(
        "step %d/%d (epoch %d): train %.3f | proposed %d, selected %d, applied %d%s | %s | %s",
        step + 1,
        trainer.total_steps,
        epoch + 1,
        train_score,
        len(record.proposed),
        len(record.selected),
        len(candidate.applied),
        f", {len(used)} worked example{'s' if len(used) != 1 else ''}" if used else "",
        "ACCEPTED" if record.accepted else "carried" if carried else "rejected" if decision else "skipped",
        gate_text + ("; ahead, so the epoch's next steps build on it" if carried else ""),
    )
    return record
