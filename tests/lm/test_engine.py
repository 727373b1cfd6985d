import json
import threading
import time
from typing import Literal

import dspy
import pytest
from dspy.lm15 import ContextLengthError, ServerError

from skillopt_dspy.lm import LocalEngine, cap_strings
from skillopt_dspy.skill import apply_skill


class FakeBackend:
    """Stands in for llama.cpp: records payloads, answers with a canned OpenAI-style completion."""

    def __init__(self, content='{"queue": "billing"}', delay=0.0, error=None):
        self.content, self.delay, self.error = content, delay, error
        self.payloads = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def chat(self, payload):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.payloads.append(payload)
        time.sleep(self.delay)
        with self._lock:
            self.active -= 1
        if self.error:
            return {"error": {"message": self.error}}
        return {
            "id": "x",
            "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": self.content}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 9},
        }


class Route(dspy.Signature):
    """Route the ticket."""

    ticket: str = dspy.InputField()
    queue: Literal["billing", "technical"] = dspy.OutputField()
    note: str = dspy.OutputField()


def lm_with(backend, **kw):
    return dspy.LM("local/fake", engine=LocalEngine("fake.gguf", backend=backend, **kw), cache=False)


def test_json_adapter_gets_schema_constrained_decoding_with_string_caps():
    backend = FakeBackend('{"queue": "billing", "note": "ok"}')
    with dspy.context(lm=lm_with(backend), adapter=dspy.JSONAdapter()):
        out = dspy.Predict(Route)(ticket="charged twice")
    assert out.queue == "billing"
    fmt = backend.payloads[0]["response_format"]
    assert fmt["type"] == "json_schema"
    props = fmt["json_schema"]["schema"]["properties"]
    assert props["note"]["maxLength"] == 1200
    assert "maxLength" not in props["queue"]  # enums are already bounded


def test_prompt_layout_puts_the_skill_in_a_stable_system_prefix():
    backend = FakeBackend('{"queue": "billing", "note": "ok"}')
    program = apply_skill(dspy.Predict(Route), "- Chargebacks go to billing.")
    with dspy.context(lm=lm_with(backend), adapter=dspy.JSONAdapter()):
        program(ticket="one")
        program(ticket="two")
    first, second = backend.payloads
    assert first["messages"][0]["role"] == "system"
    assert "- Chargebacks go to billing." in first["messages"][0]["content"]
    assert first["messages"][0] == second["messages"][0]
    assert first["messages"][-1] != second["messages"][-1]
    assert first["cache_prompt"] is True and first["temperature"] == 0.0 and first["seed"] == 0


def test_usage_is_reported_to_dspy():
    lm = lm_with(FakeBackend('{"queue": "billing", "note": "ok"}'))
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        dspy.Predict(Route)(ticket="x")
    usage = lm.history[-1]["usage"]
    assert usage["prompt_tokens"] == 120 and usage["completion_tokens"] == 9


def test_calls_are_serialized_across_threads():
    backend = FakeBackend('{"queue": "billing", "note": "ok"}', delay=0.02)
    lm = lm_with(backend)
    program = dspy.Predict(Route)

    def call(i):
        with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
            program(ticket=f"t{i}")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(backend.payloads) == 6 and backend.max_active == 1


def test_backend_errors_become_dspy_errors():
    with pytest.raises(ContextLengthError):
        LocalEngine("x.gguf", backend=FakeBackend(error="the request exceeds the available context size")).complete(
            _request()
        )
    with pytest.raises(ServerError, match="boom"):
        LocalEngine("x.gguf", backend=FakeBackend(error="boom")).complete(_request())


def _request(**config):
    from dspy.lm15 import Config, Message, Request

    return Request(model="local/x", messages=(Message.user("hi"),), system="sys", config=Config(**config))


def test_payload_passes_generation_settings():
    engine = LocalEngine("x.gguf", backend=FakeBackend(), max_tokens=77, cache_prompt=False)
    payload = engine.payload(_request(temperature=0.7, stop=("END",), seed=3))
    assert payload["max_tokens"] == 77 and payload["temperature"] == 0.7 and payload["stop"] == ["END"]
    assert payload["seed"] == 3 and payload["cache_prompt"] is False
    assert payload["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]


def test_cap_strings_walks_nested_schemas_and_copies():
    schema = {"type": "object", "properties": {"edits": {"type": "array", "items": {"$ref": "#/$defs/E"}}}}
    schema["$defs"] = {
        "E": {"type": "object", "properties": {"t": {"type": "string", "maxLength": 5}, "c": {"type": "string"}}}
    }
    capped = cap_strings(schema, 99)
    assert capped["$defs"]["E"]["properties"]["c"]["maxLength"] == 99
    assert capped["$defs"]["E"]["properties"]["t"]["maxLength"] == 5
    assert "maxLength" not in json.dumps(schema["$defs"]["E"]["properties"]["c"])


def test_state_round_trip():
    engine = LocalEngine("x.gguf", backend=FakeBackend(), n_ctx=1024)
    state = engine.dump_state()
    assert state["model"] == "x.gguf" and state["n_ctx"] == 1024
