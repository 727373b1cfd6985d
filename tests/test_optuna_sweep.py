"""A hand-written Optuna objective over SkillOpt's step events: the pattern ``skillopt_dspy.sweep`` is built on."""

import dspy
import optuna
import pytest

from skillopt_dspy import SkillOpt, SkillOptCallback
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())


class ReportToOptuna(SkillOptCallback):
    """Reports the validation score after every step; prunes when Optuna says so."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_step_end(self, record):
        self.trial.report(record.val_score, step=record.step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {record.step}")


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_int("learning_rate", 1, 4)
    batch = trial.suggest_categorical("batch_size", [3, 6])
    target, reflection = fake_lm(target_handler, name="fake/t"), fake_lm(rule_reflector(), name="fake/r")
    with dspy.context(lm=target):
        opt = SkillOpt(
            metric=group_metric,
            reflection_lm=reflection,
            learning_rate=lr,
            batch_size=batch,
            epochs=1,
            num_threads=2,
            progress=False,
            callbacks=[ReportToOptuna(trial)],
            gate_test="strict",  # a one-word gain on the toy valset must pass: the strict gate
        )
        compiled = opt.compile(WordGroup(), trainset=TRAIN, valset=VAL)
    return compiled.detailed_results.best_val_score


def test_a_sweep_reports_every_step_and_finds_a_setting_that_learns(caplog):
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.GridSampler({"learning_rate": [1, 4], "batch_size": [3, 6]})
    )
    study.optimize(objective, n_trials=4)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 4
    for t in complete:
        steps = len(TRAIN) // t.params["batch_size"]
        assert sorted(t.intermediate_values) == list(range(steps))  # one report per step
        # the returned skill is the best seen: at least every step's score (the epoch's slow update may add)
        assert t.value >= max(t.intermediate_values.values())
    assert study.best_value == 1.0
    # DSPy also calls an optimizer's callbacks on compile: SkillOptCallback handles those events quietly
    assert "Error when calling callback" not in caplog.text


class PruneAfterFirstStep(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return bool(trial.intermediate_values)


def test_a_pruned_trial_stops_the_run_at_a_step_boundary():
    study = optuna.create_study(direction="maximize", pruner=PruneAfterFirstStep())
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]


def test_trial_pruned_propagates_to_a_direct_caller():
    study = optuna.create_study(pruner=PruneAfterFirstStep())
    with pytest.raises(optuna.TrialPruned):
        objective(study.ask())


def test_a_callback_that_is_not_one_is_refused_before_any_call():
    class Duck:
        def on_step_end(self, record):
            pass

    with pytest.raises(TypeError, match="SkillOptCallback"):
        SkillOpt(metric=group_metric, callbacks=[Duck()])


def test_a_dspy_callback_receives_the_compile_events():
    class CompileWatcher(dspy.utils.callback.BaseCallback):
        def __init__(self):
            self.events = []

        def on_compile_start(self, call_id, instance, inputs):
            self.events.append("start")

        def on_compile_end(self, call_id, outputs, exception=None):
            self.events.append("end")

    watcher = CompileWatcher()
    target, reflection = fake_lm(target_handler, name="fake/t"), fake_lm(rule_reflector(), name="fake/r")
    with dspy.context(lm=target):
        opt = SkillOpt(metric=group_metric, reflection_lm=reflection, epochs=1, progress=False, callbacks=[watcher])
        opt.compile(WordGroup(), trainset=TRAIN, valset=VAL)
    assert watcher.events == ["start", "end"]
