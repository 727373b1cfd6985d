"""The MLflow callback against a real local MLflow store (sqlite in a temp dir): params, scores, skills, report."""

import json
import sys

import dspy
import pytest

from skillopt_dspy import SkillOpt
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

mlflow = pytest.importorskip("mlflow", reason='the mlflow extra: pip install -e ".[mlflow]"')
from skillopt_dspy.integrations.mlflow import INSTALL_HINT, MLflowCallback  # noqa: E402

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite store for the module (creating its tables is the slow part)."""
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()


def compile_with(tracker, log_dir, **kw):
    target = fake_lm(target_handler, name="fake/target")
    reflection = fake_lm(rule_reflector(harmful_once=True), name="fake/reflect")
    settings = {"batch_size": 6, "epochs": 2, "learning_rate": 2, "num_threads": 2, "progress": False}
    settings |= {"gate_test": "strict", **kw}  # a one-word gain on the toy valset must pass: the strict gate
    with dspy.context(lm=target):
        opt = SkillOpt(metric=group_metric, reflection_lm=reflection, log_dir=log_dir, callbacks=[tracker], **settings)
        return opt.compile(WordGroup(), trainset=TRAIN, valset=VAL)


def test_a_run_is_logged_to_a_local_sqlite_store(tmp_path, store):
    uri, artifacts = store
    tracker = MLflowCallback(tracking_uri=uri, experiment_name="words", run_name="t1", artifact_location=artifacts)
    compiled = compile_with(tracker, tmp_path / "run")
    res = compiled.detailed_results
    assert tracker.errors == 0 and tracker.run_id

    client = mlflow.tracking.MlflowClient(uri)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "t1"
    params = run.data.params
    assert params["gate"] == "hard" and params["learning_rate"] == "2" and params["batch_size"] == "6"
    assert params["budget.max_lm_calls"] == "None" and params["program"] == "WordGroup"
    assert params["trainset_size"] == str(len(TRAIN)) and params["valset_size"] == str(len(VAL))
    assert params["reflection_lm"] == "fake/reflect" and params["total_steps"] == str(len(res.history))

    history = sorted(client.get_metric_history(tracker.run_id, "val_score"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(0, res.baseline_val_score)] + [
        (s.step + 1, s.val_score) for s in res.history
    ]
    accepted = client.get_metric_history(tracker.run_id, "accepted")
    assert sorted((m.step, m.value) for m in accepted) == [
        (s.step + 1, float(s.accepted)) for s in res.history if s.gate
    ]
    assert run.data.metrics["best_val_score"] == res.best_val_score

    def text(path):
        return (tmp_path / "dl" / path).read_text() if (tmp_path / "dl" / path).exists() else None

    client.download_artifacts(tracker.run_id, "", str(tmp_path / "dl"))
    skills = sorted(p.name for p in (tmp_path / "dl" / "skills").iterdir())
    steps_accepted = [s for s in res.history if s.accepted]
    assert skills[: len(steps_accepted)] == [f"step-{s.step + 1:04d}.md" for s in steps_accepted]
    assert text(f"skills/step-{steps_accepted[-1].step + 1:04d}.md") in res.candidates
    assert text("best_skill.md") == compiled.skill
    assert json.loads(text("detailed_results.json")) == res.to_dict()
    assert text("report.html").startswith("<!DOCTYPE html>") and "Every edit and its fate" in text("report.html")
    assert text("slow_update/epoch-1.md") == res.epochs[0].slow_update["guidance"]


def test_without_a_log_dir_the_accepted_skills_come_from_the_result(store):
    uri, artifacts = store
    tracker = MLflowCallback(tracking_uri=uri, artifact_location=artifacts)
    compiled = compile_with(tracker, None)
    client = mlflow.tracking.MlflowClient(uri)
    names = {a.path for a in client.list_artifacts(tracker.run_id, "skills")}
    info = compiled.detailed_results.candidate_info
    expected = {f"skills/candidate-{i:03d}-{c['source']}.md" for i, c in enumerate(info) if c["accepted"] and i}
    assert names == expected and expected
    assert "report.html" not in {a.path for a in client.list_artifacts(tracker.run_id)}  # no run dir to read


def test_a_tracking_failure_is_counted_not_fatal_unless_strict(store, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("tracking server unreachable")

    uri, artifacts = store
    tracker = MLflowCallback(tracking_uri=uri, artifact_location=artifacts)
    monkeypatch.setattr(tracker.client, "log_batch", down)
    compiled = compile_with(tracker, None, epochs=1)
    assert compiled.detailed_results.history and tracker.errors >= len(compiled.detailed_results.history)

    strict = MLflowCallback(tracking_uri=uri, artifact_location=artifacts, strict=True)
    monkeypatch.setattr(strict.client, "log_batch", down)
    with pytest.raises(ConnectionError):
        compile_with(strict, None, epochs=1)


def test_missing_mlflow_is_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r'pip install "skillopt-dspy\[mlflow\]"'):
        MLflowCallback()
    assert "skillopt-dspy[mlflow]" in INSTALL_HINT
