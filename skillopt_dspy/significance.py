"""The paired one-sided test of the gate: does the candidate beat the incumbent on the same examples?

The test is a paired sign-flip (randomization) test on the per-example differences
``d_i = candidate_i - incumbent_i`` of the gate's value. If the new skill makes no difference, the two
scores of each example are exchangeable, so each ``d_i`` is as likely as ``-d_i``; the p-value is the
share of sign assignments whose total is at least the observed total ``sum(d)``.

- On hard (0/1) outcomes the differences are -1, 0 or +1 and the test *is* the exact one-sided McNemar
  (sign) test: ``p = P(Binomial(b + c, 1/2) >= b)`` with ``b`` examples won and ``c`` lost. Computed
  exactly.
- On soft or mixed values ``p`` is estimated from ``DRAWS`` seeded sign assignments, with the +1
  correction that keeps a Monte Carlo permutation test exact at its level (the observed assignment
  counts as one draw): ``P(p <= alpha) <= alpha`` under the null for every valset size.

Why not a paired bootstrap or Wilcoxon: a bootstrap interval is only asymptotically valid and is
anti-conservative on 20-40 examples, which is where the gate must not accept noise; Wilcoxon tests a
median-like shift of ranks, not the mean the gate compares, and its p-value can rise when one score
rises (ties and zeros re-rank), which rules out an exact early stop. The sign-flip p-value never rises
when a difference rises (for each fixed sign assignment the event is monotone in every ``d_j``), so
plugging the best possible score into the examples not scored yet gives the smallest p any completion
can reach: :func:`paired_p` on that best case is an exact futility bound.

Example:
    >>> round(sign_test_p(8, 1), 4)
    0.0195
    >>> paired_p([1, 1, 1, 0, -1], exact=True)
    0.3125
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache

import numpy as np

DRAWS = 9999  # sign assignments of the Monte Carlo test: p has a resolution of 1e-4 and a standard error < 0.003
_QUANTUM = 1e9  # differences are compared as integers of 1e-9: exact sums, no float ties


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign (McNemar) test: ``P(Binomial(wins + losses, 1/2) >= wins)``; 1.0 with no pairs.

    Example:
        >>> sign_test_p(5, 0)
        0.03125
    """
    m = wins + losses
    if m == 0 or wins <= 0:
        return 1.0
    tail = sum(math.comb(m, k) for k in range(wins, m + 1))
    return float(Fraction(tail, 2**m))


@lru_cache(maxsize=8)
def _signs(n: int, seed: int, draws: int) -> np.ndarray:
    """``draws`` x ``n`` random signs, fixed by ``(seed, n)``: column ``i`` always belongs to example ``i``."""
    rng = np.random.default_rng([seed, n, 0x5EED])
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=(draws, n))


def sign_flip_p(diffs: Sequence[float], *, seed: int = 0, draws: int = DRAWS) -> float:
    """Monte Carlo one-sided paired sign-flip test of ``mean(diffs) > 0``; an exactly valid p-value.

    The same ``(seed, len(diffs))`` always uses the same sign assignments, so the p-value is a
    deterministic, non-increasing function of every difference.

    Example:
        >>> sign_flip_p([0.5, 0.25, 0.4, 0.1, 0.3, 0.2, 0.45, 0.35]) < 0.01
        True
    """
    if not diffs:
        return 1.0
    d = np.rint(np.asarray(diffs, dtype=float) * _QUANTUM).astype(np.int64)
    observed = int(d.sum())
    if observed <= 0:  # a sign-symmetric statistic reaches 0 in at least half of the assignments
        return 1.0
    flipped = _signs(len(d), seed, draws) @ np.abs(d)
    return (1 + int(np.count_nonzero(flipped >= observed))) / (draws + 1)


def paired_p(diffs: Sequence[float], *, exact: bool, seed: int = 0) -> float:
    """The gate's p-value for the candidate beating the incumbent by the differences ``diffs``.

    ``exact=True`` (hard outcomes, differences in {-1, 0, 1}): the exact sign test; otherwise the
    seeded Monte Carlo sign-flip test.

    Example:
        >>> paired_p([1, 1, 1, 1, 1, 0, 0], exact=True)
        0.03125
    """
    if exact:
        wins = sum(1 for x in diffs if x > 0)
        losses = sum(1 for x in diffs if x < 0)
        return sign_test_p(wins, losses)
    return sign_flip_p(diffs, seed=seed)


BOOTSTRAP_DRAWS = 10_000


def paired_gain(before: Sequence[float], after: Sequence[float], *, seed: int = 0) -> dict:
    """How ``after`` compares with ``before`` on the same examples, in order: for reporting a measured gain.

    ``wins`` / ``losses``: examples whose score rose / fell; ``p_sign``: the one-sided exact sign test of
    ``wins`` against ``losses`` (:func:`sign_test_p`; on soft scores it ignores the size of each change);
    ``ci95``: a 95 % paired bootstrap interval of the mean gain (seeded: the same inputs give the same
    interval). For a report, not for the gate: see the module docstring on why the gate uses no bootstrap.

    Example:
        >>> g = paired_gain([0, 0, 0, 1, 0], [1, 1, 1, 1, 0])
        >>> g["gain"], g["wins"], g["losses"], g["p_sign"]
        (0.6, 3, 0, 0.125)
    """
    if len(before) != len(after):
        raise ValueError(f"paired scores need the same examples: {len(before)} before, {len(after)} after")
    diffs = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    wins, losses = int(np.count_nonzero(diffs > 0)), int(np.count_nonzero(diffs < 0))
    if len(diffs):
        rng = np.random.default_rng([seed, len(diffs), 0xB007])
        means = diffs[rng.integers(0, len(diffs), size=(BOOTSTRAP_DRAWS, len(diffs)))].mean(axis=1)
        lo, hi = np.quantile(means, [0.025, 0.975])
    else:
        lo = hi = 0.0
    return {
        "examples": len(diffs),
        "gain": round(float(diffs.mean()) if len(diffs) else 0.0, 4),
        "wins": wins,
        "losses": losses,
        "p_sign": sign_test_p(wins, losses),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
    }


def describe_gain(g: dict) -> str:
    """One line for a :func:`paired_gain`: the gain, the examples won and lost, the sign test and the interval.

    Example:
        >>> describe_gain(paired_gain([0, 0, 0, 1, 0], [1, 1, 1, 1, 0]))
        '+0.600 (3 won, 0 lost; sign test p = 0.125; 95 % CI [+0.200, +1.000])'
    """
    lo, hi = g["ci95"]
    return (
        f"{g['gain'] + 0.0:+.3f} ({g['wins']} won, {g['losses']} lost; sign test p = {g['p_sign']:.3g}; "
        f"95 % CI [{lo + 0.0:+.3f}, {hi + 0.0:+.3f}])"
    )
