"""Gate: accept a candidate skill only if its validation score strictly beats the current skill's.

:func:`decide` is a pure decision on two lists of scores (unrounded means; ties are rejected).
:class:`ValidationCache` memoizes validation scores by skill hash, so the incumbent is never re-evaluated
and a candidate identical to an earlier one costs no LM call.

Example:
    >>> from skillopt_dspy.scoring import Score
    >>> decide([Score(1, 1), Score(0, 0)], [Score(1, 1), Score(1, 1)], mode="hard").accepted
    True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from skillopt_dspy.scoring import Score, gate_value
from skillopt_dspy.skill import skill_hash


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate was accepted, both aggregate scores, the mode, and a one-line reason."""

    accepted: bool
    incumbent_score: float
    candidate_score: float | None
    mode: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def decide(
    incumbent: Sequence[Score], candidate: Sequence[Score], *, mode: str, mixed_weight: float = 0.5
) -> GateDecision:
    """Accept iff the candidate's gate value is strictly greater than the incumbent's."""
    old = gate_value(incumbent, mode, mixed_weight)
    new = gate_value(candidate, mode, mixed_weight)
    if new > old:
        return GateDecision(True, old, new, mode, f"{mode} validation score rose {old:.4f} -> {new:.4f}")
    verb = "tied" if new == old else "fell"
    return GateDecision(False, old, new, mode, f"{mode} validation score {verb} {old:.4f} -> {new:.4f}")


class ValidationCache:
    """Validation scores per skill hash; ``evaluate`` runs the rollout only for skills not seen before."""

    def __init__(self, evaluate: Callable[[str], list[Score]]) -> None:
        self._evaluate = evaluate
        self._scores: dict[str, list[Score]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def __contains__(self, skill: str) -> bool:
        return skill_hash(skill) in self._scores

    def scores(self, skill: str) -> list[Score]:
        key = skill_hash(skill)
        with self._lock:
            if key in self._scores:
                self.hits += 1
                return self._scores[key]
        result = self._evaluate(skill)
        with self._lock:
            self._scores[key] = result
        return result

    def seed(self, skill: str, scores: list[Score]) -> None:
        """Record known scores (e.g. restored from a checkpoint)."""
        with self._lock:
            self._scores[skill_hash(skill)] = list(scores)

    def items(self) -> dict[str, list[Score]]:
        with self._lock:
            return dict(self._scores)
