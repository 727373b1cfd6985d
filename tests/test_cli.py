"""The command line end to end: train then eval in subprocesses, with fake LMs passed as module:factory."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from skillopt_dspy.cli import main
from skillopt_dspy.config import load_config
from tests.fakes import group_of

ROOT = Path(__file__).resolve().parents[1]
WORDS = {
    "train": "apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split(),
    "valid": "axe bee cup inn jam key quiz rope star".split(),
    "test": "arm bus cab ice jaw kid quay ram saw".split(),
}
FAKES = ["--lm", "tests.cli_fakes:target", "--reflection-lm", "tests.cli_fakes:reflector"]
# Like the installed `skillopt-dspy` script: -I keeps the current directory off sys.path.
# -I keeps the user's environment out; the checkout under test goes first on the path (not an installed copy).
SCRIPT = (
    f"import sys; sys.path.insert(0, {str(ROOT)!r}); from skillopt_dspy.cli import main; sys.exit(main(sys.argv[1:]))"
)


def write_split_dir(root: Path) -> Path:
    """SkillOpt's data layout: split_dir/{train,valid,test}.jsonl with input and expected_output."""
    root.mkdir(parents=True)
    for split, words in WORDS.items():
        lines = [
            json.dumps({"id": f"{split}-{i}", "input": w, "expected_output": group_of(w)}) for i, w in enumerate(words)
        ]
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def skillopt_config(path: Path, split_dir: Path) -> Path:
    """A config in microsoft SkillOpt's format (sections model/train/gradient/optimizer/evaluation/env)."""
    path.write_text(
        f"""
model:
  backend: openai_chat
  target: gpt-4o-mini
  optimizer: gpt-4o
  reasoning_effort: medium
train:
  num_epochs: 2
  batch_size: 6
  seed: 42
gradient:
  minibatch_size: 4
  merge_batch_size: 4
optimizer:
  learning_rate: 8
  lr_scheduler: linear
  min_learning_rate: 2
  use_slow_update: false
  use_meta_skill: true
evaluation:
  use_gate: true
  gate_metric: hard
env:
  split_mode: split_dir
  split_dir: {split_dir}
"""
    )
    return path


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-c", SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_train_then_eval_a_skillopt_config_and_split_dir(tmp_path):
    split_dir = write_split_dir(tmp_path / "data")
    config = skillopt_config(tmp_path / "skillopt.yaml", split_dir)
    run = tmp_path / "run"
    options = ["--cfg-options", "train.num_threads=2", "optimizer.gate_test=strict"]  # a one-example gain must pass
    out = cli("train", "--config", str(config), *FAKES, "--log-dir", str(run), *options)
    assert out.returncode == 0, out.stderr
    # Keys with no meaning here are reported by name; per-step lines show.
    assert "were not used: model.reasoning_effort" in out.stderr and "step 1/6 (epoch 1)" in out.stderr
    assert "validation (hard gate): 0.000 baseline -> 1.000 with the best skill" in out.stdout
    assert "test (9 examples): accuracy 0.000 without the skill -> 1.000 with it" in out.stdout
    # the gain is paired example by example, with its uncertainty (2 ** -9: every example won)
    assert "test gain, accuracy: +1.000 (9 won, 0 lost; sign test p = 0.00195; 95 % CI [+1.000, +1.000])" in out.stdout
    assert f"best skill: {run / 'best_skill.md'}" in out.stdout and "LM calls (training): target " in out.stdout
    assert f"report: {run / 'report.html'}" in out.stdout  # run.report defaults to true
    assert "accuracy 0.000 without the skill → <b>1.000</b> with it" in (run / "report.html").read_text()
    assert "Test gain, accuracy: +1.000 (9 won, 0 lost" in (run / "report.html").read_text()

    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_val_score"] == 1.0 and summary["lm_calls"]["target"] > 0  # the trainer's fields, kept
    assert summary["test"]["without_skill"]["accuracy"] == 0.0 and summary["test"]["with_skill"]["accuracy"] == 1.0
    assert summary["test"]["gain"]["accuracy"]["wins"] == 9 and "soft_score" not in summary["test"]["gain"]
    assert summary["config"]["train"]["epochs"] == 2 and summary["config"]["model"]["lm"] == "tests.cli_fakes:target"
    resolved = (run / "config.yaml").read_text()
    assert "# SkillOpt keys not used here: model.reasoning_effort" in resolved
    saved = yaml.safe_load(resolved)
    assert (
        saved["optimizer"] | {"lr_scheduler": "linear", "learning_rate": 8, "min_learning_rate": 2}
        == saved["optimizer"]
    )
    assert saved["train"]["minibatch_size"] == 4 and saved["run"]["log_dir"] == str(run)
    assert 'Words starting with "' in (run / "best_skill.md").read_text()

    report = tmp_path / "eval.json"
    ev = cli(
        "eval", "--config", str(config), "--lm", "tests.cli_fakes:target", "--skill", str(run), "--out", str(report)
    )
    assert ev.returncode == 0, ev.stderr
    with_skill = json.loads(report.read_text())
    assert with_skill["accuracy"] == 1.0 and with_skill["skill"] == str(run / "best_skill.md")
    assert with_skill["examples"] == with_skill["lm_calls"] == len(WORDS["test"]) and with_skill["tokens"] > 0
    assert with_skill["latency_per_example_s"] > 0 and with_skill["faults"] == {}
    assert "accuracy (hard)" in ev.stdout and "latency / example (s)" in ev.stdout

    base = cli("eval", "--config", str(config), "--lm", "tests.cli_fakes:target", "--split", "test")
    assert base.returncode == 0 and "none (the baseline)" in base.stdout
    assert re.search(r"^accuracy \(hard\) +0\.0000$", base.stdout, re.M)

    # Transfer: the same skill on another model, which heeds only two of its rules.
    moved = cli(
        "eval", "--config", str(run / "config.yaml"), "--lm", "tests.cli_fakes:weak_target", "--skill", str(run)
    )
    assert moved.returncode == 0, moved.stderr
    assert (
        re.search(rf"^accuracy \(hard\) +{2 / 9:.4f}$", moved.stdout, re.M)
        and "tests.cli_fakes:weak_target" in moved.stdout
    )


def test_resolved_config_round_trips_and_resumes_the_run(tmp_path):
    split_dir = write_split_dir(tmp_path / "data")
    config = tmp_path / "native.yaml"
    config.write_text(
        f"_base_: {ROOT / 'configs' / '_base_' / 'default.yaml'}\n"
        f"data: {{split_dir: {split_dir}}}\noptimizer: {{use_slow_update: false, learning_rate: 8}}\n"
        "train: {batch_size: 6, epochs: 1, num_threads: 2}\n"
    )
    run = tmp_path / "run"
    first = cli("train", "--config", str(config), *FAKES, "--log-dir", str(run))
    assert first.returncode == 0, first.stderr
    given = load_config(config, values={"model.lm": FAKES[1], "model.reflection_lm": FAKES[3], "run.log_dir": str(run)})
    assert load_config(run / "config.yaml").model_dump() == given.model_dump()
    summary = json.loads((run / "summary.json").read_text())

    again = cli("train", "--config", str(run / "config.yaml"))  # every setting comes from the saved config
    assert again.returncode == 0, again.stderr
    assert "resuming from" in again.stderr
    resumed = json.loads((run / "summary.json").read_text())
    assert resumed["lm_calls"] == summary["lm_calls"] and resumed["best_skill"] == summary["best_skill"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cfg-options", "optimizer.learning_rate=0"], "optimizer.learning_rate: Input should be greater than or"),
        (["--cfg-options", "optimizer.gate=median"], "optimizer.gate: Input should be 'hard', 'soft' or 'mixed'"),
        (["--cfg-options", "train.bach_size=3"], "train.bach_size: unknown key; allowed here: batch_size, epochs"),
        (["--cfg-options", "learning_rate"], "override 'learning_rate' must look like section.key=value"),
        (["--cfg-options", "task=astrology"], "unknown bundled task 'astrology'; bundled tasks: date_normalization"),
        (["--lm", "local/gpt-99"], "model.lm: unknown local model 'gpt-99'"),
        (["--lm", "gpt-4o"], "model.lm: 'gpt-4o' is not an LM string"),
        (["--reflection-lm", "tests.cli_fakes:not_an_lm"], "returned str, not a dspy.LM"),
        (["--split-dir", "/nonexistent/dir"], "split dir '/nonexistent/dir' does not exist"),
    ],
)
def test_bad_input_is_one_clear_error_before_any_work(tmp_path, capsys, args, message):
    config = ROOT / "configs" / "ticket_routing.yaml"
    code = main(["train", "--config", str(config), "--lm", "tests.cli_fakes:target", "--log-dir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("skillopt-dspy train: error: ") and message in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_eval_errors_name_the_flag(capsys):
    config = str(ROOT / "configs" / "ticket_routing.yaml")
    assert main(["eval", "--config", config, "--lm", "tests.cli_fakes:target", "--skill", "nope.md"]) == 2
    assert "--skill 'nope.md': no such file" in capsys.readouterr().err
    assert main(["eval", "--config", config, "--lm", "tests.cli_fakes:target", "--split", "holdout"]) == 2
    assert "--split 'holdout': the data has the splits train, valid, test" in capsys.readouterr().err


def test_errors_in_a_real_process_have_no_traceback(tmp_path):
    out = cli("eval", "--config", str(ROOT / "configs" / "ticket_routing.yaml"), "--cfg-options", "optimizer.gate=x")
    assert out.returncode == 2 and "optimizer.gate: Input should be" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_default_run_dir_is_named_after_the_config_and_time(tmp_path, monkeypatch, capsys):
    split_dir = write_split_dir(tmp_path / "data")
    config = tmp_path / "tiny.yaml"
    config.write_text(f"data: {{split_dir: {split_dir}}}\ntrain: {{epochs: 1, batch_size: 18, num_threads: 2}}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(config), *FAKES, "--cfg-options", "run.progress=false"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("tiny-20") and (run / "best_skill.md").is_file() and (run / "config.yaml").is_file()
    assert f"best skill: {Path('runs') / run.name / 'best_skill.md'}" in capsys.readouterr().out


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "usage: skillopt-dspy [-h] [--version] COMMAND" in out
    assert "train     train a skill" in out and "eval      score a skill (or no skill: the baseline)" in out
    for command, flags in {
        "train": ["--config", "--lm", "--reflection-lm", "--split-dir", "--log-dir", "--cfg-options", "--restart"],
        "eval": ["--config", "--lm", "--skill", "--split", "--out", "--cfg-options"],
    }.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert all(flag in out for flag in flags) and f"examples:\n  skillopt-dspy {command} --config" in out


def test_a_run_dir_holding_another_run_is_left_alone_unless_restart(tmp_path, capsys):
    split_dir = write_split_dir(tmp_path / "data")
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{split_dir: {split_dir}}}\ntrain: {{epochs: 1, batch_size: 18, num_threads: 2}}\n")
    run = tmp_path / "run"
    args = ["train", "--config", str(config), *FAKES, "--log-dir", str(run), "--cfg-options", "run.progress=false"]
    assert main(args) == 0
    saved = (run / "config.yaml").read_text()
    assert main([*args, "optimizer.learning_rate=2"]) == 2
    assert "log_dir holds a run with different settings (learning_rate: 4 -> 2" in capsys.readouterr().err
    assert (run / "config.yaml").read_text() == saved  # the old run's record is intact
    assert main([*args, "optimizer.learning_rate=2", "--restart"]) == 0
    assert load_config(run / "config.yaml").optimizer.learning_rate == 2
