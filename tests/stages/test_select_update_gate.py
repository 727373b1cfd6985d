from skillopt_dspy.edits import Edit
from skillopt_dspy.scoring import Score
from skillopt_dspy.stages.gate import ValidationCache, decide
from skillopt_dspy.stages.select import select
from skillopt_dspy.stages.update import update


def rule(name):
    return f"- Rule {name} says something."


def test_select_ranks_by_support_then_failure_first_and_clips():
    edits = [
        Edit(op="add", content=rule("s1"), source="success", support=2),
        Edit(op="add", content=rule("f1"), source="failure", support=1),
        Edit(op="add", content=rule("f2"), source="failure", support=2),
        Edit(op="add", content=rule("f3"), source="failure", support=1),
    ]
    picked = select(edits, edit_budget=3)
    assert [e.content for e in picked.selected] == [rule("f2"), rule("s1"), rule("f1")]
    assert [(e.content, why) for e, why in picked.dropped] == [(rule("f3"), "over the edit budget")]


def test_select_drops_previously_rejected_edits():
    bad = Edit(op="add", content="- Always answer gamma, no matter what.")
    picked = select(
        [Edit(op="add", content="- always answer  gamma, no matter what."), Edit(op="add", content=rule("ok"))],
        edit_budget=5,
        rejected=[bad],
    )
    assert [e.content for e in picked.selected] == [rule("ok")]
    assert picked.dropped[0][1] == "previously rejected"


def test_select_drops_fragments_and_rules_the_skill_already_has():
    skill = "## Rules\n- Chargebacks go to escalations always.\n"
    picked = select(
        [
            Edit(op="add", target="billing", content="escalations"),
            Edit(op="add", content="- Chargebacks go to  escalations always."),
            Edit(op="delete", target="- Chargebacks"),
        ],
        edit_budget=5,
        skill=skill,
    )
    assert [e.op for e in picked.selected] == ["delete"]
    assert [why for _, why in picked.dropped] == ["not a rule: fewer than 4 words", "the skill already says this"]


def test_update_reports_every_edit():
    result = update("# Rules\n", [Edit(op="add", target="Rules", content="- a"), Edit(op="delete", target="zzz")])
    assert result.text == "# Rules\n- a\n"
    assert [r.applied for r in result.reports] == [True, False]


def test_gate_strict_improvement_ties_rejected_and_modes():
    old = [Score(1, 1.0), Score(0, 0.5)]
    assert decide(old, [Score(1, 1.0), Score(1, 1.0)], mode="hard").accepted
    tie = decide(old, [Score(0, 0.9), Score(1, 0.6)], mode="hard")
    assert not tie.accepted and "tied" in tie.reason
    assert decide(old, [Score(0, 0.9), Score(1, 0.61)], mode="soft").accepted
    assert not decide(old, [Score(0, 0.9), Score(1, 0.6)], mode="soft").accepted
    mixed = decide(old, [Score(1, 0.4), Score(0, 0.2)], mode="mixed", mixed_weight=0.5)
    assert not mixed.accepted and mixed.candidate_score < mixed.incumbent_score


def test_gate_uses_unrounded_means():
    old = [Score(0, 0.333333331)] * 3
    new = [Score(0, 0.333333332)] * 3
    assert decide(old, new, mode="soft").accepted


def test_validation_cache_never_reevaluates_a_skill():
    calls = []
    cache = ValidationCache(lambda skill: calls.append(skill) or [Score(1, 1)])
    cache.scores("- a")
    cache.scores("- a  \n")
    cache.scores("- b")
    assert calls == ["- a", "- b"] and cache.hits == 1


def test_select_drops_copies_of_the_reflection_prompts_worked_example():
    # Seen with the 0.5B model: the guide's example rule, copied into an unrelated task's skill.
    from skillopt_dspy.signatures import GUIDE_EXAMPLE_EDITS

    copied = Edit(op="add", target="Rules", content=GUIDE_EXAMPLE_EDITS[0])
    as_heading = Edit(op="add", target=GUIDE_EXAMPLE_EDITS[1].lstrip("- "), content="- Total is the sum of the lines.")
    part = Edit(op="add", target="Rules", content="- convert it to kilometres (x 1.609) and round")
    own = Edit(op="add", target="Rules", content="- Amounts keep two decimals and no currency sign.")
    out = select([copied, as_heading, part, own], edit_budget=4)
    assert [e.content for e in out.selected] == [own.content]
    assert {reason for _, reason in out.dropped} == {
        "copied from the reflection prompt's worked example, not learned from this batch"
    }
