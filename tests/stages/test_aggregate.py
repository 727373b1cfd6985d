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


def test_dedupe_merges_one_rule_added_under_two_headings_but_not_two_replaces():
    rule = "When the account id starts with 'ENT-', the queue should be 'priority_support'."
    under_billing = Edit(op="add", target="billing", content=rule)
    under_technical = Edit(op="add", target="technical", content=rule, support=8)
    merged = dedupe([under_billing, under_technical])
    assert [(e.target, e.support) for e in merged] == [("billing", 9)]
    replaces = [Edit(op="replace", target=t, content="- Y.") for t in ("- A.", "- B.")]
    assert len(dedupe(replaces)) == 2


def test_single_patch_needs_no_lm_call():
    lm = fake_lm(rule_reflector())
    with Runner(2, Usage()) as runner:
        out = aggregate(
            [Patch(edits=[add("- A."), add("- A.")])], skill="", edit_budget=2, memory="", lm=lm, runner=runner
        )
    assert [(e.content, e.support) for e in out.edits] == [("- A.", 1)]  # one analyst saying it twice: one vote
    assert engine_of(lm).calls == []


def test_support_counts_analysts_not_copies_within_one_patch():
    # Measured (1.5B routing): one analyst wrote its one-ticket rule under two headings; summed, its support 2
    # ranked it above the general rules two other analysts proposed once each.
    one_ticket = "When the ticket contains 'STD-75936', 'billing' is the correct queue."
    copies = Patch(edits=[Edit(op="add", target=t, content=one_ticket) for t in ("billing", "technical")])
    lm = fake_lm(rule_reflector())
    with Runner(2, Usage()) as runner:
        out = aggregate([copies], skill="", edit_budget=2, memory="", lm=lm, runner=runner)
    assert [e.support for e in out.edits] == [1]
    assert [e.support for e in dedupe(copies.edits)] == [2]  # across analysts (the default) copies add up


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


def test_a_merged_edit_that_cannot_apply_gives_way_to_the_proposals_it_merged():
    # A 1.5B merger turned additions into `replace` edits whose targets were text from the evidence.
    def merger(call):
        return {
            "edits": [
                {"op": "replace", "target": "Date: 11.12.2022", "content": "2022-12-11", "merged_from": [1, 2]},
                {"op": "add", "target": "Rules", "content": "- Vendor: drop the legal form.", "merged_from": [3]},
            ]
        }

    lm = fake_lm(merger)
    skill = "## Rules\n- Totals have two decimals.\n"
    patches = [Patch(edits=[add("- Dates are YYYY-MM-DD.")]), Patch(edits=[add("- Write dates as YYYY-MM-DD.")])]
    patches.append(Patch(edits=[add("- Drop GmbH, Inc. and Ltd from the vendor.")]))
    with Runner(2, Usage()) as runner:
        out = aggregate(patches, skill=skill, edit_budget=4, memory="", lm=lm, runner=runner)
    assert [(e.op, e.content, e.support) for e in out.edits] == [
        ("add", "- Dates are YYYY-MM-DD.", 1),
        ("add", "- Write dates as YYYY-MM-DD.", 1),
        ("add", "- Vendor: drop the legal form.", 1),
    ]


def test_on_an_empty_skill_the_merger_can_only_add():
    from skillopt_dspy.signatures import AggregateEdits, MergedAddition, for_empty_skill

    field = for_empty_skill(AggregateEdits).output_fields["edits"]
    assert field.annotation == list[MergedAddition]
    op = MergedAddition.model_json_schema()["properties"]["op"]
    assert op.get("const") == "add" or op.get("enum") == ["add"]


# Proposals of the 1.5B analysts at the first step of a ticket-routing run; GLUED is a conjunction of their
# cues that one analyst wrote, used here as what a merger might make of them.
DISPUTE = "When the ticket mentions a payment dispute, the queue should be 'escalations'."
SIGN_IN = (
    "When the ticket is about signing in (login, password, 2FA, SSO or a locked account), "
    "the queue should be 'account_access'."
)
ENT = "When the account id starts with 'ENT-', the queue should be 'priority_support'."
GLUED = (
    "When the ticket mentions a payment dispute, the ticket is about signing in (login, password, 2FA, SSO or a "
    "locked account), and the ticket asks for a refund of €962, then the queue should be 'escalations'."
)


def merge_with(answer, patches):
    lm = fake_lm(lambda call: {"edits": answer})
    with Runner(2, Usage()) as runner:
        return aggregate(patches, skill="", edit_budget=4, memory="", lm=lm, runner=runner).edits


def test_a_merged_edit_that_glues_distinct_proposals_gives_way_to_them():
    patches = [Patch(edits=[add(DISPUTE), add(SIGN_IN)]), Patch(edits=[add(SIGN_IN), add(ENT)])]
    # numbered after dedupe: 1 dispute, 2 sign-in (support 2), 3 ENT
    out = merge_with([{"op": "add", "target": "Rules", "content": GLUED, "merged_from": [1, 2, 3]}], patches)
    assert [(e.content, e.support) for e in out] == [(DISPUTE, 1), (SIGN_IN, 2), (ENT, 1)]


def test_each_proposal_counts_once_and_one_the_merge_lost_stays():
    patches = [
        Patch(edits=[add("- Dates are YYYY-MM-DD."), add(DISPUTE)]),
        Patch(edits=[add("- Write dates as YYYY-MM-DD.")]),
    ]
    answer = [  # the merger names every proposal twice; the first edit keeps only the dates' sense
        {"op": "add", "target": "Rules", "content": "- Write every date as YYYY-MM-DD.", "merged_from": [1, 2, 3]},
        {"op": "add", "target": "Rules", "content": "- Dates: YYYY-MM-DD.", "merged_from": [1, 3]},
    ]
    out = merge_with(answer, patches)
    support = {e.content: e.support for e in out}
    assert support == {"- Write every date as YYYY-MM-DD.": 2, "- Dates: YYYY-MM-DD.": 1, DISPUTE: 1}
    # 3 proposals of support 1 counted once each, plus the second edit's own 1 (it names only counted ones)
    assert sum(support.values()) == 3 + 1


def test_a_rewrite_of_one_proposal_and_a_merge_of_paraphrases_are_kept():
    patches = [Patch(edits=[add("- Drop GmbH, Inc. and Ltd from the vendor.")]), Patch(edits=[add(DISPUTE)])]
    answer = [
        {"op": "add", "target": "Rules", "content": "- Vendor: drop the legal form.", "merged_from": [1]},
        {"op": "add", "target": "Rules", "content": "- Payment disputes go to 'escalations'.", "merged_from": [2]},
    ]
    out = merge_with(answer, patches)
    assert [e.content for e in out] == ["- Vendor: drop the legal form.", "- Payment disputes go to 'escalations'."]


def test_a_proposal_the_merger_leaves_out_stays():
    patches = [Patch(edits=[add("- Dates are YYYY-MM-DD.")]), Patch(edits=[add("- Write dates as YYYY-MM-DD.")])]
    patches.append(Patch(edits=[add(SIGN_IN)]))
    answer = [{"op": "add", "target": "Rules", "content": "- Dates: YYYY-MM-DD.", "merged_from": [1, 2]}]
    out = merge_with(answer, patches)
    assert [(e.content, e.support) for e in out] == [("- Dates: YYYY-MM-DD.", 2), (SIGN_IN, 1)]
