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


def test_a_run_that_only_repeats_itself_stops_instead_of_spinning_under_a_metric_call_budget(tmp_path):
    # With a log_dir, rollouts and candidates already scored come from the cache. Once the reflection LM
    # only proposes what was tried, a step costs no metric call, so max_metric_calls alone would never
    # end a 1000-epoch run (it spun for minutes on reflection calls): an epoch that scored nothing new
    # and kept the skill ends it, with its reason.
    # (max_lm_calls only so that a regression fails here instead of hanging)
    compiled, _ = compile_budgeted(
        WordGroup(), log_dir=tmp_path / "run", epochs=1000, max_metric_calls=500, max_lm_calls=1500
    )
    res = compiled.detailed_results
    assert res.stop_reason.startswith("stalled: epoch "), res.stop_reason
    assert res.total_metric_calls < 500
    epochs = res.epochs
    assert 2 <= len(epochs) < 20
    assert epochs[-1].usage["metric_calls"] == epochs[-2].usage["metric_calls"]
    # the same run without the cache (no log_dir) never stalls: it re-rolls and the budget ends it
    fresh, _ = compile_budgeted(WordGroup(), epochs=1000, max_metric_calls=200)
    assert fresh.detailed_results.stop_reason.startswith("budget: max_metric_calls"), fresh.detailed_results.stop_reason
    assert fresh.skill == compiled.skill
