"""The HTML run report: scores, every accepted diff, every edit with its fate, gates, stages; any run dir."""

import base64
import io
import json
import re
from html import escape

import dspy
import pytest
from PIL import Image

from skillopt_dspy import SkillOpt, SkillOptCallback
from skillopt_dspy.cli import main
from skillopt_dspy.report import render_report, write_report
from skillopt_dspy.report.data import BASELINE, accepted_diffs, load_run, stage_rows
from tests.fakes import WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())
SETTINGS = {
    "batch_size": 6,
    "epochs": 2,
    "learning_rate": 2,
    "num_threads": 2,
    "progress": False,
    "gate_test": "strict",
}


def train(log_dir, callbacks=(), report=False, **kw):
    target = fake_lm(target_handler, name="fake/target")
    reflection = fake_lm(rule_reflector(harmful_once=True), name="fake/reflect")
    with dspy.context(lm=target):
        opt = SkillOpt(
            metric=group_metric, reflection_lm=reflection, log_dir=log_dir, callbacks=list(callbacks), **SETTINGS, **kw
        )
        return opt.compile(WordGroup(), trainset=TRAIN, valset=VAL, report=report), target


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("run")
    compiled, _ = train(log_dir, report=True)
    return compiled, log_dir, (log_dir / "report.html").read_text(encoding="utf-8")


def rows_of(page: str, heading: str) -> list[str]:
    """The <tr> rows of the table that follows the section ``heading``."""
    section = page.split(f">{heading}</h2>", 1)[1].split("<h2", 1)[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", section, re.S)


def test_compile_report_true_writes_a_self_contained_page(run):
    compiled, log_dir, page = run
    assert compiled.detailed_results.report_path == str(log_dir / "report.html")
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    figures = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(figures) == 3
    for data in figures:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert im.format == "PNG" and im.size[0] > 400 and im.size[1] > 200


def test_the_report_shows_the_scores_and_every_gate_decision(run):
    compiled, _, page = run
    res = compiled.detailed_results
    assert f"{res.baseline_val_score:.3f} → {res.best_val_score:.3f}" in page
    gates = rows_of(page, "Gate decisions")[1:]
    decided = [s for s in res.history if s.gate] + [e for e in res.epochs if (e.slow_update or {}).get("gate")]
    assert len(gates) == len(decided) and any("rejected" in g for g in gates) and any("accepted" in g for g in gates)
    for row, rec in zip(gates, decided):
        gate = rec.gate if hasattr(rec, "gate") else rec.slow_update["gate"]
        assert f"{gate['incumbent_score']:.4f}" in row and f"{gate['candidate_score']:.4f}" in row


def test_every_accepted_step_has_its_diff(run):
    compiled, log_dir, page = run
    res = compiled.detailed_results
    accepted = [s for s in res.history if s.accepted]
    diffs = accepted_diffs(load_run(log_dir))
    slow_accepted = sum(bool((e.slow_update or {}).get("accepted")) for e in res.epochs)
    assert accepted and len(diffs) == len(accepted) + slow_accepted
    for step in accepted:
        assert f"step {step.step + 1} (epoch {step.epoch + 1}): validation" in page
        for edit in step.applied:  # each applied line is an added line of that step's diff
            for line in edit["content"].splitlines():
                assert f'<pre class="add">{escape("+" + line)}</pre>' in page


def test_every_edit_is_listed_with_its_source_and_fate(run):
    compiled, _, page = run
    rows = rows_of(page, "Every edit and its fate")[1:]
    expected = []
    for s in compiled.detailed_results.history:
        verdict = "accepted" if s.accepted else "rejected by the gate"
        if s.carried:
            verdict = "not accepted but ahead on validation: carried, the epoch's next steps built on it"
        for r in s.apply_reports:
            expected.append((r["edit"], f"selected, applied, {verdict}" if r["applied"] else "selected, not applied"))
        expected += [(d["edit"], f"dropped: {d['reason']}") for d in s.dropped]
    assert len(rows) >= len(expected) > 0
    for edit, fate in expected:
        content = escape(edit["content"])
        assert any(content in row and escape(fate) in row and escape(edit["source"]) in row for row in rows), fate
    slow = [e for e in compiled.detailed_results.epochs if (e.slow_update or {}).get("guidance")]
    assert slow and sum(">slow update<" in row for row in rows) == len(slow)


def test_slow_update_guidance_and_costs_per_stage(run):
    compiled, log_dir, page = run
    for e in compiled.detailed_results.epochs:
        assert escape(e.slow_update["guidance"]) in page
    stages = {r["stage"]: r for r in stage_rows(load_run(log_dir))}
    res = compiled.detailed_results
    assert stages["total"]["lm_calls"] == res.total_lm_calls and stages["total"]["metric_calls"] == res.metric_calls
    # The stages account for every call but the baseline validation before the first step.
    assert stages[BASELINE]["lm_calls"] == stages[BASELINE]["metric_calls"] == len(VAL)
    assert stages["reflect"]["lm_calls"] > 0 and stages["gate"]["metric_calls"] > 0
    assert stages["slow_update"]["lm_calls"] > 0
    for name in ("rollout", "reflect", "gate", "slow_update", "meta_skill"):
        assert f"<td>{name}</td>" in page


def test_a_report_of_an_interrupted_run_reads_the_saved_steps(tmp_path):
    class Crash(Exception):
        pass

    class StopAfterThree(SkillOptCallback):
        def on_step_end(self, record):
            if record.step == 2:
                raise Crash()

    with pytest.raises(Crash):
        train(tmp_path, callbacks=[StopAfterThree()])
    assert not (tmp_path / "summary.json").exists()
    page = render_report(tmp_path)
    assert "interrupted or still running" in page
    assert len(rows_of(page, "Gate decisions")) - 1 == sum(
        1 for line in (tmp_path / "history.jsonl").read_text().splitlines() if json.loads(line)["gate"]
    )
    assert "step 3" in page and "step 4" not in page


def test_report_true_needs_a_log_dir_and_says_so_before_any_call():
    with pytest.raises(ValueError, match="log_dir"):
        _, target = train(None, report=True)
    target = fake_lm(target_handler, name="fake/target")
    with dspy.context(lm=target), pytest.raises(ValueError, match="log_dir"):
        SkillOpt(metric=group_metric, **SETTINGS).compile(WordGroup(), trainset=TRAIN, valset=VAL, report=True)
    assert engine_of(target).calls == []


def test_the_report_command(run, tmp_path, capsys):
    _, log_dir, _ = run
    out = tmp_path / "elsewhere.html"
    assert main(["report", str(log_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "is not a run directory: it has no state.json" in capsys.readouterr().err
    assert write_report(log_dir) == log_dir / "report.html"


def test_reflection_failures_are_listed_not_hidden(tmp_path):
    def broken(call):
        if "evidence" in call.inputs:
            raise RuntimeError("reflection backend down")
        return rule_reflector()(call)

    target = fake_lm(target_handler, name="fake/target")
    with dspy.context(lm=target):
        opt = SkillOpt(metric=group_metric, reflection_lm=fake_lm(broken), log_dir=tmp_path, **SETTINGS)
        res = opt.compile(WordGroup(), trainset=TRAIN, valset=VAL).detailed_results
    errors = [e for s in res.history for e in s.errors]
    page = render_report(tmp_path)
    assert errors and f"{len(errors)} reflection or aggregation error(s) in steps" in page
    assert "reflection backend down" in page and "reflect_error" in page
