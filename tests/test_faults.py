"""Faults with fake LMs: program and LM errors, malformed answers, a raising metric, a full disk.

A fault is a failed example or a failed call, counted and reported; the run stops only on a systematic
failure, and then returns what it accepted, with its state saved so that a rerun continues.
"""

import errno
import json

import dspy
import pytest

from skillopt_dspy import SkillOpt
from skillopt_dspy.skill import skill_hash
from tests.fakes import WordGroup, fake_lm, group_metric, rule_for, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill".split())
VAL = word_examples("axe bee cup inn jam key quiz".split())


def compile_with(target_handler_, reflection_handler=None, *, program=None, metric=group_metric, **kw):
    settings = {"batch_size": 7, "epochs": 2, "learning_rate": 4, "num_threads": 1, "progress": False}
    settings |= {"gate_test": "strict", **kw}  # a one-word gain on the toy valset must pass: the strict gate
    target = fake_lm(target_handler_, name="fake/target")
    reflection = fake_lm(reflection_handler or rule_reflector(), name="fake/reflect")
    with dspy.context(lm=target):
        opt = SkillOpt(metric=metric, reflection_lm=reflection, **settings)
        return opt.compile(program or WordGroup(), trainset=TRAIN, valset=VAL)


class Overflows(dspy.Module):
    """Raises on one validation word, every time (say, a context-window overflow)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = WordGroup()

    def forward(self, word: str):
        if word == "quiz":
            raise ValueError("context window exceeded")
        return self.inner(word=word)


def test_one_example_that_always_raises_is_a_failed_example_not_a_stopped_run():
    # Each candidate's validation meets the error once: more errors over the run than max_errors, never in one.
    compiled = compile_with(target_handler, program=Overflows(), max_errors=2, epochs=3)
    res = compiled.detailed_results
    assert res.stop_reason == "completed all epochs"
    assert res.faults["program_error"] > 2
    assert res.best_val_score == 6 / 7, "every word but the one that raises is learned"


def test_a_systematic_failure_returns_what_was_accepted_and_a_rerun_continues(tmp_path):
    down = {"after": 30, "calls": 0}

    def flaky_server(call):
        down["calls"] += 1
        if down["after"] is not None and down["calls"] > down["after"]:
            raise ConnectionError("the LM server went away")
        return target_handler(call)

    compiled = compile_with(flaky_server, log_dir=tmp_path)
    res = compiled.detailed_results
    assert res.stop_reason.startswith("stopped:") and "the LM server went away" in res.stop_reason
    assert res.history and res.best_val_score > res.baseline_val_score, "the accepted step is kept"
    assert compiled.skill == res.best_skill and "Words starting" in compiled.skill
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["skill"] == compiled.skill and not state["finished"]

    down["after"] = None  # the server is back: the same call continues the run
    again = compile_with(flaky_server, log_dir=tmp_path).detailed_results
    assert again.stop_reason == "completed all epochs"
    assert [s.step for s in again.history] == list(range(len(again.history)))
    assert again.best_val_score == 1.0


def history_rows(log_dir):
    """history.jsonl without what legitimately differs between processes (time, counters)."""
    rows = [json.loads(line) for line in (log_dir / "history.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("usage", None)
        row.pop("seconds", None)
        row.pop("stages", None)  # per-stage counters and times
    return rows


def wise_reflector(call):
    """One rule per step (with learning_rate=1); the slow update writes every rule: it is accepted."""
    if "guidance" in call.outputs:
        return {"guidance": "\n".join(dict.fromkeys(rule_for(w) for w in "axe bee cup inn jam key quiz".split()))}
    return rule_reflector()(call)


def test_ctrl_c_during_the_meta_skill_call_saves_the_epoch_boundary_whole_or_not_at_all(tmp_path):
    full = compile_with(target_handler, wise_reflector, log_dir=tmp_path / "full", learning_rate=1)
    assert full.detailed_results.epochs[0].slow_update["accepted"], "the slow update changes the skill"

    def interrupted(call):
        if "notes" in call.outputs:  # the meta-skill call, after the slow update was accepted
            raise KeyboardInterrupt
        return wise_reflector(call)

    first = compile_with(target_handler, interrupted, log_dir=tmp_path / "run", learning_rate=1).detailed_results
    assert first.stop_reason.startswith("interrupted")
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    last_step = history_rows(tmp_path / "run")[-1]
    assert state["epochs_done"] == 0 and last_step["kind"] == "step"
    assert skill_hash(state["skill"]) == last_step["skill_hash"], "no slow-update guidance without its epoch record"
    assert first.best_skill == state["skill"]

    resumed = compile_with(target_handler, wise_reflector, log_dir=tmp_path / "run", learning_rate=1)
    assert resumed.skill == full.skill
    assert history_rows(tmp_path / "run") == history_rows(tmp_path / "full")


def test_a_full_disk_is_a_clear_error_and_the_last_saved_state_stays_intact(tmp_path, monkeypatch):
    import skillopt_dspy.state as state_module

    real_write = state_module.atomic_write_text
    saves = {"state": 0}

    def write(path, text):
        if path.name == "state.json":
            saves["state"] += 1
            if saves["state"] == 3:  # the initial save, step 1, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, text)

    monkeypatch.setattr(state_module, "atomic_write_text", write)
    with pytest.raises(OSError, match=r"could not save the run in .*No space left on device.*after 1 of 4 steps.*"):
        compile_with(target_handler, log_dir=tmp_path / "run")
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["next_step"] == 1
    monkeypatch.setattr(state_module, "atomic_write_text", real_write)

    resumed = compile_with(target_handler, log_dir=tmp_path / "run")  # space freed: the run continues
    full = compile_with(target_handler, log_dir=tmp_path / "full")
    assert resumed.skill == full.skill
    assert history_rows(tmp_path / "run") == history_rows(tmp_path / "full")


def test_a_torn_last_line_of_evals_jsonl_does_not_swallow_the_next_record(tmp_path):
    from skillopt_dspy.state import EvalStore

    path = tmp_path / "evals.jsonl"
    path.write_text(json.dumps({"skill": "s", "example": "a", "score": 1}) + "\n" + '{"skill": "s", "exa')
    store = EvalStore(path)
    store.add({"skill": "s", "example": "b", "score": 0})
    store.close()
    again = EvalStore(path)
    assert again.get("s", "a") is not None and again.get("s", "b") is not None


def every_nth_raises(handler, n, exc):
    count = {"calls": 0}

    def h(call):
        count["calls"] += 1
        if count["calls"] % n == 0:
            raise exc
        return handler(call)

    return h


def test_a_reflection_lm_that_raises_intermittently_is_counted_and_the_run_goes_on():
    flaky = every_nth_raises(rule_reflector(), 3, ConnectionError("connection reset by peer"))
    res = compile_with(target_handler, flaky, epochs=3).detailed_results
    assert res.stop_reason == "completed all epochs"
    failed = sum(res.faults.get(k, 0) for k in ("reflect_error", "aggregate_error", "slow_update_error"))
    assert failed > 0, res.faults
    assert res.best_val_score > res.baseline_val_score
    assert any("connection reset by peer" in e for s in res.history for e in s.errors)


def test_a_target_lm_that_times_out_on_some_examples_fails_those_examples_only():
    res = compile_with(every_nth_raises(target_handler, 5, TimeoutError("request timed out")), epochs=2)
    res = res.detailed_results
    assert res.stop_reason == "completed all epochs"
    assert res.faults["program_error"] > 0
    assert res.best_val_score > res.baseline_val_score


def test_malformed_json_from_the_reflection_lm_is_a_counted_fault_not_a_crash():
    res = compile_with(target_handler, lambda call: '{"edits": [ this is not json', epochs=1).detailed_results
    assert res.stop_reason == "completed all epochs"
    assert res.faults["reflect_error"] >= 1
    assert res.best_skill == res.initial_skill and res.best_val_score == res.baseline_val_score


def test_a_metric_that_raises_is_a_counted_metric_error_and_the_run_goes_on():
    def metric(example, prediction, trace=None):
        if example.word in ("cat", "jam"):
            raise KeyError("gold label missing")
        return group_metric(example, prediction, trace)

    res = compile_with(target_handler, metric=metric, epochs=2).detailed_results
    assert res.stop_reason == "completed all epochs"
    assert res.faults["metric_error"] > 0
    assert 0 < res.best_val_score < 1.0, "the example whose metric raises scores as a failure, never a pass"
