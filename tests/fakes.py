"""Fake LMs for tests: DSPy 3.4 engines that answer from a Python handler, offline and deterministic.

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


def parse_request(request) -> Call:
    system = request.system if isinstance(request.system, str) else "".join(p.text for p in (request.system or ()))
    user = request.messages[-1].text or ""
    inputs = {m.group(1): m.group(2).strip() for m in _FIELD_RE.finditer(user)}
    block = _OUT_RE.search(system)
    outputs = re.findall(r"`(\w+)`", block.group(1)) if block else []
    json_mode = request.config.response_format is not None or "Outputs will be a JSON object" in system
    return Call(outputs, inputs, system, skill_in(system) or "", json_mode)


def format_outputs(call: Call, values: dict) -> str:
    if call.json_mode:
        return json.dumps(values)
    parts = [f"[[ ## {k} ## ]]\n{v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items()]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


class FakeEngine:
    """A DSPy engine answering every request with ``handler(call)``; counts calls; optional latency."""

    supports_response_schema = True
    supported_params = frozenset({"response_format", "temperature", "max_tokens"})

    def __init__(self, handler: Callable[[Call], dict | str], latency: float = 0.0) -> None:
        self.handler = handler
        self.latency = latency
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def complete(self, request):
        call = parse_request(request)
        with self._lock:
            self.calls.append(call)
        if self.latency:
            time.sleep(self.latency)
        out = self.handler(call)
        text = out if isinstance(out, str) else format_outputs(call, out)
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


# ---- a toy task: a word's group is decided by its first letter, a rule the model must be told --------
GROUPS = {"alpha": "abcdefgh", "beta": "ijklmnop", "gamma": "qrstuvwxyz"}
RULE_RE = re.compile(r'Words starting with "(\w)" are (\w+)\.')
HARMFUL = "- Always answer gamma."


def group_of(word: str) -> str:
    return next(g for g, letters in GROUPS.items() if word[0] in letters)


def rule_for(word: str) -> str:
    return f'- Words starting with "{word[0]}" are {group_of(word)}.'


def target_handler(call: Call) -> dict:
    """Follows the rules in its skill: the first-letter rules, and the harmful 'always gamma'."""
    word = call.inputs.get("word", "")
    if "Always answer gamma" in call.skill:
        return {"group": "gamma"}
    rules = {m.group(1): m.group(2) for m in RULE_RE.finditer(call.skill)}
    return {"group": rules.get(word[:1], "unknown")}


def word_examples(words: list[str]) -> list[dspy.Example]:
    return [dspy.Example(word=w, group=group_of(w)).with_inputs("word") for w in words]


def group_metric(example, prediction, trace=None):
    ok = prediction.group == example.group
    return dspy.Prediction(score=float(ok), feedback="" if ok else f"expected {example.group}, got {prediction.group}")


def failed_words(trajectories: str) -> list[str]:
    blocks = trajectories.split("### Example")
    return [m.group(1) for b in blocks if "FAILED" in b for m in [re.search(r"word: (\w+)", b)] if m]


def rule_reflector(harmful_once: bool = False) -> Callable[[Call], dict]:
    """Reflection handler: proposes one first-letter rule per failed word; aggregation unions by number.

    With ``harmful_once``, a non-empty skill gets the harmful edit proposed alone until it shows up in the
    rejected list, which proves the gate rejected it and the buffer reached a later prompt.
    """

    def handler(call: Call) -> dict:
        if "proposals" in call.inputs:  # AggregateEdits: keep each proposal, numbered
            items = re.findall(r"\[(\d+)\] .*? op=(\w+) target='(.*?)'\n\s+content='(.*?)'", call.inputs["proposals"])
            edits = [
                {"op": op, "target": t, "content": c, "rationale": "", "merged_from": [int(n)]} for n, op, t, c in items
            ]
            return {"edits": edits}
        skill = call.inputs.get("skill", "")
        if (
            harmful_once
            and "Words starting" in skill
            and "Always answer gamma" not in call.inputs.get("rejected_edits", "")
        ):
            return {"failure_summary": "be bold", "edits": [{"op": "add", "target": "Rules", "content": HARMFUL}]}
        words = failed_words(call.inputs.get("trajectories", ""))
        rules = list(dict.fromkeys(rule_for(w) for w in words))
        edits = [{"op": "add", "target": "Rules", "content": r, "rationale": "first letter"} for r in rules]
        return {"failure_summary": f"{len(words)} words had no rule", "edits": edits}

    return handler


class WordGroup(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.predict = dspy.Predict("word -> group")

    def forward(self, word: str):
        return self.predict(word=word)
