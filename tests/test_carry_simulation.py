"""benchmarks/carry.py: its model of edits is what its table says, and the two arms meet the same draws."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("carry_sim", Path(__file__).resolve().parents[1] / "benchmarks/carry.py")
carry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(carry)


def test_the_true_rate_is_the_pass_rate_on_fresh_examples():
    world = carry.World("t", effect=0.02, spread=0.03, touch=0.1)
    edits = (0, 1, 2, 3)
    empirical = sum(world.outcome(edits, x) for x in range(40_000)) / 40_000
    assert empirical == pytest.approx(world.true_rate(edits), abs=0.01)
    assert world.true_rate(()) == carry.BASE


def test_an_epoch_is_a_function_of_its_seed_and_both_arms_share_the_draws():
    def once(carry_on):
        world = carry.World("s", effect=0.02, spread=0.03, touch=0.1)
        return carry.epoch(world, carry=carry_on, n=60, steps=10, edits=2, batch=8, alpha=0.1, seed=3)

    assert once(True) == once(True)
    # Draws are keyed by (seed, edit, example), not by the order they are made in.
    first = carry.World("s", effect=0.02, spread=0.03, touch=0.1)
    other = carry.World("s", effect=0.02, spread=0.03, touch=0.1)
    other.outcome((7, 5), 3)
    ahead = [first.outcome((5,), x) for x in range(100)]
    assert [other.outcome((5,), x) for x in reversed(range(100))][::-1] == ahead
