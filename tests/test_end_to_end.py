"""End to end on a scripted task: a target that follows the rules in its skill and a reflection LM that
proposes rules from failures (and, once, a harmful edit that the gate must reject)."""

import re

import dspy

from skillopt_dspy import SkillOpt
from tests.fakes import HARMFUL, RULE_RE, WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler
from tests.fakes import word_examples as ex

TRAIN = ex("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = ex("axe bee cup inn jam key quiz rope star".split())


def run(**kw):
    target = fake_lm(target_handler, name="fake/target")
    reflection = fake_lm(rule_reflector(harmful_once=True), name="fake/reflect")
    with dspy.context(lm=target):
        opt = SkillOpt(
            metric=group_metric,
            reflection_lm=reflection,
            batch_size=9,
            epochs=3,
            learning_rate=9,
            num_threads=4,
            progress=False,
            **{"gate_test": "strict", **kw},  # a one-word gain on the toy valset must pass: the strict gate
        )
        compiled = opt.compile(WordGroup(), trainset=TRAIN, valset=VAL)
    return compiled, reflection


def test_validation_rises_to_the_maximum_and_the_harmful_edit_is_rejected():
    compiled, reflection = run()
    res = compiled.detailed_results
    assert res.baseline_val_score == 0.0
    assert res.best_val_score == 1.0
    letters = {m.group(1) for m in RULE_RE.finditer(compiled.skill)}
    assert {"a", "b", "c", "i", "j", "k", "q", "r", "s"} <= letters
    assert HARMFUL not in compiled.skill

    harmful_steps = [s for s in res.history if any(e["content"] == HARMFUL for e in s.applied)]
    assert harmful_steps, "the scripted reflector proposes the harmful edit once per epoch"
    for step in harmful_steps:
        assert step.gate is not None and not step.accepted
        if step.gate["stopped_early"]:  # racing: it could no longer win (with a perfect incumbent, before a call)
            assert "cannot beat" in step.gate["reason"] and step.gate["evaluated"] < len(VAL)
        else:
            assert step.gate["candidate_score"] < step.gate["incumbent_score"]
        assert [e["content"] for e in step.rejected] == [HARMFUL]
    # The rejected-edit buffer is a hint reset each epoch: within an epoch the edit reached the later
    # reflection prompts (with its scores) and was not proposed again; the next epoch starts afresh.
    first = harmful_steps[0]
    same_epoch_later = [s for s in res.history if s.epoch == first.epoch and s.step > first.step]
    assert all(HARMFUL not in str(s.proposed) for s in same_epoch_later)
    later = [c for c in engine_of(reflection).calls if "Always answer gamma" in c.inputs.get("rejected_edits", "")]
    # With its scores: on its training batch (the batch check), or on validation (racing rejects a candidate
    # before any call when the current skill cannot be beaten).
    fates = r"(validation|training batch) fell|validation 1.000 cannot be beaten"
    assert later and all(re.search(fates, c.inputs["rejected_edits"]) for c in later)
    assert len({s.epoch for s in harmful_steps}) == len(harmful_steps)  # at most once per epoch

    # Scores never go down; every accepted step strictly improved validation.
    vals = [s.val_score for s in res.history]
    assert vals == sorted(vals)
    assert all(s.gate["candidate_score"] > s.gate["incumbent_score"] for s in res.history if s.accepted)


def test_the_compiled_program_answers_with_its_skill():
    compiled, _ = run()
    with dspy.context(lm=fake_lm(target_handler)):
        assert compiled(word="kiwi").group == "beta"


class WordGroupStr(dspy.Module):
    """Returns the bare group string, not a dspy.Prediction (as many hand-written programs do)."""

    def __init__(self) -> None:
        super().__init__()
        self.predict = dspy.Predict("word -> group")

    def forward(self, word: str) -> str:
        return self.predict(word=word).group


def test_a_program_returning_a_str_trains_end_to_end(tmp_path):
    got = []

    def str_metric(example, prediction, trace=None):
        got.append(type(prediction))
        return prediction == example.group

    target, reflection = fake_lm(target_handler), fake_lm(rule_reflector())
    with dspy.context(lm=target):
        opt = SkillOpt(
            metric=str_metric,
            reflection_lm=reflection,
            batch_size=9,
            epochs=2,
            progress=False,
            log_dir=tmp_path,
            gate_test="strict",  # a one-word gain on the toy valset must pass: the strict gate
        )
        compiled = opt.compile(WordGroupStr(), trainset=TRAIN, valset=VAL)
    assert set(got) == {str}, "the metric gets the program's return value as is"
    assert compiled.detailed_results.best_val_score == 1.0
    assert compiled.detailed_results.epochs[0].slow_update is not None
    shown = [c.inputs["evidence"] for c in engine_of(reflection).calls if "evidence" in c.inputs]
    assert any("output: " in t for t in shown), "the reflection prompt shows the str output"


def test_replace_insert_after_and_delete_edits_flow_through_select_update_and_gate():
    wrong = '## Rules\n- Always answer gamma.\n- Words starting with "a" are gamma.\n'

    def fixer(call):
        if "proposals" in call.inputs:  # aggregation: keep every proposal
            return rule_reflector()(call)
        skill = call.inputs.get("skill", "")
        if "Always answer gamma" not in skill:
            return {"failure_summary": "fixed", "edits": []}
        edits = [
            {"op": "delete", "target": "- Always answer gamma."},
            {"op": "replace", "target": '"a" are gamma', "content": '"a" are alpha'},  # a two-word fix
            {"op": "insert_after", "target": "## Rules", "content": '- Words starting with "b" are alpha.'},
        ]
        return {"failure_summary": "a wrong rule and a harmful one", "edits": edits}

    target = fake_lm(target_handler, name="fake/target")
    reflection = fake_lm(fixer, name="fake/reflect")
    with dspy.context(lm=target):
        compiled = SkillOpt(
            metric=group_metric,
            reflection_lm=reflection,
            batch_size=6,
            epochs=1,
            learning_rate=3,
            num_threads=2,
            progress=False,
            use_slow_update=False,
            initial_skill=wrong,
            gate_test="strict",  # a one-word gain on the toy valset must pass: the strict gate
        ).compile(WordGroup(), trainset=ex("apple bird sun axe bee rock".split()), valset=ex("ant bat sea".split()))
    step = compiled.detailed_results.history[0]
    assert [(r["edit"]["op"], r["applied"]) for r in step.apply_reports] == [
        ("delete", True),
        ("replace", True),
        ("insert_after", True),
    ]
    assert step.accepted and not step.dropped
    assert compiled.skill == '## Rules\n- Words starting with "b" are alpha.\n- Words starting with "a" are alpha.\n'
