"""The embedded LM's JSON adapter: every fixed piece of prompt text in the cached system prefix."""

import json
from pathlib import Path
from typing import Literal

import dspy
import pytest
from pydantic import BaseModel

from skillopt_dspy.config import load_config
from skillopt_dspy.lm import engine as engine_module
from skillopt_dspy.lm.adapter import PrefixJSONAdapter, is_embedded, json_adapter
from skillopt_dspy.skill import apply_skill
from skillopt_dspy.stages.reflect import reflect
from skillopt_dspy.workspace import build
from tests.lm.test_engine import FakeBackend, lm_with

ROOT = Path(__file__).resolve().parents[2]


class Route(dspy.Signature):
    """Route the ticket."""

    ticket: str = dspy.InputField()
    account: str = dspy.InputField()
    queue: Literal["billing", "technical"] = dspy.OutputField()
    note: str = dspy.OutputField()


def chat_prompt(payload):
    """The prompt as the model reads it (a ChatML-like rendering, enough to compare token prefixes)."""
    return "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in payload["messages"]) + "<|assistant|>"


def test_only_the_inputs_follow_the_shared_prefix():
    backend = FakeBackend()
    program = apply_skill(dspy.Predict(Route), "- Chargebacks go to billing.")
    with dspy.context(lm=lm_with(backend), adapter=PrefixJSONAdapter()):
        program(ticket="ticket-AAA", account="acct-1")
        program(ticket="ticket-BBB", account="acct-2")
    first, second = (chat_prompt(p) for p in backend.payloads)
    system, user = (m["content"] for m in backend.payloads[0]["messages"])
    assert user == "[[ ## ticket ## ]]\nticket-AAA\n\n[[ ## account ## ]]\nacct-1"
    assert "- Chargebacks go to billing." in system
    requirements = "`queue` (must be formatted as a valid Python Literal['billing', 'technical']), then `note`."
    assert system.endswith(requirements)
    # Where the two prompts part is where the first input's value starts: nothing fixed is left after it.
    common = next(i for i, (a, b) in enumerate(zip(first, second)) if a != b)
    assert first[common - len("ticket-") : common] == "ticket-"
    assert first[first.index("ticket-AAA") :] == "ticket-AAA\n\n[[ ## account ## ]]\nacct-1<|end|><|assistant|>"


def test_dspy_json_adapter_puts_the_requirements_after_the_input():
    # The layout PrefixJSONAdapter exists to avoid; if DSPy stops doing this, the subclass can go.
    backend = FakeBackend()
    with dspy.context(lm=lm_with(backend), adapter=dspy.JSONAdapter()):
        dspy.Predict(Route)(ticket="ticket-AAA", account="acct-1")
    user = backend.payloads[0]["messages"][-1]["content"]
    assert user.startswith("[[ ## ticket ## ]]") and user.endswith("then `note`.")


def test_answers_parse_and_the_schema_constraint_stays():
    backend = FakeBackend()
    with dspy.context(lm=lm_with(backend), adapter=PrefixJSONAdapter()):
        out = dspy.Predict(Route)(ticket="charged twice", account="a")
    assert out.queue == "billing" and out.note == "ok"
    schema = backend.payloads[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["queue"]["enum"] == ["billing", "technical"]
    assert schema["properties"]["note"]["maxLength"] == 1200
    bad = FakeBackend('{"queue": "billing"}')  # a missing field is still a parse error, as under JSONAdapter
    with dspy.context(lm=lm_with(bad), adapter=PrefixJSONAdapter()), pytest.raises(Exception, match="note"):
        dspy.Predict(Route)(ticket="x", account="a")


class Edit(BaseModel):
    op: Literal["add", "delete"]
    content: str


def test_demos_and_nested_outputs_keep_working():
    class Propose(dspy.Signature):
        """Propose edits."""

        skill: str = dspy.InputField()
        edits: list[Edit] = dspy.OutputField()

    backend = FakeBackend(json.dumps({"edits": [{"op": "add", "content": "- rule"}]}))
    predict = dspy.Predict(Propose)
    predict.demos = [dspy.Example(skill="old", edits=[Edit(op="delete", content="x")])]
    with dspy.context(lm=lm_with(backend), adapter=PrefixJSONAdapter()):
        out = predict(skill="current")
    assert out.edits == [Edit(op="add", content="- rule")]
    messages = backend.payloads[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "[[ ## skill ## ]]\ncurrent"
    assert "Respond with a JSON object" not in messages[1]["content"]


def test_the_embedded_lm_gets_the_prefix_adapter_and_other_lms_dspys_own():
    local = lm_with(FakeBackend())
    assert is_embedded(local) and type(json_adapter(local)) is PrefixJSONAdapter
    hosted = dspy.LM("openai/gpt-4o-mini")
    assert not is_embedded(hosted) and type(json_adapter(hosted)) is dspy.JSONAdapter
    with dspy.context(lm=local):
        assert type(json_adapter(None)) is PrefixJSONAdapter  # None: the configured LM


def test_a_config_on_the_embedded_lm_runs_under_the_prefix_adapter(monkeypatch):
    monkeypatch.setattr(engine_module, "import_xllamacpp", lambda: None)
    monkeypatch.setattr(engine_module, "resolve_model", lambda model: Path("/nonexistent/model.gguf"))
    monkeypatch.setattr(engine_module, "shared_backend", lambda path, **kw: FakeBackend())
    ws = build(load_config(ROOT / "configs" / "ticket_routing.yaml"))
    assert ws.config.model.lm.startswith("local/") and type(ws.adapter) is PrefixJSONAdapter
    chat = build(load_config(ROOT / "configs" / "ticket_routing.yaml", overrides=["model.adapter=chat"]))
    assert type(chat.adapter) is dspy.ChatAdapter
    hosted = build(load_config(ROOT / "configs" / "ticket_routing.yaml", values={"model.lm": "tests.cli_fakes:target"}))
    assert type(hosted.adapter) is dspy.JSONAdapter


def test_reflection_on_the_embedded_lm_uses_the_prefix_layout():
    from skillopt_dspy.budget import Usage
    from skillopt_dspy.parallel import Runner
    from skillopt_dspy.scoring import Score
    from skillopt_dspy.stages.rollout import Trajectory

    answer = {"failure_summary": "s", "edits": [{"op": "add", "target": "", "content": "- rule", "rationale": "r"}]}
    backend = FakeBackend(json.dumps(answer))
    example = dspy.Example(ticket="t", queue="billing").with_inputs("ticket")
    failed = Trajectory(example=example, prediction=dspy.Prediction(queue="technical"), score=Score(0.0, 0.0))
    with Runner(1, Usage()) as runner:
        patches = reflect(
            [failed],
            skill="",
            task="Route the ticket.",
            edit_budget=2,
            rejected=[],
            memory="",
            lm=lm_with(backend),
            runner=runner,
            minibatch_size=4,
        )
    assert patches and patches[0].edits[0].content == "- rule"
    system, user = (m["content"] for m in backend.payloads[0]["messages"])
    assert "Respond with a JSON object" in system and "Respond with a JSON object" not in user


def test_reflection_settings_alone_give_the_reflection_calls_their_own_engine(monkeypatch):
    loads = []
    monkeypatch.setattr(engine_module, "import_xllamacpp", lambda: None)
    monkeypatch.setattr(engine_module, "resolve_model", lambda model: Path(f"/models/{model}.gguf"))
    monkeypatch.setattr(engine_module, "shared_backend", lambda path, **kw: loads.append(kw) or FakeBackend())
    config = ROOT / "configs" / "ticket_routing.yaml"
    shared = build(load_config(config, overrides=["model.lm=local/qwen2.5-coder-1.5b"]))
    assert shared.reflection_lm is shared.lm
    split = build(
        load_config(
            config,
            overrides=[
                "model.lm=local/qwen2.5-coder-1.5b",
                "model.lm_kwargs={speculative: off}",
                "model.reflection_lm_kwargs={speculative: ngram}",
            ],
        )
    )
    assert split.reflection_lm is not split.lm and split.reflection_lm.model == split.lm.model
    assert split.lm.engine.speculative_kind == "off" and split.reflection_lm.engine.speculative_kind == "ngram"
    assert loads[-1]["speculative"].kind == "ngram"
