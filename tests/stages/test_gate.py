"""The gate: strict and paired decisions, the exact early-rejection bound, racing and its cache."""

import logging
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillopt_dspy.scoring import Score
from skillopt_dspy.stages.gate import GateRule, ValidationCache, cannot_win, decide, estimated_delta
from skillopt_dspy.stages.racing import RacingGate, validation_order


def hard(bits):
    return [Score(float(b), float(b)) for b in bits]


# ---- decide ------------------------------------------------------------------------------------------
def test_gate_strict_improvement_ties_rejected_and_modes():
    old = [Score(1, 1.0), Score(0, 0.5)]
    assert decide(old, [Score(1, 1.0), Score(1, 1.0)], mode="hard").accepted
    tie = decide(old, [Score(0, 0.9), Score(1, 0.6)], mode="hard")
    assert not tie.accepted and "tied" in tie.reason
    assert decide(old, [Score(0, 0.9), Score(1, 0.61)], mode="soft").accepted
    assert not decide(old, [Score(0, 0.9), Score(1, 0.6)], mode="soft").accepted
    mixed = decide(old, [Score(1, 0.4), Score(0, 0.2)], mode="mixed", mixed_weight=0.5)
    assert not mixed.accepted and mixed.candidate_score < mixed.incumbent_score


def test_gate_uses_unrounded_means():
    old = [Score(0, 0.333333331)] * 3
    new = [Score(0, 0.333333332)] * 3
    assert decide(old, new, mode="soft").accepted


def test_paired_gate_rejects_a_gain_noise_could_make_and_accepts_a_clear_one():
    old = hard([1] * 12 + [0] * 8)
    small = hard([1] * 12 + [1, 1, 0, 0, 0, 0, 0, 0])  # +2 examples: p = 1/4
    assert decide(old, small, mode="hard").accepted
    paired = decide(old, small, mode="hard", test="paired", alpha=0.05)
    assert not paired.accepted and paired.p_value == 0.25 and "p = 0.2500 > alpha 0.05" in paired.reason
    clear = hard([1] * 12 + [1] * 6 + [0, 0])  # 6 wins, no loss: p = 1/64
    got = decide(old, clear, mode="hard", test="paired", alpha=0.05)
    assert got.accepted and got.p_value == 1 / 64
    assert got.to_dict()["p_value"] == 1 / 64 and got.to_dict()["test"] == "paired"


def test_paired_gate_counts_losses_against_wins():
    old = hard([1] * 6 + [0] * 14)
    new = hard([0] * 3 + [1] * 3 + [1] * 9 + [0] * 5)  # 9 wins, 3 losses: +6, p = P(Bin(12, .5) >= 9)
    d = decide(old, new, mode="hard", test="paired", alpha=0.05)
    assert d.p_value == pytest.approx(sum(math.comb(12, k) for k in range(9, 13)) / 2**12)
    assert not d.accepted  # 0.073 > 0.05, though the pass rate rose from 0.30 to 0.60


def test_paired_gate_on_soft_scores_uses_magnitudes():
    old = [Score(0, 0.5)] * 12
    better = [Score(0, 0.5 + 0.05 * (i % 3 + 1)) for i in range(12)]
    assert decide(old, better, mode="soft", test="paired").accepted
    mostly_worse = [Score(0, 0.9)] * 3 + [Score(0, 0.4)] * 9  # mean 0.525 > 0.5, but 9 of 12 got worse
    d = decide(old, mostly_worse, mode="soft", test="paired")
    assert d.delta > 0 and not d.accepted and d.p_value > 0.05


# ---- the early-rejection bound ----------------------------------------------------------------------
RULES = [
    GateRule(mode="hard"),
    GateRule(mode="hard", test="paired", alpha=0.1),
    GateRule(mode="soft", test="paired", alpha=0.2),
    GateRule(mode="mixed", mixed_weight=0.3),
    GateRule(mode="mixed", mixed_weight=0.7, test="paired", alpha=0.25),
]
score = st.builds(
    lambda h, s: Score(float(h), s), st.integers(0, 1), st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 2))
)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(RULES) - 1), st.lists(st.tuples(score, score, score, st.booleans()), min_size=1, max_size=14))
def test_a_candidate_stopped_early_loses_however_the_rest_turns_out(r, rows):
    """The bound is exact: when it says stop, no completion is accepted; when it says go on, one would be."""
    rule = RULES[r]
    incumbent = [row[0] for row in rows]
    partial = [row[1] if row[3] else None for row in rows]
    lost, _ = cannot_win(incumbent, partial, rule)
    best = [rule.best if s is None else s for s in partial]
    assert lost == (not decide(incumbent, best, rule=rule).accepted)
    if lost:
        for completion in ([row[2] for row in rows], [Score(0, 0)] * len(rows)):
            filled = [c if s is None else s for s, c in zip(partial, completion)]
            assert not decide(incumbent, filled, rule=rule).accepted


# ---- racing ------------------------------------------------------------------------------------------
class Scripted:
    """An evaluator with fixed per-example scores for each skill; records each call's positions."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, skill, indices):
        self.calls.append((skill, list(indices)))
        return [self.table[skill][i] for i in indices]

    def count(self, skill=None):
        return sum(len(ix) for s, ix in self.calls if skill in (None, s))


def race_all(table, candidates, *, racing, rule=None, chunk=4, seed=0):
    """Gate ``candidates`` in turn from "base" (as a run does); the accepted skills and the calls made."""
    rule = rule or GateRule(mode="hard")
    evaluator = Scripted(table)
    n = len(table["base"])
    gate = RacingGate(
        ValidationCache(evaluator, size=n), rule, order=validation_order(n, seed=seed), chunk_size=chunk, racing=racing
    )
    skill, decisions = "base", []
    for cand in candidates:
        d = gate(skill, cand)
        decisions.append(d)
        if d.accepted:
            skill = cand
    return [c for c, d in zip(candidates, decisions) if d.accepted], decisions, evaluator


def random_table(rng, n, names):
    p = {name: rng.uniform(0.3, 0.8) for name in names}
    return {name: hard([rng.random() < p[name] for _ in range(n)]) for name in names}


@pytest.mark.parametrize("test", ["strict", "paired"])
def test_racing_changes_no_decision_and_saves_calls_on_losers(test):
    rng = random.Random(7)
    rule = GateRule(mode="hard", test=test, alpha=0.1)
    saved = 0
    for trial in range(30):
        names = ["base"] + [f"c{i}" for i in range(6)]
        table = random_table(rng, 40, names)
        on = race_all(table, names[1:], racing=True, rule=rule, seed=trial)
        off = race_all(table, names[1:], racing=False, rule=rule, seed=trial)
        assert on[0] == off[0]  # the same accepted skills
        assert [d.accepted for d in on[1]] == [d.accepted for d in off[1]]
        for d_on, d_off in zip(on[1], off[1]):
            if d_on.accepted:
                assert d_on == d_off  # a winner is always scored in full: the same record
        assert on[2].count() <= off[2].count()
        saved += off[2].count() - on[2].count()
    assert saved > 0


def test_racing_scores_in_the_seeded_order_in_chunks_and_stops_when_it_cannot_win():
    n = 20
    table = {"base": hard([1] * 15 + [0] * 5), "bad": hard([0] * n)}
    seeded = validation_order(n, seed=5)
    # The incumbent's failures first (only there can a candidate gain), each group in the seeded order.
    order = [i for i in seeded if i >= 15] + [i for i in seeded if i < 15]
    _, (d,), ev = race_all(table, ["bad"], racing=True, chunk=3, seed=5)
    # 15/20 to beat: a candidate that fails 5 examples can reach at most 15/20, a tie: it stops there.
    assert [ix for _, ix in ev.calls[1:]] == [order[0:3], order[3:6]]
    assert d.stopped_early and d.evaluated == 6 and d.total == 20 and not d.accepted
    assert d.candidate_score == 0.0 and "stopped after 6/20 examples" in d.reason
    assert d.to_dict()["stopped_early"] is True


def test_a_perfect_incumbent_rejects_a_candidate_without_a_call():
    table = {"base": hard([1] * 8), "c": hard([1] * 8)}
    _, (d,), ev = race_all(table, ["c"], racing=True)
    assert ev.count("c") == 0 and not d.accepted and d.evaluated == 0


def test_a_candidate_seen_again_resumes_where_it_stopped():
    table = {"base": hard([1] * 14 + [0] * 6), "weak": hard([1] * 10 + [0] * 10), "c": hard([0] * 20)}
    table["c"] = hard([1] * 12 + [0] * 8)  # loses to base; beats weak only in full
    ev = Scripted(table)
    cache = ValidationCache(ev, size=20)
    gate = RacingGate(cache, GateRule(mode="hard"), order=validation_order(20, seed=1), chunk_size=4)
    first = gate("base", "c")
    assert first.stopped_early and not first.accepted
    scored = first.evaluated
    # Later, against a weaker incumbent (e.g. after a restore), the candidate continues; nothing is redone.
    second = gate("weak", "c")
    assert second.accepted and second.evaluated == 20
    per_example = [i for s, ix in ev.calls if s == "c" for i in ix]
    assert sorted(per_example) == list(range(20)) and ev.count("c") == 20 and scored < 20
    assert cache.known("c") == table["c"]


def test_scores_outside_the_range_switch_racing_off_with_a_warning(caplog):
    first = validation_order(10, seed=0)[0]  # the incumbent ties everywhere: the seeded order
    table = {"base": [Score(0, 0.9)] * 10, "c": [Score(0, 1.5 if i == first else 0.0) for i in range(10)]}
    rule = GateRule(mode="soft")
    with caplog.at_level(logging.WARNING):
        _, (d,), ev = race_all(table, ["c"], racing=True, rule=rule, chunk=1)
    assert "racing switched off" in caplog.text and "metric_range" in caplog.text
    assert ev.count("c") == 10 and not d.stopped_early  # scored in full: the bound no longer holds
    # Told the real range, racing keeps its bound and stops early.
    _, (d,), ev = race_all(table, ["c"], racing=True, rule=GateRule(mode="soft", high=2.0), chunk=1)
    assert d.stopped_early and ev.count("c") < 10


def test_validation_cache_never_reevaluates_a_skill():
    calls = []
    cache = ValidationCache(lambda skill, idx: calls.append((skill, list(idx))) or [Score(1, 1)] * len(idx), size=2)
    cache.scores("- a")
    cache.scores("- a  \n")
    cache.evaluate("- b", [1])
    cache.scores("- b")
    assert calls == [("- a", [0, 1]), ("- b", [1]), ("- b", [0])] and cache.hits == 1
    assert cache.items()[next(iter(cache.items()))] == [Score(1, 1)] * 2


def test_estimated_delta_weighs_what_racing_scored_by_the_valset_strata():
    one, zero, half = Score(1, 1), Score(0, 0), Score(0, 0.5)
    incumbent = [zero] * 4 + [one] * 6
    rule = GateRule(mode="hard")
    # Scored in full: the plain difference of means.
    full = [one, one, zero, zero] + [one] * 5 + [zero]
    assert estimated_delta(incumbent, full, rule) == pytest.approx(0.1)
    # Racing stopped it after the 4 failures and 2 passes: gains 2/4 of 4, loses 1/2 of 6 -> (2 - 3) / 10.
    stopped = [one, one, zero, zero, one, zero, None, None, None, None]
    assert estimated_delta(incumbent, stopped, rule) == pytest.approx(-0.1)
    # The plain difference on those six examples would call it ahead (+1/6): the strata are what keep it honest.
    # No pass scored yet: what it loses there is unknown.
    assert estimated_delta(incumbent, [one] * 4 + [None] * 6, rule) is None
    # Soft scores: the strata are below the best and at the best.
    soft = GateRule(mode="soft")
    assert estimated_delta([half, one], [one, one], soft) == pytest.approx(0.25)
