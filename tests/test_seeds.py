"""benchmarks/seeds.py pools an optimizer's runs over seeds on one test split, and refuses runs it cannot pair."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import seeds  # noqa: E402

NONE = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0] * 3  # 30 examples, 9 pass


def write_run(path: Path, seed: int, rows: dict[str, list[int]], test: int = 30, none=NONE) -> str:
    results = [{"optimizer": "none", "test_hard": none}]
    results += [{"optimizer": name, "test_hard": scores} for name, scores in rows.items()]
    path.write_text(json.dumps({"task": "t", "seed": seed, "splits": {"test": test}, "results": results}))
    return str(path)


def fixes(n: int, breaks: int = 0) -> list[int]:
    """NONE with its first ``n`` failures fixed and its first ``breaks`` passes broken."""
    out, fixed, broken = list(NONE), 0, 0
    for i, v in enumerate(NONE):
        if v == 0 and fixed < n:
            out[i], fixed = 1, fixed + 1
        elif v == 1 and broken < breaks:
            out[i], broken = 0, broken + 1
    return out


def test_pools_runs_per_example_and_tests_the_pooled_gain(tmp_path, capsys):
    a = write_run(tmp_path / "a.json", 0, {"skillopt": fixes(6), "gepa": fixes(1)})
    b = write_run(tmp_path / "b.json", 1, {"skillopt": fixes(6, breaks=3)})
    c = write_run(tmp_path / "c.json", 2, {"skillopt": fixes(9)})
    out = tmp_path / "pooled.json"
    assert seeds.main([a, b, c, "--optimizers", "skillopt,gepa", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    s = rows["skillopt"]
    assert s["runs"] == 3 and s["seeds"] == [0, 1, 2] and s["per_run"] == [0.2, 0.1, 0.3]
    assert s["gain"] == 0.2 and s["examples_up"] == 9 and s["examples_down"] == 3
    assert s["p_sign_flip"] < 0.05 and s["ci95"][0] > 0  # six examples fixed by every run outweigh three broken once
    assert rows["gepa"]["runs"] == 1 and rows["gepa"]["p_sign_flip"] > 0.05  # one example: noise
    assert "| skillopt | 3 (0, 1, 2) | +20.0, +10.0, +30.0 | +20.0 |" in capsys.readouterr().out


def test_a_file_can_lend_only_some_rows(tmp_path):
    a = write_run(tmp_path / "a.json", 0, {"skillopt": fixes(0)})
    b = write_run(tmp_path / "b.json", 1, {"skillopt": fixes(6)})
    runs = seeds.load_runs([f"{a}:gepa", b])
    assert [set(r["rows"]) for r in runs] == [{"none"}, {"none", "skillopt"}]


def test_runs_that_cannot_be_paired_fail_with_one_clear_error(tmp_path, capsys):
    a = write_run(tmp_path / "a.json", 0, {"skillopt": fixes(1)})
    other_split = write_run(tmp_path / "b.json", 1, {"skillopt": fixes(1)}, test=60)
    other_items = write_run(tmp_path / "c.json", 1, {"skillopt": fixes(1)}, none=fixes(1))
    no_none = tmp_path / "d.json"
    no_none.write_text(json.dumps({"task": "t", "seed": 0, "splits": {"test": 30}, "results": []}))
    for bad, says in ((other_split, "test split"), (other_items, "other test examples"), (str(no_none), "no 'none'")):
        assert seeds.main([a, bad]) == 2
        assert says in capsys.readouterr().err


def test_versus_compares_two_pooled_optimizers_head_to_head(tmp_path, capsys):
    # skillopt fixes 6 in every run; gepa fixes 1 in one run and 2 in another: skillopt is ahead on 5 examples
    a = write_run(tmp_path / "a.json", 0, {"skillopt": fixes(6), "gepa": fixes(1)})
    b = write_run(tmp_path / "b.json", 1, {"skillopt": fixes(6), "gepa": fixes(2)})
    out = tmp_path / "pooled.json"
    assert seeds.main([a, b, "--optimizers", "skillopt,gepa", "--versus", "skillopt,gepa", "--json", str(out)]) == 0
    v = json.loads(out.read_text())["versus"]
    assert (v["first"], v["second"], v["examples_ahead"], v["examples_behind"]) == ("skillopt", "gepa", 5, 0)
    assert abs(v["difference"] - (6 - 1.5) / 30) < 1e-3 and v["ci95"][0] > 0
    assert v["p_first_ahead"] < 0.05 and v["p_second_ahead"] == 1.0
    assert "skillopt - gepa: +15.0 points pooled (5 examples ahead, 0 behind" in capsys.readouterr().out
    # the other way round, the sign and the p-values swap
    assert seeds.main([a, b, "--versus", "gepa,skillopt", "--json", str(out)]) == 0
    w = json.loads(out.read_text())["versus"]
    assert w["difference"] == -v["difference"] and w["p_second_ahead"] == v["p_first_ahead"]


def test_versus_needs_two_optimizers_that_ran(tmp_path, capsys):
    a = write_run(tmp_path / "a.json", 0, {"skillopt": fixes(6)})
    assert seeds.main([a, "--versus", "skillopt,gepa"]) == 2
    assert "no run holds a 'gepa' row" in capsys.readouterr().err
    for bad in ("skillopt", "skillopt,skillopt", "a,b,c"):
        with pytest.raises(SystemExit) as exc:
            seeds.main([a, "--versus", bad])
        assert exc.value.code == 2
        assert "--versus takes two different optimizers" in capsys.readouterr().err
