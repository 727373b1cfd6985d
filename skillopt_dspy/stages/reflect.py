"""Reflect: a failure analyst and a success analyst read minibatches of trajectories and propose edits.

Failures come first, in minibatches of ``minibatch_size`` run in parallel; successes get one minibatch so
what already works is written down too. A reflection call that fails (LM error, unparseable JSON) is counted
as a ``reflect_error`` fault and logged; the step goes on with the other minibatches.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import dspy

from skillopt_dspy.budget import Usage
from skillopt_dspy.edits import Edit, Patch
from skillopt_dspy.parallel import Runner
from skillopt_dspy.signatures import ReflectFailures, ReflectSuccesses
from skillopt_dspy.stages.rollout import FATAL_ERRORS, Trajectory, prediction_fields

logger = logging.getLogger(__name__)

MAX_FIELD_CHARS = 800


def _clip(value: object, limit: int = MAX_FIELD_CHARS) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more characters]"


def format_trajectories(trajectories: Sequence[Trajectory]) -> str:
    """Render trajectories for a reflection prompt: inputs, output, expected output, score and feedback."""
    blocks = []
    for i, t in enumerate(trajectories, 1):
        verdict = "FAILED" if t.failed else "PASSED"
        lines = [f"### Example {i} — {verdict} (score {t.score.soft:.2f})", "Inputs:"]
        lines += [f"  {k}: {_clip(v)}" for k, v in t.example.inputs().items()]
        if t.prediction is not None:
            lines.append("Model output:")
            lines += [f"  {k}: {_clip(v)}" for k, v in prediction_fields(t.prediction).items()]
        elif t.error:
            lines.append(f"Model output: none, the program failed ({_clip(t.error, 300)})")
        labels = t.example.labels()
        if len(labels.keys()):
            lines.append("Expected:")
            lines += [f"  {k}: {_clip(v)}" for k, v in labels.items()]
        if t.score.feedback:
            lines.append(f"Feedback: {_clip(t.score.feedback, 600)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_rejected(rejected: Sequence[Edit], limit: int = 20) -> str:
    """The most recent rejected edits, one per line, for the reflection prompt."""
    if not rejected:
        return "(none)"
    return "\n".join(f"- {e.describe()}" for e in list(rejected)[-limit:])


def minibatches(trajectories: Sequence[Trajectory], size: int, seed: int) -> list[tuple[str, list[Trajectory]]]:
    """Failures first (all of them, in chunks of ``size``), then one minibatch of successes."""
    failures = [t for t in trajectories if t.failed]
    successes = [t for t in trajectories if not t.failed]
    batches: list[tuple[str, list[Trajectory]]] = [
        ("failure", failures[i : i + size]) for i in range(0, len(failures), size)
    ]
    if successes:
        rng = random.Random(seed)
        batches.append(("success", rng.sample(successes, min(size, len(successes)))))
    return batches


def reflect(
    trajectories: Sequence[Trajectory],
    *,
    skill: str,
    edit_budget: int,
    rejected: Sequence[Edit],
    memory: str,
    lm: dspy.BaseLM,
    runner: Runner,
    minibatch_size: int,
    seed: int = 0,
    errors: list[str] | None = None,
) -> list[Patch]:
    """Propose one :class:`Patch` per minibatch (failed calls yield none and are counted in ``runner.usage``)."""
    batches = minibatches(trajectories, minibatch_size, seed)
    rejected_text = format_rejected(rejected)
    usage: Usage = runner.usage

    def one(item: tuple[str, list[Trajectory]]) -> Patch | None:
        source, batch = item
        predictor = dspy.Predict(ReflectFailures if source == "failure" else ReflectSuccesses)
        try:
            out = predictor(
                skill=skill or "(empty: no rules yet)",
                trajectories=format_trajectories(batch),
                edit_budget=edit_budget,
                rejected_edits=rejected_text,
                optimizer_memory=memory or "(none yet)",
            )
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            usage.count_fault("reflect_error")
            message = f"{source} reflection failed: {type(exc).__name__}: {_clip(exc, 300)}"
            logger.warning(message)
            if errors is not None:
                errors.append(message)
            return None
        edits = [Edit(**e.model_dump(), source=source) for e in (out.edits or [])]
        return Patch(edits=edits, reasoning=out.failure_summary or "", source=source)

    patches = runner.map(one, batches, role_name="reflection", lm=lm, adapter=dspy.JSONAdapter())
    return [p for p in patches if p is not None]
