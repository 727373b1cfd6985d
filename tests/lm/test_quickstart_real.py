"""The main command on the real embedded model, with a very small budget: train writes a complete run dir."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.local_lm

if importlib.util.find_spec("xllamacpp") is None:
    pytest.skip('the "local" extra is not installed (pip install -e ".[local]")', allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
# The quickstart config, shrunk to one step: 4 train, 4 valid, 4 test examples, no epoch-boundary extras.
TINY = [
    "data.train_limit=4",
    "data.valid_limit=4",
    "data.test_limit=4",
    "train.batch_size=4",
    "train.minibatch_size=4",
    "train.epochs=1",
    "optimizer.use_slow_update=false",
    "optimizer.use_meta_skill=false",
]


def test_train_on_the_embedded_model_writes_a_complete_run_dir(tmp_path):
    from skillopt_dspy.lm import LocalModelError, resolve_model

    try:
        resolve_model("qwen2.5-coder-0.5b")
    except LocalModelError as exc:  # the weights packages are missing
        pytest.skip(str(exc))
    run_dir = tmp_path / "run"
    args = ["--config", "configs/quickstart.yaml", "--log-dir", str(run_dir), "--cfg-options", *TINY]
    script = "import sys; from skillopt_dspy.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", script, "train", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 1/1" in proc.stderr  # the per-step log line: score, edits, gate decision

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["lm_calls"]["target"] >= 8  # baseline validation + the batch's rollouts
    assert summary["lm_calls"]["reflection"] >= 1 and summary["tokens"]["reflection"] > 0
    assert all(isinstance(v, int) for v in summary["faults"].values())  # counted by kind, never hidden
    assert summary["test"]["without_skill"]["examples"] == summary["test"]["with_skill"]["examples"] == 4
    steps = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if s["kind"] == "step"] == [0]
    assert (run_dir / "best_skill.md").exists() and (run_dir / "config.yaml").exists()
    assert summary["best_val_score"] >= summary["baseline_val_score"]  # the gate never returns a worse skill
