"""Durable runs: SIGKILL in the middle of a step, resume, and get the same result with no repeated work."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import dspy
import pytest

from skillopt_dspy import IncompatibleRunError, SkillOpt
from tests.fakes import WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler, word_examples

ROOT = Path(__file__).resolve().parents[1]


def run_script(log_dir, calls, kill_at):
    return subprocess.run(
        [sys.executable, "-m", "tests.resume_run", str(log_dir), str(calls), str(kill_at)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def comparable(log_dir):
    """history.jsonl without the fields that legitimately differ between processes (time, counters)."""
    rows = [json.loads(line) for line in (Path(log_dir) / "history.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("usage", None)
        row.pop("seconds", None)
        row.pop("stages", None)
    return rows


def lines(path):
    return Path(path).read_text().splitlines() if Path(path).exists() else []


def test_sigkill_mid_step_then_resume_matches_an_uninterrupted_run(tmp_path):
    full = run_script(tmp_path / "full", tmp_path / "full.calls", 0)
    assert full.returncode == 0, full.stderr
    full_calls = lines(tmp_path / "full.calls")

    killed = run_script(tmp_path / "run", tmp_path / "killed.calls", 40)
    assert killed.returncode == -signal.SIGKILL
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert 0 < state["next_step"] < 6, "the kill must land in the middle of the run"

    resumed = run_script(tmp_path / "run", tmp_path / "resumed.calls", 0)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == json.loads(full.stdout)
    assert comparable(tmp_path / "run") == comparable(tmp_path / "full")

    # The call that triggered the kill never returned and is made again; nothing else is repeated.
    killed_calls, resumed_calls = lines(tmp_path / "killed.calls"), lines(tmp_path / "resumed.calls")
    assert len(killed_calls) - 1 + len(resumed_calls) == len(full_calls)
    target_before = {c for c in killed_calls[:-1] if '"role": "target"' in c}
    assert not target_before & {c for c in resumed_calls if '"role": "target"' in c}


TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill".split())
VAL = word_examples("axe bee cup inn jam key quiz".split())


def compile_in(log_dir, restart=False, **kw):
    target, reflection = fake_lm(target_handler), fake_lm(rule_reflector())
    settings = {"batch_size": 7, "epochs": 1, "learning_rate": 4, "num_threads": 2, "progress": False, **kw}
    with dspy.context(lm=target):
        opt = SkillOpt(metric=group_metric, reflection_lm=reflection, log_dir=log_dir, **settings)
        compiled = opt.compile(WordGroup(), trainset=TRAIN, valset=VAL, restart=restart)
    return compiled, engine_of(target), engine_of(reflection)


def test_a_finished_run_returns_its_result_without_lm_calls(tmp_path):
    first, _, _ = compile_in(tmp_path)
    again, target, reflection = compile_in(tmp_path)
    assert target.calls == [] and reflection.calls == []
    assert again.skill == first.skill
    assert again.detailed_results.best_val_score == first.detailed_results.best_val_score
    assert len(again.detailed_results.history) == len(first.detailed_results.history)
    for name in ("state.json", "history.jsonl", "evals.jsonl", "best_skill.md", "summary.json", "meta_skill.md"):
        assert (tmp_path / name).exists(), name
    assert (tmp_path / "best_skill.md").read_text() == first.skill
    assert list((tmp_path / "skills").glob("*.md"))


def test_changed_settings_are_a_clear_error_and_restart_starts_over(tmp_path):
    compile_in(tmp_path)
    with pytest.raises(IncompatibleRunError, match=r"learning_rate: 4 -> 2.*restart=True"):
        compile_in(tmp_path, learning_rate=2)
    _, target, _ = compile_in(tmp_path, learning_rate=2, restart=True)
    assert target.calls, "a restart runs again"
    assert json.loads((tmp_path / "state.json").read_text())["fingerprint"]["learning_rate"] == 2


def compile_program(log_dir, program, metric=group_metric, restart=False, **kw):
    settings = {"batch_size": 7, "epochs": 1, "num_threads": 2, "progress": False, **kw}
    with dspy.context(lm=fake_lm(target_handler)):
        opt = SkillOpt(metric=metric, reflection_lm=fake_lm(rule_reflector()), log_dir=log_dir, **settings)
        return opt.compile(program, trainset=TRAIN, valset=VAL, restart=restart)


def with_instructions(text):
    program = WordGroup()
    program.predict.signature = program.predict.signature.with_instructions(text)
    return program


def with_demo():
    program = WordGroup()
    program.predict.demos = [dspy.Example(word="apple", group="alpha")]
    return program


def other_metric(example, prediction, trace=None):
    return prediction.group.lower() == example.group


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"program": with_instructions("Name the group.")}, "the program's instructions, signatures or demos"),
        ({"program": with_demo()}, "the program's instructions, signatures or demos"),
        ({"metric": other_metric}, "the metric"),
        ({"meta_skill": "- Prefer short rules."}, "meta_skill"),
    ],
)
def test_resuming_after_the_program_metric_or_meta_skill_changed_is_a_clear_error(tmp_path, changed, named):
    compile_program(tmp_path, WordGroup(), epochs=2, max_lm_calls=20)  # stopped by its budget: resumable
    args = {"program": WordGroup(), **changed}
    program, metric = args.pop("program"), args.pop("metric", group_metric)
    with pytest.raises(IncompatibleRunError, match=rf"{re.escape(named)}.*restart=True"):
        compile_program(tmp_path, program, metric, epochs=2, max_lm_calls=20, **args)
    compile_program(tmp_path, program, metric, epochs=2, restart=True, **args)  # the way out


def test_an_edited_metric_source_is_a_clear_error(tmp_path):
    namespace = {}
    source = "def metric(example, prediction, trace=None):\n    return prediction.group == example.group\n"
    (tmp_path / "m.py").write_text(source)
    exec(compile(source, str(tmp_path / "m.py"), "exec"), namespace)
    compile_program(tmp_path / "run", WordGroup(), namespace["metric"], epochs=2, max_lm_calls=20)
    edited = {}
    # The same qualified name, another body: what a user editing metrics/x.py between runs does.
    (tmp_path / "m.py").write_text(source.replace("==", "!="))
    exec(compile(source.replace("==", "!="), str(tmp_path / "m.py"), "exec"), edited)
    with pytest.raises(IncompatibleRunError, match=r"the metric's source code"):
        compile_program(tmp_path / "run", WordGroup(), edited["metric"], epochs=2, max_lm_calls=20)
