"""The gate's paired test: exact on hard outcomes, valid under the null, monotone (what early stops rely on)."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillopt_dspy.significance import paired_p, sign_flip_p, sign_test_p


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
