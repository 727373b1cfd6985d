import os
import sys
import threading
import time

import pytest

from skillopt_dspy.lm.backend import XllamaBackend, import_xllamacpp, looping, merge_chunks


def chunk(content=None, finish=None, **extra):
    return {"id": "c1", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}], **extra}


USAGE = {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 3}}


def test_merge_chunks_rebuilds_one_completion():
    out = merge_chunks([chunk(None), chunk('{"a"'), chunk(": 1}"), chunk(None, "stop"), USAGE])
    assert out["choices"][0]["message"]["content"] == '{"a": 1}'
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 50, "completion_tokens": 3} and out["timed_out"] is False


def test_merge_chunks_passes_errors_through():
    error = {"code": 400, "message": "exceeds the available context size"}
    assert merge_chunks([{"error": error}]) == {"error": error}


def test_a_cut_stream_is_truncated_and_counts_its_tokens():
    out = merge_chunks([chunk("a"), chunk("b"), chunk("c")], timed_out=True)
    assert out["choices"][0] == {"message": {"role": "assistant", "content": "abc"}, "finish_reason": "length"}
    assert out["usage"]["completion_tokens"] == 3 and out["timed_out"] is True


class FakeServer:
    """xllamacpp.Server's streaming contract: one chunk per token until the callback returns True."""

    def __init__(self, tokens, delay):
        self.tokens, self.delay = tokens, delay
        self.payloads = []

    def handle_chat_completions(self, payload, callback):
        self.payloads.append(payload)
        for token in self.tokens:
            time.sleep(self.delay)
            if callback(chunk(token)):
                return None
        callback(chunk(None, "stop"))
        callback({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": len(self.tokens)}})
        return None


def backend_over(server):
    backend = object.__new__(XllamaBackend)  # skip loading a model
    backend.server, backend.lock = server, threading.Lock()
    return backend


def test_backend_streams_and_asks_for_usage():
    server = FakeServer(["4"], delay=0)
    out = backend_over(server).chat({"messages": []}, timeout=None)
    assert server.payloads[0]["stream"] is True and server.payloads[0]["stream_options"] == {"include_usage": True}
    assert out["choices"][0]["message"]["content"] == "4" and out["usage"]["prompt_tokens"] == 7


def test_backend_stops_a_runaway_generation_at_the_timeout():
    server = FakeServer([f"{i} " for i in range(1000)], delay=0.005)
    start = time.monotonic()
    out = backend_over(server).chat({"messages": []}, timeout=0.1)
    assert time.monotonic() - start < 2.0
    assert out["timed_out"] is True and out["choices"][0]["finish_reason"] == "length"
    assert 5 < out["usage"]["completion_tokens"] < 1000


def test_backend_cuts_a_generation_that_loops():
    tokens = ['{"edits": [{"content": "'] + ["Refunds ", "over 100 ", "go to ", "escalations. "] * 300
    out = backend_over(FakeServer(tokens, delay=0)).chat({"messages": []}, timeout=None)
    assert out["looped"] is True and out["timed_out"] is False and out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"].startswith('{"edits": [{"content": "Refunds over 100 go to')
    assert 40 < out["usage"]["completion_tokens"] < 100  # cut soon after four repeats, not at the 1,201st token


def test_backend_keeps_long_answers_that_do_not_loop_and_can_be_told_not_to_cut():
    varied = [f"- rule {i}: word{i} goes to queue {i % 7}.\n" for i in range(300)]
    out = backend_over(FakeServer(varied, delay=0)).chat({"messages": []}, timeout=None)
    assert "looped" not in out and out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["completion_tokens"] == 300
    looping_tokens = ["ab"] * 400
    backend = backend_over(FakeServer(looping_tokens, delay=0))
    backend.stop_loops = False
    out = backend.chat({"messages": []}, timeout=None)
    assert out["choices"][0]["message"]["content"] == "ab" * 400 and "looped" not in out


def test_looping_needs_a_long_tail_of_repeats():
    assert looping("ab" * 159) is None and looping("ab" * 160) == 2  # 320 characters
    assert looping("x" * 10 + "0123456789" * 31) is None and looping("0123456789" * 32) == 10
    alphabet = "".join(chr(65 + i % 26) for i in range(500))  # a 26-character unit, repeated
    assert looping("A varied sentence with no cycle at all, " + alphabet) == 26
    assert looping("") is None


def test_openmp_spin_default_is_set_but_never_overrides_the_user(monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", object())  # an already-imported runtime
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    import_xllamacpp()
    assert os.environ["GOMP_SPINCOUNT"] == "1000"
    monkeypatch.setenv("GOMP_SPINCOUNT", "50")
    import_xllamacpp()
    assert os.environ["GOMP_SPINCOUNT"] == "50"


def test_a_runtime_that_cannot_load_says_why(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "xllamacpp":
            raise ImportError("libgomp.so.1: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "xllamacpp", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"libgomp\.so\.1.*apt-get install libgomp1"):
        import_xllamacpp()


def test_under_a_json_schema_a_repeat_inside_one_bounded_string_is_not_cut():
    # Constrained decoding ends a string at its maxLength: the answer stays valid JSON, so only a cycle
    # longer than the longest string is a loop (measured: a 0.5B reflection answer repeated one sentence).
    schema = {"type": "object", "properties": {"s": {"type": "string", "maxLength": 600}}}
    payload = {"messages": [], "response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    inside = ['{"s": "'] + ["Refunds go to billing. "] * 26 + ['"}']  # 598 characters of repeats in the string
    out = backend_over(FakeServer(inside, delay=0)).chat(payload, timeout=None)
    assert "looped" not in out and out["choices"][0]["message"]["content"].endswith('"}')
    endless = ['{"s": ['] + ['{"a": "x"}, '] * 400  # an unbounded array of one object: still cut
    out = backend_over(FakeServer(endless, delay=0)).chat(payload, timeout=None)
    assert out["looped"] is True and out["usage"]["completion_tokens"] < 200
