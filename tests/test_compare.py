"""benchmarks/compare.py runs end to end with fake LMs and a tiny budget, so it cannot rot."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import compare  # noqa: E402
import pytest  # noqa: E402

from tests.test_cli import write_split_dir  # noqa: E402


def fake_config(tmp_path, extra: str = "") -> Path:
    """A config of the fake target and reflector on the word-group splits, plus ``extra`` YAML lines."""
    split_dir = write_split_dir(tmp_path / "data")
    config = tmp_path / "c.yaml"
    config.write_text(
        "model: {lm: 'tests.cli_fakes:target', reflection_lm: 'tests.cli_fakes:reflector'}\n"
        f"data: {{split_dir: '{split_dir}'}}\n{extra}"
    )
    return config


def test_compare_runs_every_optimizer_at_the_same_budget(tmp_path):
    config = fake_config(tmp_path, "optimizer: {use_slow_update: false, learning_rate: 8}\ntrain: {batch_size: 6}\n")
    out = tmp_path / "result-1.5b"  # a dot that is not an extension: the files are result-1.5b.json / .md
    assert compare.main(["--config", str(config), "--budget", "120", "--out", str(out)]) == 0
    data = json.loads(Path(f"{out}.json").read_text())
    rows = {r["optimizer"]: r for r in data["results"]}
    assert set(rows) == {"none", "skillopt", "gepa", "miprov2", "simba"}
    assert all(r["error"] is None for r in rows.values()), rows
    assert rows["none"]["metric_calls"] == 0 and rows["none"]["gain"] == 0.0
    # SkillOpt learns the fake task's rules; its budget is a ceiling: it stops before a step (a batch of 6,
    # the batch check's 6, a validation of 9) that could cross it.
    assert rows["skillopt"]["test_accuracy"] > rows["none"]["test_accuracy"]
    assert 120 - (6 + 6 + 9) < rows["skillopt"]["metric_calls"] <= 120
    assert all(r["lm_calls"] > 0 and r["tokens"] > 0 for n, r in rows.items() if n != "none")
    assert "skill" in rows["skillopt"]["instructions"]["solve"].lower()  # the learned skill, in the JSON
    # SIMBA is sized to the budget from its exact call formula; MIPROv2's own schedule of full evaluations
    # is not predictable enough to size exactly: its real count is what gets reported
    assert rows["simba"]["metric_calls"] <= 120, rows
    table = Path(f"{out}.md").read_text()
    assert "| skillopt |" in table and "| gepa |" in table


def test_simba_plans_fit_the_budget():
    assert compare.simba_cost(16, 4, 2, 80) == 528  # measured: dspy.SIMBA made 528 metric calls so
    for budget in (60, 100, 150, 200, 400, 1000):
        plan = compare.simba_plan(budget, 80)
        cost = compare.simba_cost(plan["bsize"], plan["num_candidates"], plan["max_steps"], plan["trainset"])
        assert cost <= budget and plan["trainset"] >= plan["bsize"]


def test_the_ceiling_row_paired_tests_and_resume(tmp_path, capsys):
    config = fake_config(tmp_path)
    from tests.fakes import GROUPS

    reference = tmp_path / "reference.md"  # the fake target follows first-letter rules: the whole rule book
    reference.write_text("\n".join(f'- Words starting with "{c}" are {g}.' for g, cs in GROUPS.items() for c in cs))
    out = tmp_path / "result"
    args = ["--config", str(config), "--budget", "60", "--out", str(out), "--reference-skill", str(reference)]
    assert compare.main([*args, "--optimizers", "none,reference"]) == 0
    rows = {r["optimizer"]: r for r in json.loads(out.with_suffix(".json").read_text())["results"]}
    assert rows["none"]["test_accuracy"] == 0.0 and rows["reference"]["test_accuracy"] == 1.0
    test = rows["reference"]["paired_vs_none"]
    n = len(rows["reference"]["test_hard"])
    assert test["wins"] == n and test["losses"] == 0 and test["p_sign"] == 0.5**n and test["ci95"] == [1.0, 1.0]
    assert "sign test p" in out.with_suffix(".md").read_text()

    capsys.readouterr()
    assert compare.main([*args, "--optimizers", "none,reference", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "[none] already in the results, skipped (--resume)" in printed
    assert "[reference] already in the results, skipped (--resume)" in printed

    # A kept row is paired with the baseline now in the file, and --rescore scores it again from its saved
    # instructions (an older row without per-example soft scores gets them); superseded rows stay.
    data = json.loads(out.with_suffix(".json").read_text())
    data["results"] = [r for r in data["results"] if r["optimizer"] != "none"]
    kept = data["results"][0]
    del kept["test_soft_scores"], kept["paired_vs_none"]
    kept["test_accuracy"] = 0.5  # what an older measurement said: kept under rescored.previous
    data["superseded"] = [{"optimizer": "skillopt", "test_accuracy": 0.1}]
    out.with_suffix(".json").write_text(json.dumps(data))
    assert compare.main([*args, "--optimizers", "none", "--resume", "--rescore", "reference"]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    rows = {r["optimizer"]: r for r in data["results"]}
    assert data["superseded"] == [{"optimizer": "skillopt", "test_accuracy": 0.1}]
    ref = rows["reference"]
    assert ref["rescored"]["previous"]["test_accuracy"] == 0.5 and ref["test_accuracy"] == 1.0
    assert len(ref["test_soft_scores"]) == n and ref["paired_vs_none"]["wins"] == n and ref["gain"] == 1.0
    with pytest.raises(SystemExit):  # nothing to score again: one clear error before any LM call
        compare.main([*args, "--resume", "--rescore", "gepa"])
    assert "--rescore: no row of gepa" in capsys.readouterr().err


def test_skillopts_run_is_kept_under_log_dir_for_audit(tmp_path):
    config = fake_config(tmp_path, "optimizer: {use_slow_update: false}\n")
    out, runs = tmp_path / "result", tmp_path / "runs"
    args = ["--config", str(config), "--budget", "120", "--out", str(out), "--log-dir", str(runs)]
    for _ in range(2):  # the second time starts over (restart), so the row again counts only its own calls
        assert compare.main([*args, "--optimizers", "none,skillopt"]) == 0
        row = next(r for r in json.loads(Path(f"{out}.json").read_text())["results"] if r["optimizer"] == "skillopt")
        steps = [json.loads(line) for line in (runs / "skillopt" / "history.jsonl").read_text().splitlines()]
        assert steps and steps[-1]["usage"]["metric_calls"] == row["metric_calls"] <= 120
        assert (runs / "skillopt" / "best_skill.md").read_text().strip() in row["instructions"]["solve"]


def test_partial_credit_gets_its_own_paired_comparison_in_the_table():
    base = {"optimizer": "none", "test_accuracy": 0.0, "gain": 0.0, "test_soft": 0.5, "metric_calls": 0}
    base |= {"lm_calls": 0, "tokens": 0, "wall_time_s": 0.0}
    soft = compare.paired_gain([0.4, 0.6, 0.6, 0.2], [0.8, 0.6, 1.0, 0.4])
    assert (soft["wins"], soft["losses"]) == (3, 0) and soft["ci95"][0] > 0
    row = {**base, "optimizer": "skillopt", "test_soft": 0.7, "paired_soft_vs_none": soft}
    table = compare.markdown([base, row], "t")
    assert "- skillopt: sign test p = 0.125 (3 rose, 0 fell), 95 % CI of the soft gain [+0." in table
