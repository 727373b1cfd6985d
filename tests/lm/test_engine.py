import asyncio
import json
import sys
import threading
import time
from typing import Literal

import dspy
import pytest
from dspy.lm15 import Config, ContextLengthError, InvalidRequestError, Message, Request, ServerError
from pydantic import BaseModel

from skillopt_dspy.lm import AsyncLocalEngine, LocalEngine, LocalModelError, cap_schema, local_lm
from skillopt_dspy.lm import engine as engine_module
from skillopt_dspy.skill import apply_skill


class FakeBackend:
    """Stands in for llama.cpp: records payloads, answers with a canned OpenAI-style completion."""

    def __init__(self, content='{"queue": "billing", "note": "ok"}', delay=0.0, error=None, raises=None):
        self.content, self.delay, self.error, self.raises = content, delay, error, raises
        self.payloads = []
        self.timeouts = []
        self.active = 0
        self.max_active = 0
        self._count_lock = threading.Lock()

    def chat(self, payload, *, timeout=None):
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.payloads.append(payload)
            self.timeouts.append(timeout)
        time.sleep(self.delay)
        with self._count_lock:
            self.active -= 1
        if self.raises:
            raise self.raises
        if self.error:
            return {"error": self.error}
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


def request(**config):
    return Request(model="local/x", messages=(Message.user("hi"),), system="sys", config=Config(**config))


def test_json_adapter_gets_schema_constrained_decoding_with_string_caps():
    backend = FakeBackend()
    with dspy.context(lm=lm_with(backend), adapter=dspy.JSONAdapter()):
        out = dspy.Predict(Route)(ticket="charged twice")
    assert out.queue == "billing" and out.note == "ok"
    fmt = backend.payloads[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"]
    props = fmt["json_schema"]["schema"]["properties"]
    assert props["note"]["maxLength"] == 1200
    assert props["queue"]["enum"] == ["billing", "technical"] and "maxLength" not in props["queue"]
    assert set(fmt["json_schema"]["schema"]["required"]) == {"queue", "note"}


def test_nested_pydantic_outputs_get_capped_strings_through_dspy():
    class Edit(BaseModel):
        op: Literal["add", "delete"]
        content: str

    class Reflect(dspy.Signature):
        failures: str = dspy.InputField()
        edits: list[Edit] = dspy.OutputField()

    backend = FakeBackend('{"edits": [{"op": "add", "content": "- a rule"}]}')
    with dspy.context(lm=lm_with(backend, string_max_length=300), adapter=dspy.JSONAdapter()):
        out = dspy.Predict(Reflect)(failures="x")
    assert out.edits[0].content == "- a rule"
    schema = json.dumps(backend.payloads[0]["response_format"]["json_schema"]["schema"])
    assert '"content": {"title": "Content", "type": "string", "maxLength": 300}' in schema


def test_chat_adapter_sends_no_response_format():
    backend = FakeBackend("[[ ## queue ## ]]\nbilling\n\n[[ ## note ## ]]\nok\n\n[[ ## completed ## ]]")
    with dspy.context(lm=lm_with(backend), adapter=dspy.ChatAdapter()):
        assert dspy.Predict(Route)(ticket="x").queue == "billing"
    assert "response_format" not in backend.payloads[0]


def test_prompt_layout_puts_the_skill_in_a_stable_system_prefix():
    backend = FakeBackend()
    program = apply_skill(dspy.Predict(Route), "- Chargebacks go to billing.")
    with dspy.context(lm=lm_with(backend), adapter=dspy.JSONAdapter()):
        program(ticket="ticket-AAA")
        program(ticket="ticket-BBB")
    first, second = backend.payloads
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "- Chargebacks go to billing." in first["messages"][0]["content"]
    assert "ticket-AAA" not in first["messages"][0]["content"]  # inputs stay out of the shared prefix
    assert first["messages"][0] == second["messages"][0]
    assert first["messages"][-1] != second["messages"][-1]


def test_decoding_is_deterministic_and_bounded_by_default():
    backend = FakeBackend()
    engine = LocalEngine("x.gguf", backend=backend)
    engine.complete(request())
    payload = backend.payloads[0]
    assert payload["temperature"] == 0.0 and payload["seed"] == 0 and payload["cache_prompt"] is True
    assert payload["max_tokens"] == 1024 and backend.timeouts == [300.0]


def test_payload_passes_generation_settings():
    engine = LocalEngine("x.gguf", backend=FakeBackend(), max_tokens=77, cache_prompt=False)
    payload = engine.payload(request(temperature=0.7, stop=("END",), seed=3, top_p=0.5))
    assert payload["max_tokens"] == 77 and payload["temperature"] == 0.7 and payload["stop"] == ["END"]
    assert payload["seed"] == 3 and payload["top_p"] == 0.5 and payload["cache_prompt"] is False
    assert payload["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    assert engine.payload(request(max_tokens=5))["max_tokens"] == 5
    assert engine.payload(request(response_format={"type": "json_object"}))["response_format"] == {
        "type": "json_object"
    }


def test_usage_is_reported_to_dspy():
    lm = lm_with(FakeBackend())
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        dspy.Predict(Route)(ticket="x")
    usage = lm.history[-1]["usage"]
    assert usage["prompt_tokens"] == 120 and usage["completion_tokens"] == 9


def test_calls_are_serialized_across_threads():
    backend = FakeBackend(delay=0.02)
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


def test_engines_sharing_a_backend_share_its_lock():
    backend = FakeBackend(delay=0.02)
    backend.lock = threading.Lock()
    engines = [LocalEngine("x.gguf", backend=backend) for _ in range(2)]
    threads = [threading.Thread(target=engines[i % 2].complete, args=(request(),)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(backend.payloads) == 6 and backend.max_active == 1


@pytest.mark.parametrize(
    ("backend", "error", "match"),
    [
        (
            FakeBackend(error={"code": 400, "type": "exceed_context_size_error", "message": "exceeds the context"}),
            ContextLengthError,
            "exceeds",
        ),
        (FakeBackend(error={"code": 400, "message": "bad grammar"}), InvalidRequestError, "bad grammar"),
        (FakeBackend(raises=ValueError("JSON schema error at #/a")), InvalidRequestError, "schema error"),
        (FakeBackend(error={"code": 500, "message": "boom"}), ServerError, "boom"),
    ],
)
def test_backend_errors_become_dspy_errors(backend, error, match):
    with pytest.raises(error, match=match):
        LocalEngine("x.gguf", backend=backend).complete(request())


def test_a_timed_out_generation_comes_back_truncated(caplog):
    class Slow(FakeBackend):
        def chat(self, payload, *, timeout=None):
            return {"choices": [{"message": {"content": '{"queue": "bil'}, "finish_reason": "length"}],
                    "usage": {"prompt_tokens": None, "completion_tokens": 4}, "timed_out": True}  # fmt: skip

    response = LocalEngine("x.gguf", backend=Slow(), timeout=1.0).complete(request())
    assert response.finish_reason == "length" and response.text == '{"queue": "bil'
    assert "generation cut after 1.0 s" in caplog.text


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="max_tokens"):
        LocalEngine("x.gguf", backend=FakeBackend(), max_tokens=0)
    with pytest.raises(ValueError, match="timeout"):
        LocalEngine("x.gguf", backend=FakeBackend(), timeout=0)


def test_array_bound_is_opt_in_and_keeps_existing_bounds():
    schema = {"type": "object", "properties": {"a": {"type": "array"}, "b": {"type": "array", "maxItems": 2}}}
    assert "maxItems" not in cap_schema(schema, 10)["properties"]["a"]
    capped = cap_schema(schema, 10, 4)["properties"]
    assert capped["a"]["maxItems"] == 4 and capped["b"]["maxItems"] == 2
    backend = FakeBackend()
    LocalEngine("x.gguf", backend=backend, array_max_items=3).complete(
        request(response_format={"type": "json_schema", "schema": schema})
    )
    assert backend.payloads[0]["response_format"]["json_schema"]["schema"]["properties"]["a"]["maxItems"] == 3


def test_cap_schema_walks_nested_schemas_and_copies():
    schema = {"type": "object", "properties": {"edits": {"type": "array", "items": {"$ref": "#/$defs/E"}}}}
    schema["$defs"] = {
        "E": {
            "type": "object",
            "properties": {
                "t": {"type": "string", "maxLength": 5},
                "c": {"type": "string"},
                "o": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "k": {"type": "string", "const": "x"},
            },
        }
    }
    capped = cap_schema(schema, 99)
    props = capped["$defs"]["E"]["properties"]
    assert props["c"]["maxLength"] == 99 and props["o"]["anyOf"][0]["maxLength"] == 99
    assert props["t"]["maxLength"] == 5 and "maxLength" not in props["k"]
    assert "maxLength" not in json.dumps(schema["$defs"]["E"]["properties"]["c"])


def test_missing_runtime_is_an_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    monkeypatch.setattr(engine_module, "resolve_model", lambda m: pytest.fail("weights touched before the check"))
    with pytest.raises(ImportError, match=r'pip install -e "\.\[local\]"'):
        LocalEngine("qwen2.5-coder-0.5b")
    with pytest.raises(ImportError, match="local"):
        local_lm()


def test_model_errors_come_before_any_model_load(monkeypatch, tmp_path):
    monkeypatch.setattr(engine_module, "import_xllamacpp", lambda: None)
    monkeypatch.setattr(engine_module, "shared_backend", lambda *a, **k: pytest.fail("model loaded"))
    with pytest.raises(LocalModelError, match="unknown local model 'gpt-9'"):
        LocalEngine("gpt-9")
    with pytest.raises(LocalModelError, match="no GGUF file"):
        LocalEngine(str(tmp_path / "missing.gguf"))
    (tmp_path / "notes.gguf").write_text("hello")
    with pytest.raises(LocalModelError, match="not a GGUF file"):
        LocalEngine(str(tmp_path / "notes.gguf"))


def test_an_lm_over_the_engine_saves_and_loads(monkeypatch, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    loaded = []
    monkeypatch.setattr(engine_module, "import_xllamacpp", lambda: None)
    monkeypatch.setattr(engine_module, "shared_backend", lambda path, **kw: loaded.append((path, kw)) or FakeBackend())
    lm = local_lm(str(model), n_ctx=1024, max_tokens=64, timeout=None)
    state = lm.dump_state()
    assert state["engine"]["state"]["n_threads"] is None  # the loading machine picks its own core count
    restored = dspy.LM.load_state(json.loads(json.dumps(state)), allow_custom_lm_class=True)
    assert isinstance(restored.engine, LocalEngine) and restored.engine.dump_state() == lm.engine.dump_state()
    threads = loaded[-1][1]["n_threads"]
    assert loaded[-1] == (model, {"n_ctx": 1024, "n_threads": threads, "speculative": None, "n_parallel": 1})


def test_async_calls_work_through_the_async_engine(monkeypatch, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    backend = FakeBackend()
    monkeypatch.setattr(engine_module, "import_xllamacpp", lambda: None)
    monkeypatch.setattr(engine_module, "shared_backend", lambda path, **kw: backend)
    lm = local_lm(str(model))

    async def run():
        with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
            return await dspy.Predict(Route).acall(ticket="x")

    assert asyncio.run(run()).queue == "billing"
    assert "response_format" in backend.payloads[-1]
    state = lm.dump_state()
    assert state["async_engine"]["state"] == state["engine"]["state"]
    restored = dspy.LM.load_state(state, allow_custom_lm_class=True)
    assert isinstance(restored._async_engine_spec, AsyncLocalEngine)


def test_cached_prompt_tokens_and_llama_cpp_timings_reach_the_history():
    class TimedBackend(FakeBackend):
        def chat(self, payload, *, timeout=None):
            out = super().chat(payload, timeout=timeout)
            out["usage"]["prompt_tokens_details"] = {"cached_tokens": 100}
            out["timings"] = {"prompt_n": 20, "cache_n": 100, "prompt_ms": 50.0, "predicted_ms": 90.0}
            return out

    lm = lm_with(TimedBackend())
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        dspy.Predict(Route)(ticket="x")
    entry = lm.history[-1]
    assert entry["usage"]["prompt_tokens"] == 120 and entry["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
    assert entry["response"].provider_data["timings"]["prompt_n"] == 20
