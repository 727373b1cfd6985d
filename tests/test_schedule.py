import pytest

from skillopt_dspy.schedule import edit_budget


def test_constant():
    assert [edit_budget(t, 4, learning_rate=3) for t in range(4)] == [3, 3, 3, 3]


@pytest.mark.parametrize("scheduler", ["linear", "cosine"])
def test_decays_from_lr_to_min(scheduler):
    values = [edit_budget(t, 10, learning_rate=8, min_learning_rate=2, scheduler=scheduler) for t in range(10)]
    assert values[0] == 8 and values[-1] == 2
    assert values == sorted(values, reverse=True)


def test_never_below_one_and_single_step():
    assert edit_budget(0, 1, learning_rate=5, scheduler="cosine") == 5
    assert edit_budget(9, 10, learning_rate=1, min_learning_rate=1, scheduler="linear") == 1


def test_unknown_scheduler():
    with pytest.raises(ValueError, match="lr_scheduler must be one of"):
        edit_budget(0, 3, learning_rate=2, scheduler="step")
