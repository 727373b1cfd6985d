"""The call journal: a resumed unit replays finished reflection calls (answers and errors) without the LM."""

import dspy
import pytest

from skillopt_dspy.journal import CallJournal, journaled
from tests.fakes import engine_of, fake_lm


def ask(lm, question):
    with dspy.context(lm=lm):
        return dspy.Predict("question -> answer")(question=question).answer


def test_a_resumed_unit_replays_finished_calls_and_calls_the_lm_for_the_rest(tmp_path):
    path = tmp_path / "calls.jsonl"
    first = fake_lm(lambda call: {"answer": f"one {call.inputs['question']}"})
    journal = CallJournal(path)
    journal.begin("step 3")
    assert ask(journaled(first, journal), "a") == "one a"
    assert ask(journaled(first, journal), "a") == "one a"  # the same request twice: two slots

    again = fake_lm(lambda call: {"answer": f"two {call.inputs['question']}"})
    resumed = CallJournal(path)
    resumed.begin("step 3")
    lm = journaled(again, resumed)
    assert [ask(lm, "a"), ask(lm, "a"), ask(lm, "b")] == ["one a", "one a", "two b"]
    assert [c.inputs["question"] for c in engine_of(again).calls] == ["b"], "only the unfinished call is made"
    assert not hasattr(again, "_skillopt_journal"), "the caller's LM is not changed"

    later = CallJournal(path)
    later.begin("step 4")  # the next unit forgets step 3's calls
    assert ask(journaled(again, later), "a") == "two a"


def test_a_failed_call_is_replayed_as_the_same_error(tmp_path):
    def down(call):
        raise ConnectionError("connection reset")

    journal = CallJournal(tmp_path / "calls.jsonl")
    journal.begin("epoch 0")
    with pytest.raises(Exception, match="connection reset") as first:
        ask(journaled(fake_lm(down), journal), "a")

    up = fake_lm(lambda call: {"answer": "fine"})
    resumed = CallJournal(tmp_path / "calls.jsonl")
    resumed.begin("epoch 0")
    with pytest.raises(Exception, match="connection reset") as again:
        ask(journaled(up, resumed), "a")
    assert type(again.value).__name__ == type(first.value).__name__ and str(again.value) == str(first.value)
    assert engine_of(up).calls == []
