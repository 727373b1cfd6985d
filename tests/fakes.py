"""The toy task of the tests: a word's group is decided by its first letter, a rule the model must be told."""

from __future__ import annotations

import re
from collections.abc import Callable

import dspy

from skillopt_dspy.testing import Call, FakeEngine, engine_of, fake_lm, format_outputs, parse_request

__all__ = ["Call", "FakeEngine", "engine_of", "fake_lm", "format_outputs", "parse_request"]

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


def failed_words(evidence: str) -> list[str]:
    """The words of the failed examples in a failure analyst's evidence."""
    blocks = evidence.split("### Failed example")[1:]
    return [m.group(1) for b in blocks for m in [re.search(r"word: (\w+)", b)] if m]


def rule_reflector(harmful_once: bool = False) -> Callable[[Call], dict]:
    """Reflection handler: proposes one first-letter rule per failed word; aggregation unions by number.

    With ``harmful_once``, a non-empty skill gets the harmful edit proposed alone until it shows up in the
    rejected list, which proves the gate rejected it and the buffer reached a later prompt.
    """

    def handler(call: Call) -> dict:
        if "guidance" in call.outputs:  # SlowUpdate: a rule for each persistent failure
            words = re.findall(r"PERSISTENT FAILURE.*?\n  inputs: word: (\w+)", call.inputs["comparison"])
            return {"guidance": "\n".join(dict.fromkeys(rule_for(w) for w in words)) or "- Keep going."}
        if "notes" in call.outputs:  # MetaSkill
            accepted = call.inputs["edit_outcomes"].count("ACCEPTED")
            return {"notes": f"- {accepted} first-letter rules were accepted; name the letter and the group."}
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
        words = failed_words(call.inputs.get("evidence", ""))
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
