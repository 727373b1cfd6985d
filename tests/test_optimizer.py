import dataclasses
import logging

import dspy
import pytest

from skillopt_dspy import SkillOpt, SkillOptResult, apply_skill, extract_skill
from tests.fakes import (
    RULE_RE,
    WordGroup,
    engine_of,
    fake_lm,
    group_metric,
    rule_for,
    rule_reflector,
    target_handler,
    word_examples,
)

TRAIN = word_examples("apple igloo queen banana jelly river cat kite sun dog lemon tree".split())
VAL = word_examples("axe bee cup ink jam key quiz rope star".split())


def lms():
    return fake_lm(target_handler, name="fake/target"), fake_lm(rule_reflector(), name="fake/reflect")


def compile_quick(program=None, trainset=TRAIN, valset=VAL, **kw):
    target, reflection = lms()
    kw = {"batch_size": 6, "epochs": 1, "learning_rate": 8, "num_threads": 2, "progress": False, **kw}
    with dspy.context(lm=target):
        opt = SkillOpt(metric=group_metric, reflection_lm=reflection, **kw)
        return opt.compile(program or WordGroup(), trainset=trainset, valset=valset)


def test_contract_same_class_student_untouched_skill_and_results():
    student = WordGroup()
    before = student.predict.signature.instructions
    compiled = compile_quick(student)
    assert type(compiled) is WordGroup and compiled is not student
    assert student.predict.signature.instructions == before
    assert RULE_RE.search(compiled.skill)
    assert extract_skill(compiled) == compiled.skill
    res = compiled.detailed_results
    assert isinstance(res, SkillOptResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.best_val_score = 0
    assert res.best_val_score > res.baseline_val_score
    data = res.to_dict()
    assert data["history"][0]["gate"]["accepted"] is True
    assert data["lm_calls"]["target"] > 0 and data["lm_calls"]["reflection"] > 0
    assert {"proposed", "selected", "apply_reports", "gate"} <= set(data["history"][0])


def test_save_and_load_bring_the_skill_back(tmp_path):
    compiled = compile_quick()
    path = tmp_path / "prog.json"
    compiled.save(str(path))
    fresh = WordGroup()
    fresh.load(str(path))
    assert extract_skill(fresh) == compiled.skill
    with dspy.context(lm=fake_lm(target_handler)):
        assert fresh(word="apricot").group == "alpha"


class Pipeline(dspy.Module):
    def __init__(self):
        super().__init__()
        self.first = dspy.Predict("word -> group")
        self.second = dspy.Predict("word -> group")

    def forward(self, word):
        return self.second(word=word)


def test_multi_predictor_one_skill_to_all_or_named():
    both = compile_quick(Pipeline())
    assert extract_skill(both.first) == extract_skill(both.second) == both.skill
    only = compile_quick(Pipeline(), predictors=["second"])
    assert extract_skill(only.first) == "" and extract_skill(only.second) == only.skill


def test_initial_skill_from_text_and_path(tmp_path):
    seed = "## Rules\n" + rule_for("apple") + "\n"
    path = tmp_path / "seed.md"
    path.write_text(seed)
    for given in (seed, str(path)):
        res = compile_quick(initial_skill=given, epochs=1).detailed_results
        assert res.initial_skill == seed
        assert res.baseline_val_score > 0


def test_valset_none_splits_the_trainset_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        compiled = compile_quick(valset=None)
    assert "valset=None" in caplog.text
    assert compiled.detailed_results.history


def test_works_after_another_optimizer_and_inside_bettertogether():
    target, reflection = lms()
    with dspy.context(lm=target):
        fewshot = dspy.LabeledFewShot(k=2).compile(WordGroup(), trainset=TRAIN)
        compiled = SkillOpt(
            metric=group_metric, reflection_lm=reflection, batch_size=6, epochs=1, learning_rate=8, progress=False
        ).compile(fewshot, trainset=TRAIN, valset=VAL)
    assert len(compiled.predict.demos) == 2 and compiled.skill

    student = WordGroup()
    student.set_lm(target)
    opt = SkillOpt(metric=group_metric, reflection_lm=reflection, batch_size=6, epochs=1, progress=False)
    better = dspy.BetterTogether(metric=group_metric, p=opt)
    out = better.compile(student, trainset=TRAIN, valset=VAL, strategy="p")
    assert RULE_RE.search(extract_skill(out))


def test_resulting_program_keeps_its_skill_when_skill_applied_again():
    compiled = compile_quick()
    apply_skill(compiled, compiled.skill)
    assert extract_skill(compiled) == compiled.skill


# ---- bad input: one clear error, before any LM call -------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"learning_rate": 0}, ValueError, "learning_rate must be >= 1"),
        ({"gate": "median"}, ValueError, "gate must be one of"),
        ({"mixed_weight": 1.5}, ValueError, r"mixed_weight must be a number in \[0, 1\]"),
        ({"lr_scheduler": "step"}, ValueError, "lr_scheduler must be one of"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"learning_rate": 2, "min_learning_rate": 3}, ValueError, "must not exceed"),
        ({"initial_skill": "missing/skill.md"}, ValueError, "does not exist"),
        ({"reflection_lm": "gpt-4o"}, TypeError, "reflection_lm must be a dspy.LM"),
    ],
)
def test_bad_knobs(kwargs, error, message):
    with pytest.raises(error, match=message):
        SkillOpt(metric=group_metric, **kwargs)


def test_bad_metric():
    with pytest.raises(TypeError, match="must accept"):
        SkillOpt(metric=lambda example: 1)
    with pytest.raises(TypeError, match="callable"):
        SkillOpt(metric=None)


@pytest.mark.parametrize(
    ("trainset", "valset", "message"),
    [
        ([], VAL, "trainset is empty"),
        (TRAIN, [], "valset is empty"),
        ([dspy.Example(word="a", group="alpha")], VAL, r"trainset\[0\] has no input fields set"),
        (TRAIN, [{"word": "a"}], r"valset\[0\] is a dict, not a dspy.Example"),
        ([TRAIN[0]], None, "at least 2 examples"),
    ],
)
def test_bad_data_fails_before_any_lm_call(trainset, valset, message):
    target, reflection = lms()
    with dspy.context(lm=target), pytest.raises((ValueError, TypeError), match=message):
        SkillOpt(metric=group_metric, reflection_lm=reflection).compile(WordGroup(), trainset=trainset, valset=valset)
    assert engine_of(target).calls == [] and engine_of(reflection).calls == []


def test_no_lm_configured_is_a_clear_error():
    with pytest.raises(ValueError, match="no LM for the program"):
        SkillOpt(metric=group_metric).compile(WordGroup(), trainset=TRAIN, valset=VAL)


def test_unknown_predictor_name_fails_early():
    target, _ = lms()
    with dspy.context(lm=target), pytest.raises(ValueError, match="predictors= names 'nope'"):
        SkillOpt(metric=group_metric, predictors=["nope"]).compile(WordGroup(), trainset=TRAIN, valset=VAL)
    assert engine_of(target).calls == []


def test_metric_that_raises_is_counted_and_reported():
    def fragile(example, prediction, trace=None):
        if example.word == "cup":
            raise ZeroDivisionError("boom")
        return group_metric(example, prediction)

    target, reflection = lms()
    with dspy.context(lm=target):
        res = SkillOpt(
            metric=fragile, reflection_lm=reflection, batch_size=6, epochs=1, learning_rate=8, progress=False
        ).compile(WordGroup(), trainset=TRAIN, valset=VAL)
    assert res.detailed_results.faults["metric_error"] >= 1
