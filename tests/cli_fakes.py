"""LM factories for the CLI tests (``--lm tests.cli_fakes:target``): fakes for the generic split-dir program.

The data is the toy task of :mod:`tests.fakes` in SkillOpt's format: ``input`` is a word, ``expected_output``
its group. The target answers from the first-letter rules in its skill; the reflector proposes one rule per
failed word.
"""

import re

import dspy

from skillopt_dspy.testing import Call, fake_lm
from tests.fakes import RULE_RE, rule_for


def _rules(skill: str, limit: int | None = None) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in list(RULE_RE.finditer(skill))[:limit]}


def _target(call: Call) -> dict:
    return {"expected_output": _rules(call.skill).get(call.inputs.get("input", "")[:1], "unknown")}


def _weak_target(call: Call) -> dict:
    """Another model for transfer: it heeds only the first two rules of a skill."""
    return {"expected_output": _rules(call.skill, limit=2).get(call.inputs.get("input", "")[:1], "unknown")}


def _reflect(call: Call) -> dict:
    if "proposals" in call.inputs:
        items = re.findall(r"\[(\d+)\] .*? op=(\w+) target='(.*?)'\n\s+content='(.*?)'", call.inputs["proposals"])
        return {"edits": [{"op": o, "target": t, "content": c, "merged_from": [int(n)]} for n, o, t, c in items]}
    if "guidance" in call.outputs:
        return {"guidance": "- Name the first letter and the group."}
    if "notes" in call.outputs:
        return {"notes": "- First-letter rules work."}
    if call.outputs and "edits" not in call.outputs:  # another optimizer's signature: a plain answer per field
        return {name: "Follow the rules for each first letter." for name in call.outputs}
    if not call.outputs:
        return "```\nFollow the rules for each first letter.\n```"
    failed = re.findall(r"### Failed example \d+\nInput:\n  input: (\w+)", call.inputs.get("evidence", ""))
    edits = [{"op": "add", "target": "Rules", "content": r} for r in dict.fromkeys(rule_for(w) for w in failed)]
    return {"failure_summary": "missing rules", "edits": edits}


def target() -> dspy.LM:
    return fake_lm(_target, name="fake/target")


def weak_target() -> dspy.LM:
    return fake_lm(_weak_target, name="fake/weak-target")


def reflector() -> dspy.LM:
    return fake_lm(_reflect, name="fake/reflect")


def not_an_lm() -> str:
    return "an LM factory that returns a string"
