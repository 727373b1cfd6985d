"""Scripted LMs for tests and benchmarks: DSPy 3.4 engines that answer from a Python handler, offline.

A handler receives a :class:`Call` (the signature's output field names, the input fields parsed from the
prompt, the system text and the skill baked into it) and returns a dict of output values. The engine
formats them the way the adapter in use expects (JSON for JSONAdapter, field markers for ChatAdapter).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dspy
from dspy.lm15 import Message, Response, TextPart, Usage

from skillopt_dspy.skill import skill_in

_FIELD_RE = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?=\n\n\[\[ ## |\n*\Z)", re.S)
_OUT_RE = re.compile(r"Your output fields are:\n(.*?)(?:\n\n|\nAll interactions|\Z)", re.S)


@dataclass
class Call:
    outputs: list[str]
    inputs: dict[str, str]
    system: str
    skill: str
    json_mode: bool
    extra: dict = field(default_factory=dict)
    temperature: float | None = None  # the request's sampling settings (None: the LM's default)
    seed: int | None = None


def parse_request(request) -> Call:
    system = request.system if isinstance(request.system, str) else "".join(p.text for p in (request.system or ()))
    user = request.messages[-1].text or ""
    # The adapter's closing instruction follows the last field: cut it off.
    inputs = {m.group(1): m.group(2).split("\n\nRespond with")[0].strip() for m in _FIELD_RE.finditer(user)}
    block = _OUT_RE.search(system)
    outputs = re.findall(r"`(\w+)`", block.group(1)) if block else []
    json_mode = request.config.response_format is not None or "Outputs will be a JSON object" in system
    config = request.config
    return Call(
        outputs, inputs, system, skill_in(system) or "", json_mode, temperature=config.temperature, seed=config.seed
    )


def format_outputs(call: Call, values: dict) -> str:
    if call.json_mode:
        return json.dumps(values)
    parts = [f"[[ ## {k} ## ]]\n{v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items()]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


class FakeEngine:
    """A DSPy engine answering every request with ``handler(call)``; records calls; optional latency.

    ``busy_s`` adds up the time spent inside :meth:`complete` (latency + handler), across threads.

    Example:
        >>> lm = fake_lm(lambda call: {"answer": "42"})
        >>> with dspy.context(lm=lm):
        ...     dspy.Predict("question -> answer")(question="?").answer
        '42'
    """

    supports_response_schema = True
    supported_params = frozenset({"response_format", "temperature", "max_tokens"})

    def __init__(self, handler: Callable[[Call], dict | str], latency: float = 0.0) -> None:
        self.handler = handler
        self.latency = latency
        self.calls: list[Call] = []
        self.busy_s = 0.0
        self._lock = threading.Lock()

    def complete(self, request):
        started = time.perf_counter()
        call = parse_request(request)
        with self._lock:
            self.calls.append(call)
        if self.latency:
            time.sleep(self.latency)
        out = self.handler(call)
        text = out if isinstance(out, str) else format_outputs(call, out)
        with self._lock:
            self.busy_s += time.perf_counter() - started
        return Response(
            id=None,
            model="fake",
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=len(call.system) // 4 + 1, output_tokens=len(text) // 4 + 1),
        )

    def stream(self, request):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


def fake_lm(handler: Callable[[Call], dict | str], latency: float = 0.0, name: str = "fake/lm") -> dspy.LM:
    """A ``dspy.LM`` over :class:`FakeEngine`, with DSPy's cache off."""
    return dspy.LM(name, engine=FakeEngine(handler, latency), cache=False)


def engine_of(lm: dspy.LM) -> FakeEngine:
    return lm.engine
