import dspy
import pytest

from skillopt_dspy.budget import Usage
from skillopt_dspy.parallel import Runner
from skillopt_dspy.stages.rollout import ErrorLimit, TooManyErrorsError, rollout
from tests.fakes import WordGroup, fake_lm, group_metric, target_handler, word_examples


class Flaky(dspy.Module):
    def __init__(self):
        super().__init__()
        self.inner = WordGroup()

    def forward(self, word):
        if word.startswith("x"):
            raise RuntimeError(f"cannot handle {word}")
        return self.inner(word=word)


def test_rollout_scores_each_example_in_order_and_counts_calls():
    lm = fake_lm(target_handler)
    usage = Usage()
    with Runner(4, usage) as runner:
        trajs = rollout(
            WordGroup(), word_examples(["apple", "igloo", "queen"]), metric=group_metric, runner=runner, lm=lm
        )
    assert [t.example.word for t in trajs] == ["apple", "igloo", "queen"]
    assert all(t.failed and "expected" in t.score.feedback for t in trajs)
    assert usage.lm_calls == {"target": 3} and usage.metric_calls == 3
    assert usage.tokens["target"] > 0


def test_program_errors_are_failures_with_the_error_and_counted():
    usage = Usage()
    with Runner(2, usage) as runner:
        trajs = rollout(
            Flaky(), word_examples(["xenon", "apple"]), metric=group_metric, runner=runner, lm=fake_lm(target_handler)
        )
    assert trajs[0].error_kind == "program" and "cannot handle xenon" in trajs[0].error
    assert trajs[0].score.hard == 0.0 and "program failed" in trajs[0].score.feedback
    assert trajs[1].error is None
    assert usage.faults == {"program_error": 1}


def test_more_than_max_errors_stops_with_a_clear_error():
    limit = ErrorLimit(1)
    with Runner(2, Usage()) as runner, pytest.raises(TooManyErrorsError, match="max_errors=1"):
        rollout(
            Flaky(),
            word_examples(["xenon", "xylophone"]),
            metric=group_metric,
            runner=runner,
            lm=fake_lm(target_handler),
            error_limit=limit,
        )


def test_metric_that_raises_or_returns_garbage_is_counted_not_silent():
    def bad_metric(example, prediction, trace=None):
        if example.word == "apple":
            raise KeyError("label")
        return "great"

    usage = Usage()
    with Runner(2, usage) as runner:
        trajs = rollout(
            WordGroup(), word_examples(["apple", "igloo"]), metric=bad_metric, runner=runner, lm=fake_lm(target_handler)
        )
    assert [t.error_kind for t in trajs] == ["metric", "metric"]
    assert "the metric raised KeyError" in trajs[0].error
    assert "the metric returned str" in trajs[1].error
    assert usage.faults == {"metric_error": 2}


def test_unparseable_output_is_a_parse_failure():
    lm = fake_lm(lambda call: "no fields here at all")
    usage = Usage()
    with Runner(1, usage) as runner:
        (traj,) = rollout(WordGroup(), word_examples(["apple"]), metric=group_metric, runner=runner, lm=lm)
    assert traj.error_kind == "parse" and traj.failed
    assert usage.faults == {"parse_error": 1}


class StrWord(dspy.Module):
    """A program whose forward returns a plain str, not a dspy.Prediction."""

    def __init__(self):
        super().__init__()
        self.inner = WordGroup()

    def forward(self, word):
        return self.inner(word=word).group


def test_prediction_fields_renders_any_return_value():
    from dataclasses import dataclass

    import pydantic

    from skillopt_dspy.stages.rollout import prediction_fields

    class Out(pydantic.BaseModel):
        group: str

    @dataclass
    class DOut:
        group: str

    pred = dspy.Prediction(group="beta", _hidden=1)
    assert prediction_fields(pred) == {"group": "beta"}
    assert prediction_fields(dspy.Example(group="beta")) == {"group": "beta"}
    assert prediction_fields({"group": "beta"}) == {"group": "beta"}
    assert prediction_fields(Out(group="beta")) == {"group": "beta"}
    assert prediction_fields(DOut(group="beta")) == {"group": "beta"}
    assert prediction_fields("beta") == {"output": "beta"}
    assert prediction_fields(3) == {"output": 3}


def test_a_str_returning_program_is_scored_as_is_and_stored_json_safe(tmp_path):
    from skillopt_dspy.state import EvalStore

    seen = []

    def str_metric(example, prediction, trace=None):
        seen.append(prediction)
        return prediction == example.group

    store = EvalStore(tmp_path / "evals.jsonl")
    with Runner(2, Usage()) as runner:
        trajs = rollout(
            StrWord(),
            word_examples(["apple"]),
            metric=str_metric,
            runner=runner,
            lm=fake_lm(lambda call: {"group": "alpha"}),
            store=store,
            skill_key="s",
        )
    store.close()
    assert seen == ["alpha"] and trajs[0].score.hard == 1.0 and trajs[0].prediction == "alpha"
    again = EvalStore(tmp_path / "evals.jsonl")
    with Runner(1, Usage()) as runner:
        (back,) = rollout(
            StrWord(), word_examples(["apple"]), metric=str_metric, runner=runner, lm=None, store=again, skill_key="s"
        )
    assert back.score.hard == 1.0 and dict(back.prediction.items()) == {"output": "alpha"}


def test_a_program_returning_none_is_scored_by_the_metric():
    class Nothing(dspy.Module):
        def forward(self, word):
            return None

    with Runner(1, Usage()) as runner:
        (traj,) = rollout(
            Nothing(), word_examples(["apple"]), metric=lambda e, p, t=None: p is None, runner=runner, lm=None
        )
    assert traj.error is None and traj.score.hard == 1.0
