"""Speculative decoding on the real embedded model: greedy output is the same text, token for token."""

import contextlib
import importlib.util
from typing import Literal

import dspy
import pytest
from pydantic import BaseModel

pytestmark = pytest.mark.local_lm

if importlib.util.find_spec("xllamacpp") is None:
    pytest.skip('the "local" extra is not installed (pip install -e ".[local]")', allow_module_level=True)

SKILL = "\n".join(
    f"- Tickets that mention {word} go to the {queue} queue, unless they also ask for a refund."
    for word, queue in [("an invoice", "billing"), ("a password", "account_access"), ("a crash", "technical")]
)


class Edit(BaseModel):
    op: Literal["replace", "add"]
    target: str
    content: str


class ReviseSkill(dspy.Signature):
    """Rewrite the rules the failures show are wrong. `target` is a rule copied exactly from the skill."""

    skill: str = dspy.InputField()
    failures: str = dspy.InputField()
    edits: list[Edit] = dspy.OutputField()


FAILURES = "A ticket about an invoice that asks for a refund went to billing; it belongs in escalations."


def answer(model: str, **engine_kwargs) -> tuple[str, dict]:
    """The raw text of one schema-constrained reflection call, and llama.cpp's timings for it."""
    from skillopt_dspy.lm import LocalModelError, local_lm
    from skillopt_dspy.lm.adapter import PrefixJSONAdapter

    try:
        lm = local_lm(model, max_tokens=160, **engine_kwargs)
    except LocalModelError as exc:  # the weights packages are missing
        pytest.skip(str(exc))
    # A cut-off answer that does not parse is still compared, as text.
    with dspy.context(lm=lm, adapter=PrefixJSONAdapter()), contextlib.suppress(Exception):
        dspy.Predict(ReviseSkill)(skill=SKILL, failures=FAILURES)
    return lm.history[-1]["outputs"][0], lm.history[-1]["response"].provider_data["timings"]


@pytest.mark.parametrize(
    "speculative",
    [{"speculative": "ngram"}, {"speculative": "draft", "draft_model": "qwen2.5-coder-0.5b"}],
    ids=["ngram", "draft"],
)
def test_speculative_decoding_gives_the_same_text_on_the_small_model(speculative):
    plain, _ = answer("qwen2.5-coder-0.5b", speculative="off")
    fast, timings = answer("qwen2.5-coder-0.5b", **speculative)
    assert timings.get("draft_n", 0) > 0  # tokens were really guessed and verified
    assert fast == plain and "Tickets that mention" in plain


def test_the_small_model_drafting_for_the_large_one_gives_the_same_text():
    plain, _ = answer("qwen2.5-coder-1.5b", speculative="off")  # skips without the local-large weights
    fast, timings = answer("qwen2.5-coder-1.5b", speculative="draft")
    assert timings.get("draft_n_accepted", 0) > 0
    assert fast == plain
