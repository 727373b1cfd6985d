"""Faults with fake LMs: program and LM errors, malformed answers, a raising metric, a full disk.

A fault is a failed example or a failed call, counted and reported; the run stops only on a systematic
failure, and then returns what it accepted, with its state saved so that a rerun continues.
"""

import json

import dspy

from skillopt_dspy import SkillOpt
from tests.fakes import WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill".split())
VAL = word_examples("axe bee cup inn jam key quiz".split())


def compile_with(target_handler_, reflection_handler=None, *, program=None, metric=group_metric, **kw):
    settings = {"batch_size": 7, "epochs": 2, "learning_rate": 4, "num_threads": 1, "progress": False, **kw}
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
