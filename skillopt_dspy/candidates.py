"""Every candidate skill of a run, in the order it was validated, and GEPA-shaped result fields from them.

The run state keeps one entry per validated skill: the initial skill (index 0), each step's candidate and
each slow-update candidate, with the index of the skill it was made from (its parent), where it came from,
whether the gate accepted it, and the metric calls made by the time it was judged. Scores are not copied
here: they live in the validation cache (by skill hash), which a racing gate may leave partial for a loser.

Example:
    >>> from skillopt_dspy.scoring import Score
    >>> from skillopt_dspy.skill import skill_hash
    >>> cands: list = []
    >>> add_candidate(cands, "", source="initial", parent_skill=None)
    0
    >>> i = add_candidate(cands, "- Rule.", source="step", epoch=0, step=0, parent_skill="")
    >>> settle(cands, i, accepted=True, metric_calls=12)
    >>> scores = {skill_hash(""): [Score(0, 0)], skill_hash("- Rule."): [Score(1, 1)]}
    >>> gepa_fields(cands, scores, mode="hard")["val_aggregate_scores"]
    (0.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skillopt_dspy.scoring import Score, gate_value
from skillopt_dspy.skill import skill_hash


def index_of(candidates: Sequence[dict[str, Any]], skill: str) -> int | None:
    """The index of the latest candidate with this exact text, or None."""
    for i in range(len(candidates) - 1, -1, -1):
        if candidates[i]["skill"] == skill:
            return i
    return None


def add_candidate(
    candidates: list[dict[str, Any]],
    skill: str,
    *,
    source: str,
    parent_skill: str | None,
    epoch: int | None = None,
    step: int | None = None,
) -> int:
    """Append a candidate about to be validated (``source``: initial, step or slow_update); its index."""
    parent = None if parent_skill is None else index_of(candidates, parent_skill)
    candidates.append(
        {
            "skill": skill,
            "parent": parent,
            "source": source,
            "epoch": epoch,
            "step": step,
            "accepted": source == "initial" or None,
            "metric_calls": None,
        }
    )
    return len(candidates) - 1


def settle(candidates: list[dict[str, Any]], index: int, *, accepted: bool, metric_calls: int) -> None:
    """Record the gate's verdict on candidate ``index`` and the run's metric calls at that moment."""
    candidates[index]["accepted"] = accepted
    candidates[index]["metric_calls"] = metric_calls


def gepa_fields(
    candidates: Sequence[dict[str, Any]],
    val_scores: Mapping[str, Sequence[Score | None]],
    *,
    mode: str,
    mixed_weight: float = 0.5,
) -> dict[str, Any]:
    """The ``SkillOptResult`` fields named as in GEPA: texts, parents, aggregate and per-example scores.

    Per-example scores are the gate's measure of each example (hard, soft or mixed), in valset order; a
    candidate stopped early by a racing gate has fewer than the valset. Its aggregate is their mean.
    """
    subscores = []
    for c in candidates:
        scores = val_scores.get(skill_hash(c["skill"]), [])
        subscores.append(tuple(gate_value([s], mode, mixed_weight) for s in scores if s is not None))
    return {
        "candidates": tuple(c["skill"] for c in candidates),
        "parents": tuple((c["parent"],) for c in candidates),
        "val_subscores": tuple(subscores),
        "val_aggregate_scores": tuple(sum(s) / len(s) if s else 0.0 for s in subscores),
        "discovery_eval_counts": tuple(int(c["metric_calls"] or 0) for c in candidates),
        "candidate_info": tuple({k: c[k] for k in ("source", "epoch", "step", "accepted")} for c in candidates),
    }
