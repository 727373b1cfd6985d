"""The command line, end to end in subprocesses, with fake LMs passed as module:factory."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import group_of

ROOT = Path(__file__).resolve().parents[1]
WORDS = {
    "train": "apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split(),
    "valid": "axe bee cup inn jam key quiz rope star".split(),
    "test": "arm bus cab ice jaw kid quay ram saw".split(),
}


def write_split_dir(root: Path) -> Path:
    root.mkdir(parents=True)
    for split, words in WORDS.items():
        lines = [
            json.dumps({"id": f"{split}-{i}", "input": w, "expected_output": group_of(w)}) for i, w in enumerate(words)
        ]
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def skillopt_config(path: Path, split_dir: Path) -> Path:
    """A config in microsoft SkillOpt's layout (sections model/train/gradient/optimizer/evaluation)."""
    path.write_text(
        f"""
model:
  name: tests.cli_fakes:target
  optimizer: tests.cli_fakes:reflector
train:
  num_epochs: 2
  batch_size: 6
  split_dir: {split_dir}
  use_slow_update: false
gradient:
  minibatch_size: 4
  temperature: 0.7
optimizer:
  learning_rate: 8
  lr_scheduler: linear
  min_learning_rate: 2
evaluation:
  metric: hard
"""
    )
    return path


def cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "skillopt_dspy.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_train_then_eval_with_a_skillopt_format_config(tmp_path):
    split_dir = write_split_dir(tmp_path / "data")
    config = skillopt_config(tmp_path / "skillopt.yaml", split_dir)
    run_dir = tmp_path / "run"
    out = cli("train", "--config", str(config), "--log-dir", str(run_dir), "--cfg-options", "train.num_threads=2")
    assert out.returncode == 0, out.stderr
    assert "gradient.temperature" in out.stderr and "no meaning" in out.stderr
    assert "step 1/" in out.stderr and "validation:" in out.stdout and "test accuracy:" in out.stdout

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_val_score"] > summary["baseline_val_score"]
    assert summary["test"]["with_skill"]["accuracy"] > summary["test"]["without_skill"]["accuracy"]
    resolved = (run_dir / "config.yaml").read_text()
    assert "epochs: 2" in resolved and "lr_scheduler: linear" in resolved and "minibatch_size: 4" in resolved
    assert 'Words starting with "' in (run_dir / "best_skill.md").read_text()

    report_path = tmp_path / "eval.json"
    ev = cli(
        "eval",
        "--config",
        str(config),
        "--skill",
        str(run_dir / "best_skill.md"),
        "--split",
        "test",
        "--out",
        str(report_path),
    )
    assert ev.returncode == 0, ev.stderr
    report = json.loads(report_path.read_text())
    assert report["accuracy"] == summary["test"]["with_skill"]["accuracy"]
    assert report["examples"] == len(WORDS["test"]) and report["lm_calls"] == len(WORDS["test"])
    assert "latency_per_example_s" in report and "tokens" in report

    baseline = cli("eval", "--config", str(config), "--split", "test")
    assert baseline.returncode == 0 and "accuracy" in baseline.stdout


def test_resolved_config_round_trips(tmp_path):
    import yaml

    from skillopt_dspy.config import build_config

    split_dir = write_split_dir(tmp_path / "data")
    run_dir = tmp_path / "run"
    out = cli("train", "--config", str(skillopt_config(tmp_path / "c.yaml", split_dir)), "--log-dir", str(run_dir))
    assert out.returncode == 0, out.stderr
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    saved.pop("source")
    again = build_config(saved)
    assert again.train.epochs == 2 and again.optimizer.learning_rate == 8 and again.run.log_dir == str(run_dir)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cfg-options", "optimizer.learning_rate=0"],
            "optimizer.learning_rate: Input should be greater than or equal to 1",
        ),
        (["--cfg-options", "optimizer.gate=median"], "optimizer.gate: Input should be 'hard', 'soft' or 'mixed'"),
        (["--cfg-options", "train.bach_size=3"], "train.bach_size: unknown key; allowed here: batch_size"),
        (["--cfg-options", "task.name=astrology"], "unknown bundled task 'astrology'"),
        (["--lm", "local/gpt-99"], "unknown local model 'gpt-99'"),
        (["--split-dir", "/nonexistent/dir"], "does not exist"),
    ],
)
def test_bad_input_is_one_clear_error_without_traceback(tmp_path, args, message):
    config = ROOT / "configs" / "ticket_routing.yaml"
    out = cli("train", "--config", str(config), "--log-dir", str(tmp_path / "r"), *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_help_reads_well():
    out = cli("--help")
    assert out.returncode == 0 and "train" in out.stdout and "eval" in out.stdout
    out = cli("train", "--help")
    assert "--cfg-options" in out.stdout and "--restart" in out.stdout
