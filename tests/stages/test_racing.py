"""Racing in a run, with fake LMs: the same accepted skills for fewer calls, the paired test in the
history, the slow update through the same gate, and a candidate interrupted mid-validation resumed."""

import json
import re

import dspy
import pytest

from skillopt_dspy import SkillOpt
from skillopt_dspy.state import RunState
from tests.fakes import WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star arm bus cab ice jug kid red sky ace".split())
VAL_WORDS = {ex.word for ex in VAL}
RULE = re.compile(r'Words starting with "(\w)" are (\w+)\.')


def saboteur():
    """Reflection that, after each accepted rule, first proposes to contradict the newest rule (a loser)."""
    good = rule_reflector()

    def handler(call):
        skill = call.inputs.get("skill", "")
        rules = RULE.findall(skill)
        if "failure_summary" in call.outputs and rules:
            letter, group = rules[-1]
            bad = f'- Words starting with "{letter}" are {"beta" if group == "alpha" else "alpha"}.'
            if bad not in call.inputs.get("rejected_edits", "") and bad not in skill:
                return {"failure_summary": "bold", "edits": [{"op": "add", "target": "Rules", "content": bad}]}
        return good(call)

    return handler


def train(target_handler=target_handler, **kw):
    target, reflection = fake_lm(target_handler), fake_lm(saboteur())
    settings = {"batch_size": 3, "epochs": 2, "learning_rate": 2, "num_threads": 2, "progress": False}
    # strict unless a test says otherwise; no batch check, so that losers reach validation (what is tested)
    settings |= {"gate_test": "strict", "batch_check": False, **kw}
    with dspy.context(lm=target):
        compiled = SkillOpt(metric=group_metric, reflection_lm=reflection, **settings).compile(
            WordGroup(), trainset=TRAIN, valset=VAL
        )
    return compiled, engine_of(target)


def gates(result):
    steps = [s.gate for s in result.history]
    slow = [e.slow_update.get("gate") if e.slow_update else None for e in result.epochs]
    return steps + slow


def test_racing_reaches_the_same_skills_with_fewer_target_calls():
    raced, raced_target = train()
    full, full_target = train(racing=False)
    a, b = raced.detailed_results, full.detailed_results
    assert raced.skill == full.skill and a.best_val_score == b.best_val_score == 1.0
    assert [s.skill_hash for s in a.history] == [s.skill_hash for s in b.history]
    assert [g and g["accepted"] for g in gates(a)] == [g and g["accepted"] for g in gates(b)]
    stopped = [g for g in gates(a) if g and g["stopped_early"]]
    assert stopped and all(not g["accepted"] and g["evaluated"] < len(VAL) for g in stopped)
    assert not any(g and g["stopped_early"] for g in gates(b))
    saved = sum(len(VAL) - g["evaluated"] for g in stopped)
    assert len(raced_target.calls) == len(full_target.calls) - saved > 0
    assert a.metric_calls == b.metric_calls - saved


def test_the_paired_test_is_recorded_for_every_decision_and_the_slow_update_uses_it():
    compiled, _ = train(gate_test="paired", gate_alpha=0.05, epochs=1)
    res = compiled.detailed_results
    decided = [g for g in gates(res) if g]
    assert decided and all(g["test"] == "paired" and g["alpha"] == 0.05 for g in decided)
    assert all(g["p_value"] is not None for g in decided)
    assert all(g["p_value"] <= 0.05 for g in decided if g["accepted"])
    history = res.to_dict()["history"]
    assert [h["gate"] and h["gate"]["p_value"] for h in history] == [s.gate and s.gate["p_value"] for s in res.history]
    slow = res.epochs[0].slow_update
    assert slow is not None and slow["gate"] is not None and slow["gate"]["test"] == "paired"


def test_the_knobs_are_checked_before_any_call():
    with pytest.raises(ValueError, match="gate_test must be one of"):
        SkillOpt(metric=group_metric, gate_test="bonferroni")
    with pytest.raises(ValueError, match=r"gate_alpha must be a number in \(0, 0.5\]"):
        SkillOpt(metric=group_metric, gate_alpha=0.9)
    with pytest.raises(TypeError, match="racing must be True or False"):
        SkillOpt(metric=group_metric, racing="yes")
    with pytest.raises(ValueError, match="metric_range must be"):
        SkillOpt(metric=group_metric, metric_range=(1, 0))


def test_a_candidate_interrupted_mid_validation_resumes_where_it_stopped(tmp_path):
    """KeyboardInterrupt inside a losing candidate's validation; the resumed run redoes no finished call."""
    reference, _ = train(log_dir=tmp_path / "ref", num_threads=1)
    ref = reference.detailed_results
    raced = next(s for s in ref.history if s.gate and s.gate["stopped_early"] and s.gate["evaluated"] >= 2)

    calls, interrupted = [], []

    def interrupting(call):
        calls.append(json.dumps([call.inputs, call.skill], sort_keys=True))
        word = call.inputs.get("word")
        sabotaged = len({letter for letter, _ in RULE.findall(call.skill)}) < len(RULE.findall(call.skill))
        nth = sum(1 for c in calls if json.loads(c)[1] == call.skill)
        if word in VAL_WORDS and sabotaged and not interrupted and nth == 2:
            interrupted.append(call.skill)
            raise KeyboardInterrupt  # the second validation example of the first losing candidate
        return target_handler(call)

    first, _ = train(interrupting, log_dir=tmp_path / "run", num_threads=1)
    assert first.detailed_results.stop_reason.startswith("interrupted")
    done = list(calls)
    calls.clear()
    resumed, _ = train(interrupting, log_dir=tmp_path / "run", num_threads=1)
    res = resumed.detailed_results
    assert resumed.skill == reference.skill and res.stop_reason == "completed all epochs"
    assert [s.gate for s in res.history] == [s.gate for s in ref.history]
    # Only the interrupted call is made again; the candidate's first example came from evals.jsonl.
    assert len(set(done[:-1]) & set(calls)) == 0 and done[-1] in calls
    # Partial scores are kept like full ones: None where the candidate was never scored.
    state = RunState.from_dict(json.loads((tmp_path / "run" / "state.json").read_text()))
    partial = [v for v in state.val_scores.values() if None in v]
    assert any(sum(s is not None for s in v) == raced.gate["evaluated"] for v in partial)
    evals = [json.loads(line) for line in (tmp_path / "run" / "evals.jsonl").read_text().splitlines()]
    per_skill = {}
    for e in evals:
        per_skill.setdefault(e["skill"], set()).add(e["example"])
    assert raced.gate["evaluated"] in {len(v) for v in per_skill.values()}


def test_config_keys_and_cli_overrides_reach_the_gate():
    from skillopt_dspy.config import ConfigError, build_config

    overrides = ["optimizer.gate_test=paired", "optimizer.gate_alpha=0.1", "optimizer.racing=false"]
    cfg = build_config({}, overrides=[*overrides, "optimizer.metric_range=[0, 10]"])
    settings = SkillOpt(metric=group_metric, **cfg.skillopt_kwargs()).settings
    assert (settings.gate_test, settings.gate_alpha, settings.racing) == ("paired", 0.1, False)
    assert settings.metric_range == (0.0, 10.0)
    with pytest.raises(ConfigError, match=r"optimizer\.gate_test"):
        build_config({}, overrides=["optimizer.gate_test=sometimes"])
    with pytest.raises(ConfigError, match=r"optimizer.metric_range: must be \[low, high\]"):
        build_config({}, overrides=["optimizer.metric_range=[1, 0]"])


def test_a_candidates_chunks_are_one_evaluation_for_the_error_limit(tmp_path):
    """Racing scores a candidate in chunks of num_threads; a program failing on all of them is systematic."""

    def broken_with_a_skill(call):
        if call.skill and call.inputs.get("word") in VAL_WORDS:
            raise RuntimeError("context overflow")
        return target_handler(call)

    compiled, target = train(broken_with_a_skill, log_dir=tmp_path, num_threads=1, epochs=1)
    res = compiled.detailed_results
    # Chunks of one example each: 1 of 1, then 2 of 2 raised, and the run stops, returning the baseline skill.
    assert res.stop_reason.startswith("stopped: every one of the 2 examples of one evaluation raised")
    assert compiled.skill == res.initial_skill and res.history == ()
    candidate_calls = [c for c in target.calls if c.skill and c.inputs.get("word") in VAL_WORDS]
    assert len(candidate_calls) == 2
    # Not the skill's result: forgotten, so a rerun scores those examples again.
    state = RunState.from_dict(json.loads((tmp_path / "state.json").read_text()))
    rows = list(state.val_scores.values())
    assert all(all(s is None for s in v) or None not in v for v in rows) and any(None in v for v in rows)
    again, target = train(target_handler, log_dir=tmp_path, num_threads=1, epochs=1)
    assert again.detailed_results.stop_reason == "completed all epochs"
    rescored = [c for c in target.calls if c.skill and c.inputs.get("word") in VAL_WORDS]
    assert len(rescored) >= 2


def test_the_batch_check_turns_down_a_candidate_on_its_own_batch_before_any_validation_call():
    checked, _ = train(batch_check=True)
    unchecked, _ = train()
    a, b = checked.detailed_results, unchecked.detailed_results
    # The saboteur's contradictions fix nothing on the batch they were written from: turned down there.
    turned_down = [s for s in a.history if s.gate and s.gate["stage"] == "batch"]
    assert turned_down and all(not s.accepted and s.candidate is None for s in turned_down)
    for s in turned_down:
        assert s.gate["evaluated"] == 3 and s.gate["candidate_score"] <= s.gate["incumbent_score"]
        assert "batch check" in s.gate["reason"] and "not validated" in s.gate["reason"]
        # The batch, then the candidate on it; no validation call.
        assert sum(stage["metric_calls"] for stage in s.stages.values()) == 2 * 3
        assert s.stages["batch check"]["metric_calls"] == 3 and "gate" not in s.stages
    # Not validated, so not a candidate of the result; the rejected-edit buffer says where it was scored.
    validated = [s.step for s in a.history if s.gate and s.gate["stage"] == "validation"]
    assert [c["step"] for c in a.candidate_info if c["source"] == "step"] == validated
    later = [s for s in a.history if s.step > turned_down[0].step and s.epoch == turned_down[0].epoch]
    assert all(turned_down[0].applied[0]["content"] not in str(s.proposed) for s in later)
    # Every rule that made it in also did better on its batch: the same skill is learned, for fewer calls.
    assert checked.skill == unchecked.skill and a.best_val_score == 1.0
    assert a.metric_calls < b.metric_calls


def test_a_candidate_that_changes_no_answer_of_its_batch_is_said_to_in_the_hint_and_the_report():
    from skillopt_dspy.report.data import step_edit_rows

    inert = "- Read each word closely before answering."
    good = rule_reflector()

    def reflector(call):  # first an edit the program does not act on, until the hint shows it was tried
        if "failure_summary" in call.outputs and inert not in call.inputs.get("rejected_edits", ""):
            return {"failure_summary": "care", "edits": [{"op": "add", "target": "Rules", "content": inert}]}
        return good(call)

    target, reflection = fake_lm(target_handler), fake_lm(reflector)
    settings = {"batch_size": 3, "epochs": 1, "learning_rate": 2, "num_threads": 1, "progress": False}
    with dspy.context(lm=target):
        compiled = SkillOpt(metric=group_metric, reflection_lm=reflection, **settings).compile(
            WordGroup(), trainset=TRAIN, valset=VAL
        )
    res = compiled.detailed_results
    first = res.history[0]
    assert [e["content"] for e in first.applied] == [inert] and first.gate["stage"] == "batch"
    assert first.batch_changed == 0 and not first.accepted
    hinted = [
        c.inputs["rejected_edits"] for c in engine_of(reflection).calls if inert in c.inputs.get("rejected_edits", "")
    ]
    assert hinted and all("training batch tied" in h and "it changed no answer" in h for h in hinted)
    assert any("changed no answer" in row["fate"] for row in step_edit_rows(first))
    # Candidates that acted on their batch count the answers they changed.
    acted = [s for s in res.history if s.gate and s.gate["stage"] == "validation"]
    assert acted and all(s.batch_changed and s.batch_changed > 0 for s in acted)
