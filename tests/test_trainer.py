"""Run-level behaviour: events, budgets, interrupts, call counting."""

import itertools

import dspy
import pytest

from skillopt_dspy import SkillOpt, SkillOptCallback
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())


def train(callbacks=(), **kw):
    target, reflection = fake_lm(target_handler, name="fake/t"), fake_lm(rule_reflector(), name="fake/r")
    settings = {"batch_size": 6, "epochs": 2, "learning_rate": 2, "num_threads": 4, "progress": False}
    settings |= {"gate_test": "strict", **kw}  # a one-word gain on the toy valset must pass: the strict gate
    with dspy.context(lm=target):
        opt = SkillOpt(metric=group_metric, reflection_lm=reflection, callbacks=list(callbacks), **settings)
        return opt.compile(WordGroup(), trainset=TRAIN, valset=VAL), target, reflection


class Recorder(SkillOptCallback):
    def __init__(self):
        self.events = []

    def on_run_start(self, info):
        self.events.append(("start", info["total_steps"]))

    def on_step_end(self, record):
        self.events.append(("step", record.step))

    def on_epoch_end(self, record):
        self.events.append(("epoch", record.epoch))

    def on_run_end(self, result):
        self.events.append(("end", len(result.history)))


def test_events_arrive_in_order():
    rec = Recorder()
    train([rec])
    expected = [("start", 6), *[("step", i) for i in range(3)], ("epoch", 0)]
    expected += [*[("step", i) for i in range(3, 6)], ("epoch", 1), ("end", 6)]
    assert rec.events == expected


def test_a_callback_exception_stops_the_run_after_saving(tmp_path):
    class Pruned(Exception):
        pass

    class Pruner(SkillOptCallback):
        def on_step_end(self, record):
            if record.step == 1:
                raise Pruned

    with pytest.raises(Pruned):
        train([Pruner()], log_dir=tmp_path)
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 2


def test_budget_stops_cleanly_at_a_step_boundary_with_the_best_skill():
    compiled, _, _ = train(max_lm_calls=40)
    res = compiled.detailed_results
    assert res.stop_reason.startswith("budget: max_lm_calls=40")
    assert 0 < len(res.history) < 6
    assert compiled.skill == res.best_skill and res.best_val_score >= res.baseline_val_score

    compiled, _, _ = train(max_metric_calls=40)
    res = compiled.detailed_results
    assert res.stop_reason.startswith("budget: max_metric_calls=40")
    # A ceiling: 9 for the baseline, then steps of at most 6 + 9, and none that could cross 40.
    assert 40 - 15 < res.metric_calls <= 40 and len(res.history) >= 1


def test_a_budget_too_small_for_one_step_stops_before_it_and_says_so():
    compiled, _, _ = train(max_metric_calls=20)
    res = compiled.detailed_results
    assert res.history == () and res.metric_calls == 9  # the baseline validation only
    assert "the next step may take up to 21 more" in res.stop_reason  # batch 6, the batch check 6, valset 9
    assert compiled.skill == res.best_skill == res.initial_skill


def test_a_last_step_that_fits_only_with_a_smaller_batch_gets_one():
    # 9 for the baseline; a whole step may take 6 + 6 + 9 = 21 (30 > 26), a step of 4 examples 4 + 4 + 9.
    res = train(max_metric_calls=26)[0].detailed_results
    assert [len(r.batch) for r in res.history] == [4]
    assert res.metric_calls <= 26 and res.stop_reason.startswith("budget: max_metric_calls=26")
    # Half the batch (3) is the least a step gets: with 22 calls no step fits, and none is made.
    assert train(max_metric_calls=22)[0].detailed_results.history == ()


def test_a_token_budget_looks_ahead_by_the_largest_step_so_far():
    full = train()[0].detailed_results
    totals = [sum(r.usage["tokens"].values()) for r in full.history]  # cumulative after each step
    largest = max(b - a for a, b in itertools.pairwise(totals))
    limit = totals[2] + largest // 2  # room for a part of one more step only
    res = train(max_tokens=limit)[0].detailed_results
    assert res.stop_reason.startswith(f"budget: max_tokens={limit}")
    assert "the next step may take up to" in res.stop_reason
    assert sum(res.tokens.values()) <= limit


def test_keyboard_interrupt_returns_the_best_so_far_and_saves_state(tmp_path):
    class Interrupt(SkillOptCallback):
        def on_step_end(self, record):
            if record.step == 2:
                raise KeyboardInterrupt

    compiled, _, _ = train([Interrupt()], log_dir=tmp_path)
    res = compiled.detailed_results
    assert res.stop_reason.startswith("interrupted")
    assert len(res.history) == 3
    # Resuming continues after the interrupt and completes.
    resumed, _, _ = train(log_dir=tmp_path)
    assert resumed.detailed_results.stop_reason == "completed all epochs"
    assert len(resumed.detailed_results.history) == 6


def test_lm_calls_and_tokens_are_counted_per_role_across_threads():
    compiled, target, reflection = train(num_threads=8)
    res = compiled.detailed_results
    assert res.lm_calls == {"target": len(target.engine.calls), "reflection": len(reflection.engine.calls)}
    assert res.tokens["target"] > 0 and res.tokens["reflection"] > 0
    assert res.metric_calls == len(target.engine.calls)


def _carry_run(carry_ahead: bool):
    """The crash tests' run (tests/resume_run.py) in process, without a log directory."""
    from tests.resume_run import TRAIN, VAL, optimizer

    target = fake_lm(target_handler, name="fake/target")
    reflection = fake_lm(rule_reflector(harmful_once=True), name="fake/reflect")
    with dspy.context(lm=target):
        compiled = optimizer(reflection, carry_ahead=carry_ahead).compile(WordGroup(), trainset=TRAIN, valset=VAL)
    return compiled, reflection


def test_a_candidate_ahead_but_not_significant_is_carried_and_the_next_steps_build_on_it():
    from skillopt_dspy.testing import engine_of

    compiled, reflection = _carry_run(carry_ahead=True)
    steps = [r for r in compiled.detailed_results.history if r.__class__.__name__ == "StepRecord"]
    first, second, third = steps[:3]
    assert first.carried and not first.accepted and first.gate["stage"] == "validation"
    assert first.rejected == []  # carried edits are not rejected edits
    from skillopt_dspy.report.data import step_edit_rows

    fates = {row["fate"] for row in step_edit_rows(first) if row["kind"] != "dropped"}
    carried = "not accepted but ahead on validation: carried, the epoch's next steps built on it"
    assert fates == {f"selected, applied, {carried}"}
    carried_rules = [e["content"] for e in first.applied]
    # The next steps roll out and reflect on the carried candidate, and add their edits to it.
    assert second.built_on == 0 and third.built_on == 0
    reflected_on = [c.inputs["skill"] for c in engine_of(reflection).calls if "evidence" in c.inputs]
    assert any(all(rule in skill for rule in carried_rules) for skill in reflected_on)
    # Step 3's candidate holds both steps' rules and is accepted against the skill the run started from.
    assert third.accepted and third.gate["incumbent_score"] == 0.0 and third.gate["p_value"] <= 0.1
    assert all(rule in compiled.skill for rule in carried_rules + [e["content"] for e in third.applied])
    # A new epoch starts from the accepted skill: nothing is carried over the boundary.
    assert steps[3].epoch == 1 and steps[3].built_on is None

    # Without carrying, the same run's candidates each stay short of significance, and none is accepted.
    plain, _ = _carry_run(carry_ahead=False)
    plain_steps = [r for r in plain.detailed_results.history if r.__class__.__name__ == "StepRecord"]
    assert not any(s.accepted or s.carried or s.built_on is not None for s in plain_steps)
    assert [s.gate["p_value"] for s in plain_steps[1:3]] == [0.125, 0.125]
