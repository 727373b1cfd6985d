"""Reflect: a failure analyst and a success analyst read minibatches of trajectories and propose edits.

Every call sees the task (each predictor's instructions and typed fields, see :mod:`skillopt_dspy.task`),
the current skill, the evidence (see :mod:`skillopt_dspy.stages.evidence`: failures grouped by confusion
with contrasting solved inputs, every predictor's step, fitted to the reflection LM's context), this
epoch's rejected edits with their scores, and the optimizer's memory. Failures are analysed in minibatches
of ``minibatch_size`` that keep each confusion group together; successes in minibatches too, all of them,
so what already works is written down. ``ceil(failures / size) + ceil(successes / size)`` calls in
parallel. With ``samples`` > 1 each failure minibatch is analysed that many times: the first analysis at the
reflection LM's own settings (greedy on the embedded LM), the others sampled at ``temperature``, each with a
seed of its own; every analysis is its own patch, so a rule that several analyses write is counted with the
support of each (see :mod:`skillopt_dspy.stages.aggregate`). A call that fails (LM error, unparseable JSON) is
counted as a ``reflect_error`` fault and logged; the step goes on with the other minibatches.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import dspy

from skillopt_dspy.budget import Usage
from skillopt_dspy.edits import Edit, Patch, RejectedEdit
from skillopt_dspy.guards import repaired_fields
from skillopt_dspy.lm.adapter import json_adapter
from skillopt_dspy.parallel import Runner
from skillopt_dspy.signatures import ReflectFailures, ReflectSuccesses, for_empty_skill
from skillopt_dspy.skill import protected_regions
from skillopt_dspy.stages.evidence import (
    evidence_budget,
    failure_evidence,
    failure_minibatches,
    label_fields,
    success_evidence,
)
from skillopt_dspy.stages.examples import without_examples
from skillopt_dspy.stages.rollout import FATAL_ERRORS, Trajectory

logger = logging.getLogger(__name__)

REJECTED_SHOWN = 20  # the most recent rejected edits shown to the analysts


def format_rejected(rejected: Sequence[RejectedEdit], limit: int = REJECTED_SHOWN) -> str:
    """The most recent rejected edits with their validation scores, one per line, for the reflection prompt.

    Example:
        >>> edit = Edit(op="add", content="- Be terse.")
        >>> format_rejected([RejectedEdit(edit=edit, step=2, incumbent_score=0.5, candidate_score=0.4)])
        '- add at the end: "- Be terse." [step 3: validation fell 0.500 -> 0.400]'
    """
    if not rejected:
        return "(none)"
    return "\n".join(r.describe() for r in list(rejected)[-limit:])


def editable_text(skill: str) -> str:
    """The skill's text that edits may target: everything outside its protected regions.

    Example:
        >>> editable_text("<!-- skillopt:protected:begin g -->\\n- x\\n<!-- skillopt:protected:end g -->\\n")
        ''
    """
    parts, at = [], 0
    for r in protected_regions(skill):
        parts.append(skill[at : r.start])
        at = r.end
    return ("".join(parts) + skill[at:]).strip()


def minibatches(
    trajectories: Sequence[Trajectory], size: int, seed: int, labels: set[str] | None = None
) -> list[tuple[str, list[Trajectory]]]:
    """Failures first (confusion groups kept together, in chunks of ``size``), then every success in chunks.

    ``labels``: the label fields of ``trajectories`` (see :func:`label_fields`), computed when not given."""
    if labels is None:
        labels = label_fields(trajectories)
    failures = [t for t in trajectories if t.failed]
    successes = [t for t in trajectories if not t.failed]
    random.Random(seed).shuffle(successes)
    batches = [("failure", b) for b in failure_minibatches(failures, size, labels)]
    return batches + [("success", successes[i : i + size]) for i in range(0, len(successes), size)]


def reflect(
    trajectories: Sequence[Trajectory],
    *,
    skill: str,
    task: str,
    edit_budget: int,
    rejected: Sequence[RejectedEdit],
    memory: str,
    lm: dspy.BaseLM,
    runner: Runner,
    minibatch_size: int,
    contrasts: int = 0,
    seed: int = 0,
    errors: list[str] | None = None,
    rejected_note: str | None = None,
    samples: int = 1,
    temperature: float = 0.8,
) -> list[Patch]:
    """Propose one :class:`Patch` per analysis (failed calls yield none and are counted in ``runner.usage``).

    ``rejected_note``: shown instead of ``rejected`` (see :func:`skillopt_dspy.guards.echoed_rejected`).
    ``samples``: analyses of each failure minibatch; the ones after the first are sampled at ``temperature``
    (see :func:`sampling_config`). Successes are analysed once: they write down what already works, while the
    failures are where differently worded fixes are worth trying.

    Example:
        >>> patches = reflect(trajs, skill="", task=describe_task(program), edit_budget=4, rejected=[],
        ...                   memory="", lm=lm, runner=runner, minibatch_size=8)  # doctest: +SKIP
    """
    labels = label_fields(trajectories)
    batches = minibatches(trajectories, minibatch_size, seed, labels)
    successes = [t for t in trajectories if not t.failed]
    common = {
        "task": task or "(not described)",
        "skill": without_examples(skill) or "(empty: no rules yet)",
        "edit_budget": edit_budget,
        "rejected_edits": format_rejected(rejected) if rejected_note is None else rejected_note,
        "optimizer_memory": memory or "(none yet)",
    }
    fixed = "\n".join(str(v) for v in common.values()) + (ReflectFailures.instructions or "")
    budget = evidence_budget(lm, fixed)
    usage: Usage = runner.usage
    signatures = {"failure": ReflectFailures, "success": ReflectSuccesses}
    if not editable_text(skill):
        signatures = {k: for_empty_skill(v) for k, v in signatures.items()}

    def one(item: tuple[str, list[Trajectory], int]) -> Patch | None:
        source, batch, sample = item
        failed = source == "failure"
        evidence = (
            failure_evidence(batch, successes, budget, contrasts=contrasts, labels=labels)
            if failed
            else success_evidence(batch, budget)
        )
        try:
            config = sampling_config(lm, sample, seed=seed, samples=samples, temperature=temperature)
            out = dspy.Predict(signatures[source])(evidence=evidence, config=config, **common)
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            usage.count_fault("reflect_error")
            message = f"{source} reflection failed: {type(exc).__name__}: {str(exc)[:300]}"
            logger.warning(message)
            if errors is not None:
                errors.append(message)
            return None
        edits = [Edit(**repaired_fields(e.model_dump(), skill), source=source) for e in (out.edits or [])]
        return Patch(edits=edits, reasoning=out.failure_summary or "", source=source)

    # A minibatch's analyses run one after another: on the embedded LM they share the whole prompt (cached prefix).
    items = [(source, batch, k) for source, batch in batches for k in range(samples if source == "failure" else 1)]
    patches = runner.map(one, items, role_name="reflection", lm=lm, adapter=json_adapter(lm))
    return [p for p in patches if p is not None]


def sampling_config(lm: dspy.BaseLM, sample: int, *, seed: int, samples: int, temperature: float) -> dict:
    """The per-call LM settings of analysis ``sample`` (0-based) of a minibatch: none for the first, which runs
    at the LM's own settings; for the others ``temperature`` and a ``rollout_id`` (and a ``seed``, where the LM
    takes one) that differ per sample and step, so neither DSPy's cache nor the embedded LM's fixed default
    seed hands back an earlier analysis. Pure.

    Example:
        >>> from skillopt_dspy.testing import fake_lm
        >>> sampling_config(fake_lm(lambda call: {}), 0, seed=5, samples=3, temperature=0.8)
        {}
        >>> sampling_config(fake_lm(lambda call: {}), 2, seed=5, samples=3, temperature=0.7)
        {'temperature': 0.7, 'rollout_id': 17}
    """
    if sample == 0:
        return {}
    rollout = seed * samples + sample
    config: dict = {"temperature": temperature, "rollout_id": rollout}
    if "seed" in getattr(lm, "supported_params", ()):
        config["seed"] = rollout
    return config
