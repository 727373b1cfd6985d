"""SIGKILL at every kind of point of a run, then resume with DSPy's cache off: the same best skill and history
as an uninterrupted run, and no finished LM call made twice (only the one the kill interrupted).

Each scenario is a subprocess killed at the N-th call of a kind (tests/resume_run.py), then resumed. The
scenarios run in parallel to keep the file fast.
"""

import json
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# kind:N — the N-th call of that kind (see tests/resume_run.py), and where it falls in the run. With carry_ahead
# (the default) step 1's candidate is carried and step 3's, built on it, is accepted; without it, no step is and
# the slow update of epoch 2 is validated (with carry_ahead racing stops it before any call).
SCENARIOS = {
    "rollout:9": "the batch check of step 1's candidate",
    "validation:14": "validating step 1's candidate",
    "validation:20": "validating step 3's candidate, built on step 1's carried one",
    "reflect:4": "step 2's second reflection call",
    "aggregate:1": "step 1's aggregation call",
    "slow_update:1": "the slow update's call (epoch 1)",
    "validation:40/nocarry": "validating the slow update's candidate (epoch 2), with carry_ahead off",
    "meta_skill:1": "the meta-skill call (epoch 1)",
}


def run_script(log_dir, calls, kill, carry=True):
    return subprocess.run(
        [sys.executable, "-m", "tests.resume_run", str(log_dir), str(calls), kill, *([] if carry else ["nocarry"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def comparable(log_dir):
    """history.jsonl without what legitimately differs between processes (time, counters)."""
    rows = [json.loads(line) for line in (Path(log_dir) / "history.jsonl").read_text().splitlines()]
    for row in rows:
        for key in ("usage", "seconds", "stages"):
            row.pop(key, None)
    return rows


def lines(path):
    return Path(path).read_text().splitlines() if Path(path).exists() else []


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The uninterrupted runs (carry_ahead on and off), and each scenario killed then resumed (in parallel, once)."""
    root = tmp_path_factory.mktemp("kills")

    def killed_then_resumed(scenario):
        kill, _, flag = scenario.partition("/")
        name, carry = scenario.replace(":", "-").replace("/", "-"), flag != "nocarry"
        killed = run_script(root / name, root / f"{name}.killed", kill, carry)
        state = json.loads((root / name / "state.json").read_text()) if (root / name / "state.json").exists() else {}
        resumed = run_script(root / name, root / f"{name}.resumed", "0", carry)
        full = "full" if carry else "full-nocarry"
        return {"killed": killed, "state": state, "resumed": resumed, "dir": root / name, "name": name, "full": full}

    with ThreadPoolExecutor(max_workers=3) as pool:
        fulls = {
            name: pool.submit(run_script, root / name, root / f"{name}.calls", "0", name == "full")
            for name in ("full", "full-nocarry")
        }
        scenarios = {kill: pool.submit(killed_then_resumed, kill) for kill in SCENARIOS}
        out = {kill: f.result() for kill, f in scenarios.items()}
    for name, f in fulls.items():
        out[name] = {"result": f.result(), "dir": root / name, "calls": lines(root / f"{name}.calls")}
    out["root"] = root
    return out


@pytest.mark.parametrize("kill", list(SCENARIOS))
def test_sigkill_then_resume_matches_an_uninterrupted_run_and_repeats_no_finished_call(runs, kill):
    run, root = runs[kill], runs["root"]
    full = runs[run["full"]]
    assert full["result"].returncode == 0, full["result"].stderr
    assert run["killed"].returncode == -signal.SIGKILL, f"{kill} ({SCENARIOS[kill]}) never happened"
    assert run["state"].get("next_step", 0) < 6, "the kill lands before the end"
    assert run["resumed"].returncode == 0, run["resumed"].stderr

    assert json.loads(run["resumed"].stdout) == json.loads(full["result"].stdout)
    assert comparable(run["dir"]) == comparable(full["dir"])

    # The call the kill interrupted is made again; every finished one is not.
    killed_calls = lines(root / f"{run['name']}.killed")
    resumed_calls = lines(root / f"{run['name']}.resumed")
    assert json.loads(killed_calls[-1])["kind"] == kill.split(":")[0]
    assert len(killed_calls) - 1 + len(resumed_calls) == len(full["calls"])
    assert sorted(killed_calls[:-1] + resumed_calls) == sorted(full["calls"])
