"""``skillopt_dspy.sweep``: the best of a known space, pruning, bad input, a killed worker, shared studies."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dspy
import optuna
import pytest
from optuna.trial import TrialState

from skillopt_dspy import SkillOptCallback, sweep
from skillopt_dspy.sweep_report import pruning_savings, trials_table, write_plots
from tests.fakes import WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler, word_examples
from tests.sweep_run import GRACE_S, STUDY

ROOT = Path(__file__).resolve().parents[1]
TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())
# One epoch of 3 steps; each accepted step adds at most learning_rate first-letter rules (9 letters in all).
FIXED = {"batch_size": 6, "epochs": 1, "use_slow_update": False, "use_meta_skill": False, "num_threads": 2}
FIXED["gate_test"] = "strict"  # a one-word gain on the toy valset must pass: the strict gate
LR_SPACE = {"learning_rate": [1, 2, 3, 4]}


def lms():
    return fake_lm(target_handler, name="fake/target"), fake_lm(rule_reflector(), name="fake/reflect")


def run_sweep(**kwargs):
    target, reflection = lms()
    options = {"n_trials": 4, "search_space": LR_SPACE, "lm": target, "reflection_lm": reflection, **FIXED}
    options.update(kwargs)
    return sweep(WordGroup(), TRAIN, VAL, group_metric, **options)


def test_a_sweep_finds_the_best_setting_of_a_space_whose_answer_is_known(tmp_path):
    # Two steps of 9 examples, each adding at most learning_rate first-letter rules: only learning_rate=5 can
    # teach all 9 letters; 1 and 3 stop at 2 and 6 of them.
    space = {"learning_rate": [1, 3, 5]}
    result = run_sweep(
        search_space=space,
        n_trials=3,
        batch_size=9,
        sampler=optuna.samplers.GridSampler(space, seed=1),
        pruner=optuna.pruners.NopPruner(),
        log_dir=tmp_path / "sweep",
    )
    values = {t.params["learning_rate"]: t.value for t in result.study.trials}
    assert values == pytest.approx({1: 2 / 9, 3: 6 / 9, 5: 1.0})
    assert result.best_params == {"learning_rate": 5} and result.best_value == 1.0
    # The best program carries the best skill and scores 1.0 on the valset.
    program = result.best_program
    assert program.skill == result.best_skill and result.best_skill.count("Words starting") == 9
    with dspy.context(lm=fake_lm(target_handler, name="fake/target")):
        assert all(group_metric(ex, program(word=ex.word)).score == 1.0 for ex in VAL)
    # One report per step, and each trial's run in its own directory.
    for trial in result.study.trials:
        assert sorted(trial.intermediate_values) == [0, 1]
        state = json.loads((tmp_path / "sweep" / f"trial-{trial.number}" / "state.json").read_text())
        assert state["fingerprint"]["learning_rate"] == trial.params["learning_rate"]
    assert "best" in trials_table(result.study)


def test_weak_trials_are_pruned_at_a_step_boundary_and_the_calls_they_saved_are_counted(tmp_path):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="pruned", direction="maximize")
    for lr in (4, 3, 1, 2):  # two strong trials complete first: the median pruner then judges the weak ones
        study.enqueue_trial({"learning_rate": lr})
    result = run_sweep(storage=storage, study_name="pruned", log_dir=tmp_path / "sweep")
    by_lr = {t.params["learning_rate"]: t for t in result.study.trials}
    assert [by_lr[lr].state for lr in (4, 3)] == [TrialState.COMPLETE] * 2
    for lr in (1, 2):
        weak = by_lr[lr]
        assert weak.state == TrialState.PRUNED
        # The default pruner never judges step 0; step 1 is the first judged, and the run stopped right there.
        assert weak.user_attrs["pruned_at_step"] == 1 and sorted(weak.intermediate_values) == [0, 1]
        run_dir = tmp_path / "sweep" / f"trial-{weak.number}"
        assert json.loads((run_dir / "state.json").read_text())["next_step"] == 2  # its last step was saved
        assert not (run_dir / "summary.json").exists()
        assert weak.user_attrs["lm_calls"] < by_lr[4].user_attrs["lm_calls"]
    saved = pruning_savings(result.study)
    assert saved["pruned_trials"] == 2
    assert saved["lm_calls_used"] == by_lr[1].user_attrs["lm_calls"] + by_lr[2].user_attrs["lm_calls"]
    assert saved["lm_calls_saved"] > 0
    assert "pruned after step 1" in trials_table(result.study)


def test_threads_of_one_process_share_the_study_without_losing_or_repeating_a_trial(tmp_path):
    target = fake_lm(target_handler, latency=0.005, name="fake/target")
    result = run_sweep(lm=target, workers=3, n_trials=5, pruner=optuna.pruners.NopPruner(), log_dir=tmp_path / "s")
    trials = result.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert sorted(p.name for p in (tmp_path / "s").glob("trial-*")) == [f"trial-{n}" for n in range(5)]


def test_the_default_space_is_learning_rate_and_batch_size():
    target, reflection = lms()
    fixed = {k: v for k, v in FIXED.items() if k != "batch_size"}
    result = sweep(WordGroup(), TRAIN, VAL, group_metric, n_trials=2, lm=target, reflection_lm=reflection, **fixed)
    assert set(result.best_params) == {"learning_rate", "batch_size"}
    assert result.best_trial.distributions["batch_size"].choices == (4, 8, 16)  # 32 exceeds the 18 examples


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"search_space": {}}, "search_space is empty"),
        ({"search_space": {"temperature": [0, 1]}}, "'temperature' is not a SkillOpt knob"),
        ({"search_space": {"learning_rate": {"low": 4, "high": 1}}}, "low <= high"),
        ({"search_space": {"gate": ["hard", "median"]}}, "'gate': 'median'"),
        ({"search_space": {"learning_rate": [1, 2]}, "min_learning_rate": 2}, "min_learning_rate"),
        ({"search_space": {"learning_rate": [1, 2]}, "learning_rate": 3}, "both swept"),
        ({"n_trials": 0}, "n_trials must be a positive int"),
        ({"storage": "sweep.db"}, "not a database URL"),
        ({"storage": "sqlite:////nonexistent-dir/x/sweep.db"}, "cannot be opened"),
    ],
)
def test_bad_input_is_one_clear_error_before_any_lm_call(options, message):
    target, reflection = lms()
    options = {"n_trials": 2, "lm": target, "reflection_lm": reflection, **options}
    with pytest.raises(ValueError, match=message):
        sweep(WordGroup(), TRAIN, VAL, group_metric, **options)
    assert engine_of(target).calls == [] and engine_of(reflection).calls == []


def test_an_unreachable_database_is_named_without_its_password():
    target, _ = lms()
    with pytest.raises(ValueError, match=r"cannot be opened|driver is missing") as err:
        sweep(
            WordGroup(),
            TRAIN,
            VAL,
            group_metric,
            n_trials=1,
            lm=target,
            storage="postgresql+psycopg://u:secret@127.0.0.1:1/db",
        )
    assert "127.0.0.1" in str(err.value) and "secret" not in str(err.value)
    assert engine_of(target).calls == []


def test_a_study_with_another_direction_or_space_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    optuna.create_study(storage=url, study_name="min", direction="minimize")
    with pytest.raises(ValueError, match="direction minimize"):
        run_sweep(storage=url, study_name="min")
    run_sweep(storage=url, study_name="s", n_trials=1, search_space={"learning_rate": [1, 2]})
    target, reflection = lms()
    with pytest.raises(ValueError, match="was started with the search space"):
        run_sweep(storage=url, study_name="s", lm=target, reflection_lm=reflection, search_space={"learning_rate": [3]})
    assert engine_of(target).calls == []


def test_a_log_dir_that_holds_another_sweep_is_refused(tmp_path):
    run_sweep(n_trials=1, log_dir=tmp_path / "s")
    with pytest.raises(ValueError, match="in-memory study cannot resume"):
        run_sweep(n_trials=1, log_dir=tmp_path / "s")


def test_a_sqlite_study_resumes_and_a_finished_one_runs_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    run_sweep(storage=url, n_trials=2, log_dir=tmp_path / "s")
    target, reflection = lms()
    result = run_sweep(storage=url, n_trials=3, log_dir=tmp_path / "s", lm=target, reflection_lm=reflection)
    assert len(result.study.trials) == 3  # two kept, one more run
    calls = len(engine_of(target).calls)
    again = run_sweep(storage=url, n_trials=3, log_dir=tmp_path / "s", lm=target, reflection_lm=reflection)
    assert len(again.study.trials) == 3 and len(engine_of(target).calls) == calls
    # The best program comes back from the skill kept on the study, though this process ran no trial.
    assert again.best_program.skill == again.best_skill == again.best_trial.user_attrs["skill"]


def test_a_trial_stopped_by_ctrl_c_is_queued_and_the_next_run_resumes_it(tmp_path):
    class CtrlCAfterStep1(SkillOptCallback):
        def on_step_end(self, record):
            if record.step == 1:
                raise KeyboardInterrupt

    url, log_dir = f"sqlite:///{tmp_path / 'sweep.db'}", tmp_path / "sweep"
    options = {"storage": url, "n_trials": 2, "log_dir": log_dir, "pruner": optuna.pruners.NopPruner()}
    with pytest.raises(KeyboardInterrupt):
        run_sweep(callbacks=[CtrlCAfterStep1()], **options)
    result = run_sweep(**options)
    first, *rest = result.study.trials
    assert first.state == TrialState.FAIL
    retry = next(t for t in rest if t.system_attrs.get("failed_trial") == 0)
    assert retry.state == TrialState.COMPLETE and retry.params == first.params
    assert retry.user_attrs["resumed_at_step"] == 2  # steps 0 and 1 were saved before the interrupt
    assert steps_in(log_dir / "trial-0") == [0, 1, 2]
    assert [t.state for t in result.study.trials].count(TrialState.COMPLETE) == 2


def test_importance_needs_two_completed_trials_and_says_so(tmp_path):
    result = run_sweep(n_trials=1)
    lines = write_plots(result.study, tmp_path)
    assert (tmp_path / "optimization_history.png").stat().st_size > 0
    assert any("need at least 2 completed trials" in line for line in lines)
    assert not (tmp_path / "param_importances.png").exists()


def steps_in(run_dir: Path) -> list[int]:
    records = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if r["kind"] == "step"]


def sweep_process(url, log_dir, n_trials, kill_at):
    return subprocess.run(
        [sys.executable, "-m", "tests.sweep_run", url, str(log_dir), str(n_trials), str(kill_at)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_sqlite_study_resumes_the_trial_of_a_killed_process_from_its_run_directory(tmp_path):
    url, log_dir = f"sqlite:///{tmp_path / 'sweep.db'}", tmp_path / "sweep"
    # 6 + 9 target calls per step (batch and valset) after a 9-call baseline: call 30 is inside step 2.
    killed = sweep_process(url, log_dir, 2, kill_at=30)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    study = optuna.load_study(study_name=STUDY, storage=url)
    assert [t.state for t in study.trials] == [TrialState.RUNNING]  # the dead worker left it RUNNING
    assert json.loads((log_dir / "trial-0" / "state.json").read_text())["next_step"] == 1

    started = time.monotonic()
    again = sweep_process(url, log_dir, 2, kill_at=0)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name=STUDY, storage=url)
    states = {t.number: t for t in study.trials}
    assert states[0].state == TrialState.FAIL  # failed by the heartbeat once GRACE_S passed without one
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == 0)
    assert retry.state == TrialState.COMPLETE and retry.params == states[0].params
    assert retry.user_attrs["resumed_at_step"] == 1  # resumed from trial-0's checkpoint, not from scratch
    assert sorted(retry.intermediate_values) == [0, 1, 2]  # step 0 kept from the dead attempt
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 2  # n_trials, none lost
    attempts = [json.loads(x) for x in (log_dir / "trial-0" / "attempts.jsonl").read_text().splitlines()]
    assert [a["trial"] for a in attempts] == [0, retry.number]
    assert steps_in(log_dir / "trial-0") == [0, 1, 2]
    assert time.monotonic() - started >= GRACE_S


def write_cli_config(tmp_path: Path) -> Path:
    from tests.test_cli import write_split_dir

    split_dir = write_split_dir(tmp_path / "data")
    config = tmp_path / "sweep.yaml"
    config.write_text(
        f"""
model: {{lm: tests.sweep_run:target, reflection_lm: tests.sweep_run:reflector, lm_kwargs: {{latency: 0.03}}}}
data: {{split_dir: {split_dir}}}
optimizer: {{use_slow_update: false, use_meta_skill: false, gate_test: strict}}
train: {{batch_size: 6, epochs: 1, num_threads: 2}}
run: {{progress: false}}
sweep:
  search_space: {{learning_rate: {{low: 1, high: 4}}}}
  pruner: none
  heartbeat_interval: 1
"""
    )
    return config


def two_workers_share_one_study(tmp_path: Path, url: str, study_name: str) -> None:
    """The same command in two processes: the study ends with exactly n_trials, each run once."""
    config, log_dir = write_cli_config(tmp_path), tmp_path / "sweep"
    command = [sys.executable, "-m", "skillopt_dspy.cli", "sweep", "--config", str(config), "--n-trials", "6"]
    command += ["--storage", url, "--study-name", study_name, "--log-dir", str(log_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    workers = [subprocess.Popen(command, cwd=ROOT, env=env, **pipes) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
        assert "best skill:" in out
    study = optuna.load_study(study_name=study_name, storage=url)
    ran = [t for t in study.trials if not t.user_attrs.get("skipped")]
    assert [t.state for t in ran] == [TrialState.COMPLETE] * 6
    assert all(t.state == TrialState.FAIL for t in study.trials if t.user_attrs.get("skipped"))
    # Each trial ran exactly once, in its own directory; both workers took trials.
    for t in ran:
        attempts = (log_dir / f"trial-{t.number}" / "attempts.jsonl").read_text().splitlines()
        assert [json.loads(a)["trial"] for a in attempts] == [t.number]
        assert steps_in(log_dir / f"trial-{t.number}") == [0, 1, 2]
    assert len({t.user_attrs["worker"] for t in ran}) == 2
    # The files name the study's best trial, whichever worker wrote last (how much a trial learns depends on
    # the learning rates the two samplers happened to draw: it is no check of the files).
    best = study.best_trial.number
    assert (log_dir / "best_skill.md").read_text() == (log_dir / f"trial-{best}" / "best_skill.md").read_text()
    assert (log_dir / "best_skill.md").read_text().count("Words starting") >= 3


def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    two_workers_share_one_study(tmp_path, f"sqlite:///{tmp_path / 'sweep.db'}", "shared")


def test_two_worker_processes_share_one_postgresql_study(tmp_path):
    url = os.environ.get("SKILLOPT_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run this test: .ci/run starts PostgreSQL and sets SKILLOPT_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL server: set SKILLOPT_TEST_POSTGRES_URL (.ci/run starts one on loopback)")
    two_workers_share_one_study(tmp_path, url, f"shared-{os.getpid()}-{time.time_ns()}")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--n-trials"),
        (["--n-trials", "2", "--cfg-options", "sweep.search_space.gate=[hard, median]"], "'gate': 'median'"),
        (["--n-trials", "2", "--storage", "sweep.db"], "not a database URL"),
        (["--n-trials", "9", "--cfg-options", "sweep.sampler=grid"], "exceeds the 4 points of the grid"),
        (["--n-trials", "2", "--workers", "0"], "sweep.workers: Input should be greater than or equal to 1"),
    ],
)
def test_the_command_line_refuses_bad_input_with_exit_code_2(tmp_path, capsys, extra, message):
    from skillopt_dspy.cli import main

    config = write_cli_config(tmp_path)
    assert main(["sweep", "--config", str(config), "--log-dir", str(tmp_path / "s"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s" / "trial-0").exists()
