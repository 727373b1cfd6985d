from skillopt_dspy.edits import Edit
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


def test_select_ranks_edits_rejected_this_epoch_last_without_banning_them():
    bad = Edit(op="add", content="- Always answer gamma, no matter what.")
    again = Edit(op="add", content="- always answer  gamma, no matter what.", support=3)
    picked = select([again, Edit(op="add", content=rule("ok"))], edit_budget=5, rejected=[bad])
    assert [e.content for e in picked.selected] == [rule("ok"), again.content]  # kept, ranked after fresh
    tight = select([again, Edit(op="add", content=rule("ok"))], edit_budget=1, rejected=[bad])
    assert [e.content for e in tight.selected] == [rule("ok")]
    assert tight.dropped[0][1] == "over the edit budget (tried earlier this epoch in a rejected candidate)"


def test_select_keeps_short_replaces_and_narrowing_replaces():
    # A capable model fixes a wrong rule with a short replace, or narrows one with text the skill contains.
    skill = "## Rules\n- label is FOO\n- Refunds over $100 go to escalations.\n"
    short = Edit(op="replace", target="label is FOO", content="label is BAR")
    narrow = Edit(op="replace", target="- Refunds over $100 go to escalations.", content="- Refunds over $100 go to")
    one_word = Edit(op="insert_after", target="label is FOO", content="BAR")
    picked = select([short, narrow, one_word], edit_budget=5, skill=skill)
    assert picked.selected == (short, narrow)
    assert [why for _, why in picked.dropped] == ["a fragment, not a rule: one word added"]


def test_select_drops_fragments_and_rules_the_skill_already_has():
    skill = "## Rules\n- Chargebacks go to escalations always.\n"
    picked = select(
        [
            Edit(op="add", target="billing", content="escalations"),
            Edit(op="add", content="* Chargebacks go to  escalations always."),
            Edit(op="delete", target="- Chargebacks"),
            Edit(op="add", content="- Chargebacks go to escalations always.\n- Disputes too."),
        ],
        edit_budget=5,
        skill=skill,
    )
    assert [e.op for e in picked.selected] == ["delete", "add"]
    assert [why for _, why in picked.dropped] == [
        "a fragment, not a rule: one word added",
        "the skill already has every line of this text",
    ]


def test_update_reports_every_edit():
    result = update("# Rules\n", [Edit(op="add", target="Rules", content="- a"), Edit(op="delete", target="zzz")])
    assert result.text == "# Rules\n- a\n"
    assert [r.applied for r in result.reports] == [True, False]


def test_select_drops_copies_of_the_prompts_rule_template():
    # Small models copy the prompt's text into the skill; the template's placeholders give a copy away.
    from skillopt_dspy.signatures import RULE_TEMPLATE

    copied = Edit(op="add", target="Rules", content="- " + RULE_TEMPLATE)
    half = Edit(op="add", target="Rules", content="- When the ticket says refund, <what the output must be>.")
    own = Edit(op="add", target="Rules", content="- When the ticket mentions a chargeback, the queue is escalations.")
    out = select([copied, half, own], edit_budget=4)
    assert [e.content for e in out.selected] == [own.content]
    assert {reason for _, reason in out.dropped} == {
        "copied the prompt's rule template with its placeholders, not a rule learned from this batch"
    }


def test_select_drops_a_pattern_of_the_evidence_pasted_in():
    # As a 1.5B date analyst wrote it: a pattern of the evidence, heading and feedback summary, as an "add".
    pasted = Edit(
        op="add",
        target="Instructions",
        content="## Pattern 1: `date` differs from the expected value (4 examples)\n\nWhat the feedback says about "
        "these failures:\n- (4 of 4) Expected … but got ….",
    )
    heading = Edit(op="add", target="## Pattern 2: `date` differs", content="- Write the date as YYYY-MM-DD.")
    own = Edit(op="add", target="Dates", content="- When the text names a date with a year, the answer is that date.")
    out = select([pasted, heading, own], edit_budget=4)
    assert [e.content for e in out.selected] == [own.content]
    assert {why for _, why in out.dropped} == {
        "copied the evidence's layout (a '## Pattern N:' heading or its feedback summary), not a rule"
    }


def test_a_candidate_rejected_against_the_same_skill_is_not_judged_again():
    from skillopt_dspy.candidates import add_candidate, settle
    from skillopt_dspy.stages.step import _fresh_candidate
    from skillopt_dspy.state import RunState

    skill = "## Rules\n- Rule base says something.\n"
    state = RunState(fingerprint={}, initial_skill=skill, skill=skill, baseline_val_score=0.2, val_score=0.2)
    add_candidate(state.candidates, skill, source="initial", parent_skill=None)
    loser = Edit(op="add", target="Rules", content=rule("lost"), support=5)
    fresh = Edit(op="add", target="Rules", content=rule("fresh"), support=1)
    judged = update(skill, [loser]).text
    i = add_candidate(state.candidates, judged, source="step", epoch=0, step=0, parent_skill=skill)
    settle(state.candidates, i, accepted=False, metric_calls=30)
    # Both were rejected this epoch (``fresh`` in a pair with another edit); the loser ranks first on support,
    # but alone it makes the very candidate the gate turned down: the next edit takes its place.
    selection, candidate, _ = _fresh_candidate(state, state.skill, [loser, fresh], 1, rejected=[loser, fresh])
    assert candidate.applied == [fresh] and rule("fresh") in candidate.text and rule("lost") not in candidate.text
    reasons = dict((e.content, why) for e, why in selection.dropped)
    assert reasons[rule("lost")] == "this candidate was rejected against the same skill at step 1"
    # Nothing else to try: no candidate, and the step is skipped rather than judged twice.
    selection, candidate, _ = _fresh_candidate(state, state.skill, [loser], 1, rejected=[loser])
    assert candidate.applied == [] and [e.content for e, _ in selection.dropped] == [rule("lost")]
    # Once the skill has moved on, the same edit makes a new candidate and is judged again.
    state.skill = update(skill, [fresh]).text
    add_candidate(state.candidates, state.skill, source="step", epoch=0, step=1, parent_skill=skill)
    _, candidate, _ = _fresh_candidate(state, state.skill, [loser], 1, rejected=[loser])
    assert candidate.applied == [loser]


def test_select_drops_an_examples_input_or_the_task_pasted_in_but_keeps_rules_that_quote_a_cue():
    invoice = (
        "Vendor: Nordlicht Software GmbH\nInvoice Number: A99676\nIssued: 2024-04-30\nBill to: Studio Vela S.r.l.\n"
        "Pro plan, 12 months  $4233.20\nSubtotal: $4233.20\nAmounts shown in CAD incl. GST/HST.\nAmount due: $4783.52"
    )
    task = "Predictor `extract`\n  Instructions: Extract the invoice fields.\n  Output: vendor: str | None; " + (
        "invoice_number: str | None; date: str | None; total: str | None; currency: str | None"
    )
    pasted = Edit(op="add", target="Invoice", content=invoice[:200])
    schema = Edit(op="add", target="Invoice", content=task.split("Output: ")[1])
    cue = Edit(op="add", target="Invoice", content='- When the document says "Amounts shown in CAD", a "$" is CAD.')
    legal = Edit(op="add", target="Invoice", content="- Drop the legal form (GmbH, Inc., Ltd, S.r.l.) from the vendor.")
    picked = select([pasted, schema, cue, legal], edit_budget=4, inputs=[invoice], task=task)
    assert [e.content for e in picked.selected] == [cue.content, legal.content]
    reasons = [why for _, why in picked.dropped]
    assert reasons == [
        "pasted 100+ characters of an example's input, not a rule",
        "copied 100+ characters of the task description, which the program already reads",
    ]


def test_an_edit_that_cannot_apply_gives_its_slot_to_the_next_one():
    from skillopt_dspy.candidates import add_candidate
    from skillopt_dspy.stages.step import _fresh_candidate
    from skillopt_dspy.state import RunState

    skill = "## Invoice\n- The vendor: drop GmbH.\n- The total: two decimals.\n"
    state = RunState(fingerprint={}, initial_skill=skill, skill=skill, baseline_val_score=0.2, val_score=0.2)
    add_candidate(state.candidates, skill, source="initial", parent_skill=None)
    ambiguous = Edit(op="replace", target="The", content="Redwood Analytics", support=3)  # twice in the skill
    missing = Edit(op="replace", target="Date: 11.12.2022", content="2022-12-11", support=2)  # not in it
    good = Edit(op="add", target="Invoice", content="- The currency: an ISO code, EUR for €.", support=1)
    selection, candidate, _ = _fresh_candidate(state, state.skill, [ambiguous, missing, good], 1, rejected=[])
    assert candidate.applied == [good] and [r.applied for r in candidate.reports] == [True]
    reasons = {e.content: why for e, why in selection.dropped}
    assert reasons["Redwood Analytics"].startswith("could not apply (target_ambiguous")
    assert reasons["2022-12-11"].startswith("could not apply (target_not_found")
    # With no edit left to take the slot, the report says why the edit was not applied, as before.
    _, alone, _ = _fresh_candidate(state, state.skill, [missing], 1, rejected=[])
    assert alone.applied == [] and alone.reports[0].reason == "target_not_found"


def test_copies_of_the_rejected_edit_hint_lose_its_annotations_and_clipped_copies_are_dropped():
    from skillopt_dspy.edits import RejectedEdit
    from skillopt_dspy.guards import repaired

    rule_text = "When the ticket mentions a payment dispute, the queue should be 'escalations'."
    shown = RejectedEdit(edit=Edit(op="add", content=rule_text), step=0, incumbent_score=0.2, candidate_score=0.1)
    hint = shown.describe()
    assert rule_text in hint and "…" not in hint  # shown whole: nothing clipped to copy
    # The 1.5B analysts' copies (ticket routing): the annotations repeated to the length limit, or a clipped rule.
    copied = repaired(f"{rule_text} [step 1: validation fell 0.200 -> 0.100] [step 2: validation fell 0.2")
    assert Edit(op="add", content=copied).key() == shown.edit.key()  # an exact repeat, known as one
    clipped = Edit(op="add", content="When the ticket mentions a payment dispute, the ticket asks for a refund of…")
    fine = Edit(op="add", content="Dates like 03/04/… are day first… unless the vendor is American.")
    picked = select([clipped, fine], edit_budget=5)
    assert picked.selected == (fine,)
    assert "ends where the hint cut it" in picked.dropped[0][1]


def test_on_equal_support_a_rule_about_one_example_ranks_after_general_rules():
    # The 1.5B analysts' rules of a routing step: two quote a value that only one of the step's tickets has.
    inputs = ["Hi, refund 29,50 € please. Account STD-75936.", "Payment dispute on STD-11111, refund 32.00 EUR."]
    one = Edit(op="add", content="When the ticket asks for a refund of 29,50 €, the queue should be billing.")
    other = Edit(op="add", content="When the ticket contains 'STD-75936', billing is the queue.")
    general = Edit(op="add", content="When the ticket mentions a payment dispute, the queue should be 'escalations'.")
    shared = Edit(op="add", content="When the account is STD-, the queue is billing.", support=2)
    picked = select([one, other, general, shared], edit_budget=3, inputs=inputs)
    assert picked.selected == (shared, general, one)  # support first; nothing dropped for quoting a value
    assert picked.dropped[0][1] == (
        "over the edit budget (quotes 'std-75936', a value of one example: ranked after general rules)"
    )
    assert select([one, general], edit_budget=3).selected == (one, general)  # no inputs known: order kept


def test_a_rule_quoting_one_examples_expected_answer_ranks_after_general_rules():
    # Measured (1.5B quickstart, field extraction): "When the `date` field is expected to be YYYY-MM-DD, replace the
    # current value with '2022-06-09'" (one invoice's expected date; its input says 09.06.2022) took a slot.
    inputs = ["Invoice date: 09.06.2022. Total: 5,52 EUR", "Invoice date: 11.11.2022. Total: 183,43 EUR"]
    examples = [f"{inputs[0]}\n2022-06-09\n5.52", f"{inputs[1]}\n2022-11-11\n183.43"]
    one = Edit(op="add", content="When the `date` field is expected, replace the current value with '2022-06-09'.")
    general = Edit(op="add", content="When the input says 'Invoice date:', the date is the value after it.")
    assert select([one, general], edit_budget=1, inputs=inputs).selected == (one,)  # not in any input
    picked = select([one, general], edit_budget=1, inputs=inputs, examples=examples)
    assert picked.selected == (general,) and "quotes '2022-06-09', a value of one example" in picked.dropped[0][1]


def test_a_domain_word_with_one_digit_is_not_one_examples_value():
    # Measured (1.5B routing, budget 300): the sign-in rule ranked last because one ticket of the step said "2FA".
    inputs = ["My 2FA codes are rejected since Monday.", "Refund of 29,50 € please."]
    sign_in = Edit(
        op="add", content="When the ticket is about signing in (login, 2FA, SSO), the queue is account_access."
    )
    general = Edit(op="add", content="When the ticket mentions a chargeback, the queue should be 'escalations'.")
    assert select([sign_in, general], edit_budget=1, inputs=inputs).selected == (sign_in,)


def test_stretches_of_a_rejected_edit_rank_after_fresh_edits_whatever_their_support():
    # Measured (1.5B routing, budget 300): the analysts copied stretches of a rejected one-ticket rule from the
    # hint; merged, the copies had a support of 7 and took the first slot of the next two candidates.
    tried = Edit(
        op="add",
        target="billing",
        content="When the ticket contains 'account TEAM-6160', 'billing' is the correct queue. When the ticket "
        "contains 'STD-75936', 'billing' is the correct queue. When the ticket contains 'Hi all', 'billing' is "
        "the correct queue.",
    )
    stretch = Edit(
        op="add",
        target="technical",
        content="When the ticket contains 'STD-75936', 'billing' is the correct queue. When the ticket contains "
        "'Hi all', 'billing' is the correct queue.",
        support=7,
    )
    glued = Edit(
        op="add",
        content="When the ticket contains 'Hi all', 'billing' is the correct queue. When the "
        "ticket mentions a chargeback, the queue should be 'escalations'.",
        support=2,
    )
    fresh = Edit(op="add", content="When the ticket is about signing in, the queue should be 'account_access'.")
    picked = select([stretch, glued, fresh], edit_budget=2, rejected=[tried])
    assert picked.selected == (glued, fresh)  # glued says something new: fresh; the stretch only repeats
    assert "tried earlier this epoch" in dict((e.content, why) for e, why in picked.dropped)[stretch.content]


def test_a_clipped_copy_of_a_rejected_edit_counts_as_an_echo():
    from skillopt_dspy.guards import echoed_rejected

    long_rule = "If the input text contains a date, return the date in the format YYYY-MM-DD. " * 8
    rejected = Edit(op="add", content=long_rule)
    copy = Edit(op="add", content=long_rule[:120].rstrip() + "…")
    middle = Edit(op="add", content=long_rule[79:160].rstrip() + "…")  # from a repeated sentence on
    assert echoed_rejected([copy], [rejected], applied=[]) and echoed_rejected([middle], [rejected], applied=[])
    other = Edit(op="add", content="Numeric dates are day first: 03/04/2021 is the 3rd of April…")
    assert not echoed_rejected([other], [rejected], applied=[])
