"""Budgets are ceilings: a multi-call program never crosses max_lm_calls, and a budget-stopped run continues
under a larger budget to the same end as one longer run."""

import dspy
import pytest

from skillopt_dspy import SkillOpt
from tests.fakes import WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler, word_examples
from tests.test_faults import history_rows

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill".split())
VAL = word_examples("axe bee cup inn jam key quiz".split())


class CheckedWordGroup(dspy.Module):
    """Two predictors, two LM calls per example: a note on the word, then its group."""

    def __init__(self) -> None:
        super().__init__()
        self.note = dspy.Predict("word -> note")
        self.predict = dspy.Predict("word -> group")

    def forward(self, word: str):
        self.note(word=word)
        return self.predict(word=word)


def two_call_handler(call):
    return {"note": "a word"} if "note" in call.outputs else target_handler(call)


def compile_budgeted(program, handler=target_handler, log_dir=None, **kw):
    target, reflection = fake_lm(handler, name="fake/target"), fake_lm(rule_reflector(), name="fake/reflect")
    settings = {"batch_size": 4, "epochs": 2, "learning_rate": 2, "num_threads": 1, "progress": False, **kw}
    with dspy.context(lm=target):
        opt = SkillOpt(metric=group_metric, reflection_lm=reflection, log_dir=log_dir, **settings)
        compiled = opt.compile(program, trainset=TRAIN, valset=VAL)
    return compiled, len(engine_of(target).calls) + len(engine_of(reflection).calls)


@pytest.mark.parametrize("limit", [60, 100, 150])
def test_a_two_predictor_program_never_crosses_max_lm_calls(limit):
    compiled, calls = compile_budgeted(CheckedWordGroup(), two_call_handler, max_lm_calls=limit)
    res = compiled.detailed_results
    assert res.stop_reason.startswith("budget: max_lm_calls")
    assert calls == sum(res.lm_calls.values()) <= limit
    assert res.history, "the budget allowed at least one step"


def test_a_budget_stopped_run_continues_with_a_larger_budget_and_ends_as_one_longer_run(tmp_path):
    longer, longer_calls = compile_budgeted(WordGroup(), log_dir=tmp_path / "one")

    first, first_calls = compile_budgeted(WordGroup(), log_dir=tmp_path / "run", max_lm_calls=45)
    assert first.detailed_results.stop_reason.startswith("budget: max_lm_calls=45")
    assert 0 < len(first.detailed_results.history) < len(longer.detailed_results.history)

    same, same_calls = compile_budgeted(WordGroup(), log_dir=tmp_path / "run", max_lm_calls=45)
    assert same_calls == 0 and same.skill == first.skill, "the same budget: still spent, nothing to do"

    more, more_calls = compile_budgeted(WordGroup(), log_dir=tmp_path / "run", max_lm_calls=10_000)
    assert more.detailed_results.stop_reason == "completed all epochs"
    assert more.skill == longer.skill
    assert history_rows(tmp_path / "run") == history_rows(tmp_path / "one")
    assert first_calls + more_calls == longer_calls, "no LM call made twice"
    assert sum(more.detailed_results.lm_calls.values()) == longer_calls, "usage counts the whole run"
