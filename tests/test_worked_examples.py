"""Worked examples: a step shows failures of its batch, with their answers, in its candidate (stages/examples.py)."""

import re

import dspy
import pytest

from skillopt_dspy import SkillOpt
from skillopt_dspy.edits import Edit, apply_edits
from skillopt_dspy.scoring import Score
from skillopt_dspy.stages.examples import (
    EXAMPLE_INPUT_LIMIT,
    EXAMPLES_REGION,
    example_line,
    pick_examples,
    shown_examples,
    with_examples,
)
from skillopt_dspy.stages.reflect import editable_text
from skillopt_dspy.stages.rollout import Trajectory
from tests.fakes import GROUPS, RULE_RE, WordGroup, fake_lm, group_metric, group_of, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())
EXAMPLE_RE = re.compile(r"^\s*- word: (\w+) → group: (\w+)$", re.M)


def learns_from_examples(call):
    """A target that follows first-letter rules and learns from a worked example every letter of its group."""
    word = call.inputs.get("word", "")
    rules = {m.group(1): m.group(2) for m in RULE_RE.finditer(call.skill)}
    rules |= {letter: g for _, g in EXAMPLE_RE.findall(call.skill) for letter in GROUPS[g]}
    return {"group": rules.get(word[:1], "unknown")}


def memorizes_examples(call):
    """A target that gets right only the very words its worked examples show."""
    word = call.inputs.get("word", "")
    return {"group": dict(EXAMPLE_RE.findall(call.skill)).get(word, "unknown")}


def no_rules(call):
    """A reflection LM that proposes nothing (a small analyst with nothing useful to say)."""
    if "notes" in call.outputs:
        return {"notes": "- nothing yet"}
    if "guidance" in call.outputs:
        return {"guidance": "- Keep going."}
    if "proposals" in call.inputs:
        return {"edits": []}
    return {"failure_summary": "no idea", "edits": []}


WRONG = "- Always answer delta."


def wrong_rules(call):
    """A reflection LM whose one rule is wrong: every answer delta (no group)."""
    out = no_rules(call)
    if "edits" in out and "proposals" not in call.inputs:
        out["edits"] = [{"op": "add", "target": "Rules", "content": WRONG}]
    return out


def follows_wrong_rule(call):
    return {"group": "delta"} if WRONG in call.skill else learns_from_examples(call)


def train(target, reflector=no_rules, **kw):
    settings = {"batch_size": 6, "epochs": 1, "learning_rate": 2, "num_threads": 2, "progress": False}
    settings |= {"gate_test": "strict", "use_slow_update": False, "worked_examples": 2, **kw}
    with dspy.context(lm=fake_lm(target, name="fake/t")):
        opt = SkillOpt(metric=group_metric, reflection_lm=fake_lm(reflector, name="fake/r"), **settings)
        return opt.compile(WordGroup(), trainset=TRAIN, valset=VAL).detailed_results


def failed(word: str, got: str = "unknown") -> Trajectory:
    ex = dspy.Example(word=word, group=group_of(word)).with_inputs("word")
    return Trajectory(ex, dspy.Prediction(group=got), Score(0.0, 0.0, f"expected {group_of(word)}, got {got}"))


def test_examples_alone_make_a_candidate_the_gate_accepts():
    res = train(learns_from_examples)
    assert res.best_val_score > res.baseline_val_score
    assert any(r.accepted and r.examples and not r.applied for r in res.history)
    shown = shown_examples(res.best_skill)
    assert shown and all(EXAMPLE_RE.match(line) for line in shown)
    assert {line for r in res.history if r.accepted for line in r.examples} <= set(shown)
    assert all(len(r.examples) <= 2 for r in res.history)


def test_examples_are_judged_alone_when_a_wrong_rule_takes_them_down_on_the_batch(tmp_path):
    res = train(follows_wrong_rule, reflector=wrong_rules, log_dir=tmp_path)
    first = res.history[0]
    assert first.examples_alone["stage"] == "batch" and first.examples_alone["candidate_score"] == 0.0
    assert first.rejected == first.applied and first.applied[0]["content"] == WRONG
    alone = [r for r in res.history if r.examples_alone is not None and r.accepted]
    assert alone and WRONG not in res.best_skill and shown_examples(res.best_skill)
    assert res.best_val_score > res.baseline_val_score
    # Both candidates of the step were saved; the report and the meta-skill tell the edits from the examples.
    assert len(list((tmp_path / "skills").glob("0001-*.md"))) == 2
    from skillopt_dspy.stages.epoch import describe_outcomes

    outcomes = describe_outcomes([first])
    assert "REJECTED on the batch" in outcomes and "worked examples of the batch alone" in outcomes


def test_the_reflection_lm_is_never_shown_the_examples():
    shown = []

    def spy(call):
        shown.append(call.inputs.get("skill", ""))
        return no_rules(call)

    res = train(learns_from_examples, reflector=spy, epochs=2, use_slow_update=True)
    assert shown_examples(res.best_skill) and len(shown) > 4
    assert not any("→ group:" in text or EXAMPLES_REGION in text for text in shown)


def test_no_worked_examples_when_switched_off():
    res = train(learns_from_examples, worked_examples=0)
    assert res.best_val_score == res.baseline_val_score and not any(r.examples for r in res.history)


def forgets_the_rest(call):
    """Knows the alpha words on its own; with worked examples in its skill, only the words they show."""
    word = call.inputs.get("word", "")
    shown = dict(EXAMPLE_RE.findall(call.skill))
    if shown:
        return {"group": shown.get(word, "unknown")}
    return {"group": "alpha" if word[:1] in GROUPS["alpha"] else "unknown"}


def test_the_batch_check_leaves_out_the_examples_shown():
    # Examples that fix exactly the words they show: on the rest of the batch they change nothing, which is no
    # reason to turn them down (a few examples rarely show what an example teaches): they go to validation.
    res = train(memorizes_examples)
    gated = [r for r in res.history if r.gate]
    assert gated and all(r.examples and r.gate["stage"] == "validation" for r in gated)
    # Examples that fix the words they show and break the rest: left out, the shown words cannot hide the harm.
    res = train(forgets_the_rest)
    gated = [r for r in res.history if r.gate]
    assert gated and all(r.gate["stage"] == "batch" and r.gate["evaluated"] == 4 for r in gated)
    assert all(r.gate["candidate_score"] < r.gate["incumbent_score"] and not r.accepted for r in gated)


def test_the_skill_holds_at_most_max_worked_examples():
    res = train(learns_from_examples, epochs=2, max_worked_examples=3)
    assert 0 < len(shown_examples(res.best_skill)) <= 3
    assert sum(len(r.examples) for r in res.history if r.accepted) <= 3


def test_picks_one_failure_per_group_largest_first_and_skips_what_cannot_be_shown():
    beta = [failed(w) for w in ("ink", "ivy", "jar")]
    alpha = [failed(w) for w in ("apple", "ant")]
    long = failed("a" + "x" * EXAMPLE_INPUT_LIMIT)
    solved = Trajectory(VAL[0], dspy.Prediction(group="alpha"), Score(1.0, 1.0, ""))
    batch = [long, *alpha, solved, *beta]
    picked = pick_examples(batch, "", per_step=3, cap=8, source="failures")
    # Groups by (expected, got): beta (3) first, then alpha (2 with the long one left out), then beta again.
    assert [t.example.word for t in picked] == ["ink", "apple", "ivy"]
    assert example_line(long) is None and example_line(solved) == "- word: axe → group: alpha"
    skill = with_examples("", [example_line(picked[0])])
    assert [t.example.word for t in pick_examples(batch, skill, per_step=2, cap=8, source="failures")] == [
        "apple",
        "ivy",
    ]
    assert pick_examples(batch, skill, per_step=5, cap=2, source="failures") == [alpha[0]]  # room for one more
    assert pick_examples(batch, skill, per_step=2, cap=1, source="failures") == []


def test_from_the_batch_picks_in_batch_order_passes_and_failures_alike():
    long = failed("a" + "x" * EXAMPLE_INPUT_LIMIT)
    solved = Trajectory(VAL[0], dspy.Prediction(group="alpha"), Score(1.0, 1.0, ""))
    batch = [long, failed("ink"), solved, failed("apple"), failed("ivy")]
    picked = pick_examples(batch, "", per_step=3, cap=8, source="batch")
    assert [t.example.word for t in picked] == ["ink", "axe", "apple"]  # the long one is passed over
    skill = with_examples("", [example_line(picked[0])])
    assert [t.example.word for t in pick_examples(batch, skill, per_step=2, cap=8, source="batch")] == ["axe", "apple"]
    assert pick_examples(batch, skill, per_step=5, cap=2, source="batch") == [solved]
    with pytest.raises(ValueError, match="worked_examples_from"):
        pick_examples(batch, "", per_step=1, cap=8, source="random")


def test_examples_from_the_batch_reach_the_gate_and_are_recorded():
    # A target that learns a group's letters from any example of it, right or wrong before: examples of passes
    # teach it as much as failures do, and the gate accepts them.
    res = train(learns_from_examples, worked_examples_from="batch")
    accepted = [r for r in res.history if r.accepted]
    assert accepted and res.best_val_score > res.baseline_val_score
    shown = {line for r in accepted for line in r.examples}
    assert shown == set(shown_examples(res.best_skill))

    # A target with no failures: the batch still has examples to show; its failures have none.
    def knows_all(call):
        return {"group": group_of(call.inputs.get("word", ""))}

    assert any(r.examples for r in train(knows_all).history)
    assert not any(r.examples for r in train(knows_all, worked_examples_from="failures").history)


def test_the_examples_are_the_librarys_region_not_the_analysts():
    skill = with_examples("## Rules\n- Be brief.\n", ["- word: ink → group: beta"])
    skill = with_examples(skill, ["- word: apple → group: alpha"])
    assert shown_examples(skill) == ["- word: ink → group: beta", "- word: apple → group: alpha"]
    assert "Worked examples" not in editable_text(skill) and "ink" not in editable_text(skill)
    result = apply_edits(skill, [Edit(op="replace", target="- word: ink → group: beta", content="- Ink is gamma.")])
    assert result.text == skill and result.reports[0].reason == "protected"
    # A rule added at the end goes above the examples, under the rules it belongs with.
    added = apply_edits(skill, [Edit(op="add", content="- Cite sources.")]).text
    assert added.index("- Cite sources.") < added.index(EXAMPLES_REGION)


@pytest.mark.parametrize("value", [-1, 1.5, "2"])
def test_bad_settings_fail_before_any_call(value):
    with pytest.raises((ValueError, TypeError), match="worked_examples"):
        SkillOpt(metric=group_metric, worked_examples=value)
    with pytest.raises(ValueError, match="worked_examples_from must be one of"):
        SkillOpt(metric=group_metric, worked_examples_from=value)
