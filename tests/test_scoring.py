import math

import dspy
import pytest

from skillopt_dspy.scoring import MetricError, Score, check_metric, gate_value, normalize_score


def test_bool_and_float():
    assert normalize_score(True) == Score(1.0, 1.0)
    assert normalize_score(False) == Score(0.0, 0.0)
    assert normalize_score(0.7, pass_threshold=0.7) == Score(1.0, 0.7)
    assert normalize_score(0.69, pass_threshold=0.7) == Score(0.0, 0.69)
    assert normalize_score(1) == Score(1.0, 1.0)


def test_prediction_and_mapping():
    assert normalize_score(dspy.Prediction(score=0.5, feedback="half")) == Score(0.0, 0.5, "half")
    assert normalize_score({"hard": 1, "soft": 0.8}) == Score(1.0, 0.8, "")
    assert normalize_score({"soft": 1.0}) == Score(1.0, 1.0, "")
    assert normalize_score({"hard": True}) == Score(1.0, 1.0, "")


@pytest.mark.parametrize("bad", [None, "yes", [1], dspy.Prediction(feedback="no score"), math.nan, {"score": "x"}])
def test_non_scores_raise(bad):
    with pytest.raises(MetricError):
        normalize_score(bad)


def test_gate_value_modes_are_unrounded_means():
    scores = [Score(1, 1), Score(0, 0.5), Score(0, 0.2)]
    assert gate_value(scores, "hard") == pytest.approx(1 / 3)
    assert gate_value(scores, "soft") == pytest.approx(1.7 / 3)
    assert gate_value(scores, "mixed", 0.25) == pytest.approx(0.75 / 3 + 0.25 * 1.7 / 3)
    assert gate_value([], "hard") == 0.0
    with pytest.raises(ValueError, match="gate must be one of"):
        gate_value(scores, "median")


def test_check_metric_arity():
    check_metric(lambda example, prediction, trace=None: 1)
    check_metric(lambda example, prediction: 1)
    check_metric(lambda *args: 1)
    with pytest.raises(TypeError, match="must accept"):
        check_metric(lambda example: 1)
    with pytest.raises(TypeError, match="callable"):
        check_metric("exact_match")
