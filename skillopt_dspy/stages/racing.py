"""Racing: score a candidate on the valset chunk by chunk and stop once it can no longer win.

The incumbent's scores on every validation example are known (it was scored in full when it was
accepted). A candidate is scored ``chunk_size`` examples at a time (as many as run in parallel), in a
fixed, seeded order of the valset with the incumbent's weakest examples first (see
:meth:`RacingGate.candidate_order`). After each chunk :func:`~skillopt_dspy.stages.gate.cannot_win` asks
whether the candidate would still lose if it got the best possible score on every example left; if so
it is rejected there. The bound is exact, so racing never changes a decision, under either test; it
only saves the calls a loser would have spent. A candidate that passes the gate is always scored in
full: it becomes the incumbent, whose every score the next candidate is compared with.

The bound needs scores with known limits: hard 0/1, soft within the metric's range (``GateRule.low`` /
``high``, [0, 1] unless told otherwise). The first score outside them turns racing off for the rest of
the run, with a warning.

Example:
    >>> order = validation_order(40, seed=0)
    >>> gate = RacingGate(cache, GateRule(mode="hard"), order=order, chunk_size=8)  # doctest: +SKIP
    >>> gate(incumbent_skill, candidate_skill).stopped_early  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from skillopt_dspy.scoring import Score, gate_value
from skillopt_dspy.skill import skill_hash
from skillopt_dspy.stages.gate import GateDecision, GateRule, ValidationCache, cannot_win, decide
from skillopt_dspy.stages.rollout import TooManyErrorsError, rollout
from skillopt_dspy.state import example_key

if TYPE_CHECKING:
    from skillopt_dspy.trainer import Trainer

logger = logging.getLogger(__name__)


def validation_order(size: int, *, seed: int) -> list[int]:
    """The fixed order racing scores the valset in: a permutation of ``range(size)`` seeded by ``seed``.

    Example:
        >>> sorted(validation_order(5, seed=3)) == list(range(5))
        True
    """
    order = list(range(size))
    random.Random(seed * 1_000_003 + 7).shuffle(order)
    return order


class ValidationRollout:
    """``evaluate(skill, indices)`` for a run's :class:`ValidationCache`: one chunk of the valset rolled out.

    For the run's error limit a candidate's chunks together are one evaluation, as if it had been scored in
    one go: its program errors add up over the chunks. When they turn out systematic, every failed example
    of that candidate is forgotten (cache and ``evals.jsonl``) so that a rerun scores them again.
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self._errors: dict[str, dict[int, str]] = {}  # skill hash -> valset position -> program error

    def __call__(self, skill: str, indices: list[int]) -> list[Score]:
        t, key = self.trainer, skill_hash(skill)
        trajectories = rollout(
            t.program_with(skill),
            [t.valset[i] for i in indices],
            metric=t.metric,
            runner=t.runner,
            lm=t.lm,
            pass_threshold=t.s.pass_threshold,
            store=t.store,
            skill_key=key,
        )
        errors = self._errors.setdefault(key, {})
        errors.update({i: tr.error for i, tr in zip(indices, trajectories) if tr.error_kind == "program"})
        if errors and t.error_limit is not None:
            scored = sum(s is not None for s in t.val_cache.known(skill)) + len(indices)
            try:
                t.error_limit.check(list(errors.values()), scored)
            except TooManyErrorsError:
                if t.store is not None:
                    t.store.discard(key, [example_key(t.valset[i]) for i in errors])
                t.val_cache.forget(skill, list(errors))
                del self._errors[key]
                raise
        return [tr.score for tr in trajectories]


class RacingGate:
    """The validation gate with early rejection: ``gate(incumbent, candidate) -> GateDecision``.

    ``racing=False`` scores every candidate on the whole valset in one go (the decisions are the same).
    """

    def __init__(
        self,
        cache: ValidationCache,
        rule: GateRule,
        *,
        order: Sequence[int],
        chunk_size: int,
        racing: bool = True,
        weakest_first: bool = True,
    ) -> None:
        if sorted(order) != list(range(cache.size)):
            raise ValueError(f"order must be a permutation of range({cache.size})")
        self.cache = cache
        self.rule = rule
        self.order = list(order)
        self.chunk_size = max(1, chunk_size)
        self.racing = racing
        self.weakest_first = weakest_first

    def candidate_order(self, reference: Sequence[Score]) -> list[int]:
        """The order a candidate is scored in: the seeded order, the incumbent's weakest examples first.

        Only where the incumbent scored below the best can a candidate gain on it; scoring those first
        tells the bound early how much the candidate can still gain, so a loser is stopped sooner. The
        order depends on the incumbent only, never on the candidate, and changes no decision.
        """
        if not self.weakest_first:
            return list(self.order)
        return sorted(self.order, key=lambda i: self.rule.value(reference[i]))  # stable: seeded within ties

    def _check_range(self, scores: Sequence[Score | None]) -> None:
        bad = next((s for s in scores if s is not None and not self.rule.in_range(s)), None)
        if self.racing and bad is not None:
            self.racing = False
            logger.warning(
                "racing switched off for the rest of the run: the metric returned hard=%r soft=%r, outside "
                "the bounds early rejection relies on (hard 0 or 1, soft in [%g, %g]); set metric_range to "
                "the metric's range to keep it",
                bad.hard,
                bad.soft,
                self.rule.low,
                self.rule.high,
            )

    def __call__(self, incumbent: str, candidate: str) -> GateDecision:
        """Score ``candidate`` (as far as needed) and decide against ``incumbent``, scored in full."""
        reference = self.cache.scores(incumbent)
        self._check_range(reference)
        order = self.candidate_order(reference)
        while True:
            known = self.cache.known(candidate)
            if all(s is not None for s in known):
                return decide(reference, known, rule=self.rule)  # type: ignore[arg-type]
            self._check_range(known)
            if self.racing:
                lost, best_p = cannot_win(reference, known, self.rule)
                if lost:
                    return self._early(reference, known, best_p)
            missing = [i for i in order if known[i] is None]
            self.cache.evaluate(candidate, missing[: self.chunk_size] if self.racing else missing)

    def _early(self, reference: list[Score], known: list[Score | None], best_p: float | None) -> GateDecision:
        """The rejection of a candidate stopped after the examples it was scored on."""
        r = self.rule
        seen = [i for i, s in enumerate(known) if s is not None]
        mine = [known[i] for i in seen]
        theirs = [reference[i] for i in seen]
        new = gate_value(mine, r.mode, r.mixed_weight) if seen else None  # type: ignore[arg-type]
        delta = (new - gate_value(theirs, r.mode, r.mixed_weight)) if new is not None else None
        old = gate_value(reference, r.mode, r.mixed_weight)
        best = gate_value([r.best if s is None else s for s in known], r.mode, r.mixed_weight)  # type: ignore[misc]
        why = f"cannot beat {old:.4f} (at best {best:.4f}"
        if best_p is not None:
            why += f", paired p >= {best_p:.4f} vs alpha {r.alpha:g}"
        reason = f"{r.mode} validation: stopped after {len(seen)}/{len(known)} examples, {why})"
        return GateDecision(
            False,
            old,
            new,
            r.mode,
            reason,
            test=r.test,
            alpha=r.alpha if r.test == "paired" else None,
            p_value=best_p,
            delta=delta,
            evaluated=len(seen),
            total=len(known),
            stopped_early=True,
        )
