"""The gate's paired test: exact on hard outcomes, valid under the null, monotone (what early stops rely on)."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillopt_dspy.significance import describe_gain, paired_gain, paired_p, sign_flip_p, sign_test_p


def test_sign_test_is_the_exact_binomial_tail():
    for wins, losses in [(0, 0), (3, 0), (5, 2), (9, 3), (2, 9)]:
        m = wins + losses
        tail = sum(math.comb(m, k) for k in range(wins, m + 1)) / 2**m if m and wins else 1.0
        assert sign_test_p(wins, losses) == pytest.approx(tail)


def test_monte_carlo_sign_flip_is_valid_under_the_null():
    rng = random.Random(1)
    rejections = 0
    for _ in range(300):
        diffs = [rng.choice([-1, 1]) * rng.random() for _ in range(20)]
        rejections += sign_flip_p(diffs, seed=rng.randrange(10**6), draws=999) <= 0.1
    assert rejections / 300 <= 0.1 + 3 * math.sqrt(0.1 * 0.9 / 300)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=25),
    st.data(),
    st.booleans(),
)
def test_the_p_value_never_rises_when_a_difference_rises(diffs, data, exact):
    j = data.draw(st.integers(0, len(diffs) - 1))
    up = list(diffs)
    up[j] = data.draw(st.floats(diffs[j], 2))
    assert paired_p(up, exact=exact, seed=3) <= paired_p(diffs, exact=exact, seed=3)


def test_paired_gain_counts_changed_examples_and_brackets_the_gain():
    before = [0.0] * 20 + [1.0] * 10
    after = [1.0] * 6 + [0.0] * 14 + [1.0] * 9 + [0.0]  # 6 won, 1 lost
    g = paired_gain(before, after, seed=3)
    assert (g["examples"], g["wins"], g["losses"]) == (30, 6, 1)
    assert g["gain"] == round(5 / 30, 4) and g["p_sign"] == sign_test_p(6, 1)
    lo, hi = g["ci95"]
    assert lo < g["gain"] < hi and lo > -0.1 and hi < 0.4
    assert paired_gain(before, after, seed=3) == g  # seeded: the same report every time
    soft = paired_gain([0.2, 0.4, 0.6], [0.3, 0.4, 0.5])  # soft scores: the sign test ignores sizes
    assert (soft["wins"], soft["losses"], soft["gain"]) == (1, 1, 0.0)
    assert "6 won, 1 lost; sign test p = 0.0625; 95 % CI [" in describe_gain(g)
    with pytest.raises(ValueError, match="same examples: 2 before, 3 after"):
        paired_gain([0, 1], [0, 1, 1])
