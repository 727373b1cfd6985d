"""Gate: accept a candidate skill only if it beats the current skill on the validation set.

:func:`decide` is a pure decision on two lists of per-example scores (the same examples, in valset
order). ``test="strict"`` accepts on a strictly higher unrounded mean (ties are rejected);
``test="paired"`` also asks a one-sided paired test on the same examples (exact sign/McNemar test on
hard outcomes, seeded sign-flip test otherwise, see :mod:`skillopt_dspy.significance`) for
``p <= alpha``. :func:`cannot_win` is the early-rejection bound used while a candidate is still being
scored: true when no scores for the examples left could make :func:`decide` accept; :func:`estimated_delta`
estimates a candidate's gain on the whole valset from the examples it was scored on.
:class:`ValidationCache` keeps every skill's per-example scores, complete or partial, by skill hash.

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
from skillopt_dspy.significance import paired_p
from skillopt_dspy.skill import skill_hash

GATE_TESTS: tuple[str, ...] = ("strict", "paired")


@dataclass(frozen=True)
class GateRule:
    """How the gate compares: which score, which test at which level, and the range a score can take.

    ``low`` / ``high`` bound a soft score (the metric's range); hard scores are 0 or 1.
    """

    mode: str = "hard"
    mixed_weight: float = 0.5
    test: str = "strict"
    alpha: float = 0.05
    low: float = 0.0
    high: float = 1.0
    seed: int = 0

    def value(self, score: Score) -> float:
        """One example's value in the gate's mode (the paired test compares these)."""
        if self.mode == "hard":
            return score.hard
        if self.mode == "soft":
            return score.soft
        return (1.0 - self.mixed_weight) * score.hard + self.mixed_weight * score.soft

    @property
    def best(self) -> Score:
        """The best score any example can get: what racing assumes for examples not scored yet."""
        return Score(1.0, self.high)

    def in_range(self, score: Score) -> bool:
        """Whether ``score`` respects the bounds racing relies on (hard in {0, 1}, soft in [low, high])."""
        hard_ok = score.hard in (0.0, 1.0)
        soft_ok = self.low <= score.soft <= self.high
        return {"hard": hard_ok, "soft": soft_ok}.get(self.mode, hard_ok and soft_ok)


@dataclass(frozen=True)
class GateDecision:
    """One gate decision: accepted or not, the scores, the test and its p-value, and a one-line reason.

    ``incumbent_score`` is the current skill's score on the whole valset. ``candidate_score`` is the
    candidate's score on the ``evaluated`` examples it was scored on (all ``total`` unless
    ``stopped_early``), and ``delta`` its mean difference with the incumbent on those same examples.
    ``p_value`` (paired test only) is the one-sided p; after an early stop, the smallest p the examples
    left could still have given. ``stage="batch"``: the candidate was turned down by the batch check (see
    :func:`batch_check`), and both scores are on the step's training batch, not on the valset.
    """

    accepted: bool
    incumbent_score: float
    candidate_score: float | None
    mode: str
    reason: str
    test: str = "strict"
    alpha: float | None = None
    p_value: float | None = None
    delta: float | None = None
    evaluated: int = 0
    total: int = 0
    stopped_early: bool = False
    stage: str = "validation"  # or "batch": the batch check turned it down before any validation call

    def to_dict(self) -> dict:
        return asdict(self)


def _rule(rule: GateRule | None, **kw: object) -> GateRule:
    if rule is not None:
        return rule
    return GateRule(**{k: v for k, v in kw.items() if v is not None})  # type: ignore[arg-type]


def _p_value(incumbent: Sequence[Score], candidate: Sequence[Score], rule: GateRule) -> float:
    diffs = [rule.value(c) - rule.value(i) for i, c in zip(incumbent, candidate)]
    return paired_p(diffs, exact=rule.mode == "hard", seed=rule.seed)


def decide(
    incumbent: Sequence[Score],
    candidate: Sequence[Score],
    *,
    mode: str | None = None,
    mixed_weight: float | None = None,
    test: str | None = None,
    alpha: float | None = None,
    rule: GateRule | None = None,
) -> GateDecision:
    """Accept iff the candidate's mean is strictly higher and, with ``test="paired"``, ``p <= alpha``.

    Both lists hold the same examples in the same order. Pass a :class:`GateRule` or its fields.

    Example:
        >>> old, new = [Score(0, 0)] * 20, [Score(1, 1)] * 3 + [Score(0, 0)] * 17
        >>> decide(old, new, mode="hard", test="paired", alpha=0.05).accepted  # p = 1/8
        False
    """
    r = _rule(rule, mode=mode, mixed_weight=mixed_weight, test=test, alpha=alpha)
    old = gate_value(incumbent, r.mode, r.mixed_weight)
    new = gate_value(candidate, r.mode, r.mixed_weight)
    common = {"delta": new - old, "evaluated": len(candidate), "total": len(incumbent), "test": r.test}
    rose = new > old
    verb = "rose" if rose else "tied" if new == old else "fell"
    text = f"{r.mode} validation score {verb} {old:.4f} -> {new:.4f}"
    if r.test == "strict":
        return GateDecision(rose, old, new, r.mode, text, **common)
    p = _p_value(incumbent, candidate, r)
    significant = p <= r.alpha
    text += f", paired p = {p:.4f} " + ("<=" if significant else ">") + f" alpha {r.alpha:g}"
    return GateDecision(rose and significant, old, new, r.mode, text, alpha=r.alpha, p_value=p, **common)


def batch_check(
    before: Sequence[Score], after: Sequence[Score], rule: GateRule, *, no_worse: bool = False
) -> GateDecision | None:
    """None when the candidate did strictly better than the current skill on the step's training batch (it
    goes on to validation); else the rejection. Pure.

    The edits were written from this batch's failures: a candidate that fixes none of them on the very
    examples they came from is not worth a validation run. Strictly better in the gate's mode, no test (a
    batch is a handful of examples; the validation gate judges significance).

    ``no_worse``: only a fall turns the candidate down. For worked examples alone, scored on the rest of the
    batch: nothing was written from those examples, and a few of them rarely show what an example teaches
    (in the 1.5B date runs two new examples changed none of the six other answers; with four shown, the four
    left had all passed, so no candidate could do strictly better).

    Example:
        >>> before, after = [Score(0, 0), Score(1, 1)], [Score(0, 0.5), Score(1, 1)]
        >>> batch_check(before, after, GateRule(mode="hard")).reason
        'batch check: hard score on its 2 training examples tied 0.5000 -> 0.5000: not validated'
        >>> batch_check(before, after, GateRule(mode="soft")) is None
        True
        >>> batch_check(before, after, GateRule(mode="hard"), no_worse=True) is None
        True
    """
    old = gate_value(before, rule.mode, rule.mixed_weight)
    new = gate_value(after, rule.mode, rule.mixed_weight)
    if new > old or (no_worse and new == old):
        return None
    verb = "tied" if new == old else "fell"
    reason = f"batch check: {rule.mode} score on its {len(after)} training examples {verb} {old:.4f} -> {new:.4f}"
    return GateDecision(
        False,
        old,
        new,
        rule.mode,
        reason + ": not validated",
        test=rule.test,
        delta=new - old,
        evaluated=len(after),
        total=len(before),
        stage="batch",
    )


def estimated_delta(incumbent: Sequence[Score], candidate: Sequence[Score | None], rule: GateRule) -> float | None:
    """The candidate's gain over the incumbent on the whole valset, estimated from the examples it was scored on
    (``None`` where not scored); None when it cannot be estimated. Pure.

    Racing scores first the examples the incumbent did worst on, where a candidate can only gain, so the plain
    difference on a stopped candidate's examples flatters it. The estimate weighs two strata by their sizes in
    the valset: the examples the incumbent scored below the best (mean gain there) and those it scored the best
    on (mean loss there). A stratum with members of which none was scored: None (the loss side is unknown).
    Exact when every example was scored. On hard outcomes racing scores each stratum in random order; on soft
    ones the lowest scores below the best come first, so the gain side is still flattered somewhat.

    Example:
        >>> one, zero = Score(1, 1), Score(0, 0)
        >>> inc = [zero] * 6 + [one] * 4  # racing scored the 6 failures and 2 of the 4 passes
        >>> cand = [one, one, one, zero, zero, zero, one, zero, None, None]
        >>> round(estimated_delta(inc, cand, GateRule(mode="hard")), 3)  # 3/6 gained x 6/10 - 1/2 lost x 4/10
        0.1
        >>> estimated_delta(inc, cand[:6] + [None] * 4, GateRule(mode="hard")) is None
        True
    """
    top = rule.value(rule.best)
    total = 0.0
    for at_best in (False, True):
        members = [i for i, s in enumerate(incumbent) if (rule.value(s) >= top) is at_best]
        scored = [i for i in members if candidate[i] is not None]
        if members and not scored:
            return None
        if scored:
            gain = sum(rule.value(candidate[i]) - rule.value(incumbent[i]) for i in scored)  # type: ignore[arg-type]
            total += gain / len(scored) * len(members)
    return total / len(incumbent) if incumbent else None


def cannot_win(
    incumbent: Sequence[Score], candidate: Sequence[Score | None], rule: GateRule
) -> tuple[bool, float | None]:
    """Whether no scores for the examples left (``None``) can make :func:`decide` accept; and the best p.

    The best case puts ``rule.best`` on every example left. The strict mean and the paired p-value are
    both monotone in each example's score, so if the best case loses, every completion loses: stopping
    here changes no decision. The second value is the paired test's p in that best case (None: strict).

    Example:
        >>> rule = GateRule(mode="hard")
        >>> cannot_win([Score(1, 1)] * 3 + [Score(0, 0)], [Score(0, 0), Score(0, 0), None, None], rule)
        (True, None)
    """
    best = [rule.best if s is None else s for s in candidate]
    decision = decide(incumbent, best, rule=rule)
    return not decision.accepted, decision.p_value


class ValidationCache:
    """Per-example validation scores per skill hash, complete or partial (``None`` = not scored yet).

    ``evaluate(skill, indices)`` scores a skill on those valset positions; the cache calls it only for
    positions it has no score for, so a skill is never scored twice on one example, and a candidate
    that stopped early and comes back resumes where it stopped.

    Example:
        >>> cache = ValidationCache(lambda skill, idx: [Score(1, 1) for _ in idx], size=3)
        >>> cache.evaluate("- a", [2]); cache.known("- a")
        [Score(hard=1, soft=1, feedback='')]
        [None, None, Score(hard=1, soft=1, feedback='')]
    """

    def __init__(self, evaluate: Callable[[str, list[int]], list[Score]], *, size: int) -> None:
        self._evaluate = evaluate
        self.size = size
        self._scores: dict[str, list[Score | None]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def __contains__(self, skill: str) -> bool:
        return skill_hash(skill) in self._scores

    def known(self, skill: str) -> list[Score | None]:
        """The scores known so far, in valset order (``None`` where not scored yet)."""
        with self._lock:
            return list(self._scores.get(skill_hash(skill), [None] * self.size))

    def evaluate(self, skill: str, indices: Sequence[int]) -> list[Score]:
        """The scores of ``skill`` at ``indices``, scoring only those not known yet."""
        key = skill_hash(skill)
        with self._lock:
            row = self._scores.setdefault(key, [None] * self.size)
            missing = [i for i in dict.fromkeys(indices) if row[i] is None]
            if not missing:
                self.hits += 1
        if missing:
            fresh = self._evaluate(skill, missing)
            with self._lock:
                for i, score in zip(missing, fresh):
                    row[i] = score
        return [row[i] for i in indices]  # type: ignore[misc]

    def scores(self, skill: str) -> list[Score]:
        """The scores on the whole valset, scoring whatever is missing."""
        return self.evaluate(skill, range(self.size))  # type: ignore[arg-type]

    def forget(self, skill: str, indices: Sequence[int]) -> None:
        """Drop the scores at ``indices`` (they were not the skill's result: a systematic failure)."""
        with self._lock:
            row = self._scores.get(skill_hash(skill))
            for i in indices if row is not None else ():
                row[i] = None

    def seed(self, skill: str, scores: Sequence[Score | None]) -> None:
        """Record known scores (e.g. restored from a checkpoint)."""
        self.restore(skill_hash(skill), scores)

    def restore(self, key: str, scores: Sequence[Score | None]) -> None:
        """Record known scores by skill hash; a list of another length (another valset) is ignored."""
        if len(scores) == self.size:
            with self._lock:
                self._scores[key] = list(scores)

    def items(self) -> dict[str, list[Score | None]]:
        with self._lock:
            return {k: list(v) for k, v in self._scores.items()}
