from skillopt_dspy.budget import Usage
from skillopt_dspy.edits import Edit, Patch
from skillopt_dspy.parallel import Runner
from skillopt_dspy.stages.aggregate import aggregate, dedupe
from tests.fakes import engine_of, fake_lm, rule_reflector


def add(content, source="failure"):
    return Edit(op="add", target="Rules", content=content, source=source)


def test_dedupe_sums_support_and_prefers_failure_source():
    merged = dedupe([add("- A.", "success"), add("- a."), add("- B.")])
    assert [(e.content, e.support, e.source) for e in merged] == [("- A.", 2, "failure"), ("- B.", 1, "failure")]


def test_single_patch_needs_no_lm_call():
    lm = fake_lm(rule_reflector())
    with Runner(2, Usage()) as runner:
        out = aggregate(
            [Patch(edits=[add("- A."), add("- A.")])], skill="", edit_budget=2, memory="", lm=lm, runner=runner
        )
    assert [(e.content, e.support) for e in out.edits] == [("- A.", 2)]
    assert engine_of(lm).calls == []


def test_hierarchical_merge_keeps_support_counts_computed_from_merged_from():
    lm = fake_lm(rule_reflector())
    patches = [Patch(edits=[add(f"- R{i % 3}."), add("- common.")]) for i in range(6)]
    usage = Usage()
    with Runner(2, usage) as runner:
        out = aggregate(patches, skill="", edit_budget=4, memory="", lm=lm, runner=runner, fan_in=2)
    support = {e.content: e.support for e in out.edits}
    assert support == {"- R0.": 2, "- common.": 6, "- R1.": 2, "- R2.": 2}
    # 6 patches, fan-in 2: 3 merges, then 2, then 1.
    assert usage.lm_calls == {"reflection": 3 + 1 + 1}


def test_a_failed_merge_falls_back_to_the_union_and_is_counted():
    lm = fake_lm(lambda call: "{broken")
    usage = Usage()
    errors = []
    with Runner(1, usage) as runner:
        out = aggregate(
            [Patch(edits=[add("- A.")]), Patch(edits=[add("- B."), add("- A.")])],
            skill="",
            edit_budget=4,
            memory="",
            lm=lm,
            runner=runner,
            errors=errors,
        )
    assert {(e.content, e.support) for e in out.edits} == {("- A.", 2), ("- B.", 1)}
    assert usage.faults == {"aggregate_error": 1} and "deduplicated union" in errors[0]
