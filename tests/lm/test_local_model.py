"""The real embedded model, end to end (needs the 'local' extra; runs in CI)."""

import importlib.util
from typing import Literal

import dspy
import pytest

pytestmark = pytest.mark.local_lm

if importlib.util.find_spec("xllamacpp") is None:
    pytest.skip('the "local" extra is not installed', allow_module_level=True)


@pytest.fixture(scope="module")
def lm():
    from skillopt_dspy.lm import LocalModelError, local_lm

    try:
        return local_lm("qwen2.5-coder-0.5b")
    except LocalModelError as exc:
        pytest.skip(str(exc))


class Route(dspy.Signature):
    """Route the support ticket to a queue."""

    ticket: str = dspy.InputField()
    queue: Literal["billing", "technical", "shipping"] = dspy.OutputField()


def test_predict_with_json_adapter_returns_a_valid_label(lm):
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        out = dspy.Predict(Route)(ticket="My parcel never arrived and tracking shows nothing.")
    assert out.queue in ("billing", "technical", "shipping")
    assert lm.history[-1]["usage"]["completion_tokens"] > 0


def test_reflect_signature_parses_under_constrained_decoding(lm):
    from skillopt_dspy.signatures import ReflectFailures

    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        out = dspy.Predict(ReflectFailures)(
            skill="## Rules\n- Answer with the queue only.",
            trajectories="### Example 1 — FAILED (score 0.00)\nInputs:\n  ticket: I will file a chargeback\n"
            "Model output:\n  queue: billing\nExpected:\n  queue: escalations\nFeedback: chargebacks go to escalations",
            edit_budget=2,
            rejected_edits="(none)",
            optimizer_memory="(none yet)",
        )
    assert isinstance(out.edits, list)
    assert all(e.op in ("add", "insert_after", "replace", "delete") for e in out.edits)
