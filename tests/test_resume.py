"""Durable runs: a finished run returns at once; a changed run is a clear error (SIGKILL: test_kill_resume)."""

import json
import re

import dspy
import pytest

from skillopt_dspy import IncompatibleRunError, SkillOpt
from tests.fakes import WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler, word_examples

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


def test_a_run_saved_by_an_older_version_says_what_it_did_not_record(tmp_path):
    compile_in(tmp_path)
    path = tmp_path / "state.json"
    state = json.loads(path.read_text())
    del state["fingerprint"]["metric_source"]
    path.write_text(json.dumps(state))
    with pytest.raises(IncompatibleRunError, match=r"the metric's source code \(not recorded by the skillopt-dspy"):
        compile_in(tmp_path)


def test_history_is_appended_and_a_torn_last_line_is_dropped_on_resume(tmp_path, monkeypatch):
    from skillopt_dspy import state as state_module

    whole = []  # history.jsonl written whole (atomic rewrite) vs appended
    original = state_module.RunDir.write_text

    def counting(self, name, text):
        if name == "history.jsonl":
            whole.append(text.count("\n"))
        return original(self, name, text)

    monkeypatch.setattr(state_module.RunDir, "write_text", counting)
    first, _, _ = compile_in(tmp_path, epochs=2)
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    records = first.detailed_results.history + first.detailed_results.epochs
    assert len(lines) == len(records) > 3
    assert whole == [0]  # written whole once (empty, at the start); every record after that was appended
    # A crash in the middle of an append leaves a torn last line: the run loads and its result is intact.
    with open(tmp_path / "history.jsonl", "a") as f:
        f.write('{"kind": "step", "epoch": 1, "st')
    again, target, _ = compile_in(tmp_path, epochs=2)
    assert target.calls == [] and again.skill == first.skill
    assert len(again.detailed_results.history) == len(first.detailed_results.history)
    # A torn line anywhere else is corruption, not a crash: it is not silently skipped.
    (tmp_path / "history.jsonl").write_text("{torn\n" + "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"history.jsonl: line 1 of \d+ is not a JSON record"):
        compile_in(tmp_path, epochs=2)
