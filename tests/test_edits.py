from hypothesis import given, settings
from hypothesis import strategies as st

from skillopt_dspy.edits import Edit, RejectedEdit, apply_edits, find_target
from skillopt_dspy.skill import protected_regions, write_region

SKILL = "# Rules\n- Answer with the label only.\n- Be brief.\n\n## Dates\n- Use ISO dates.\n"


def test_add_under_heading_appends_to_that_section():
    out = apply_edits(SKILL, [Edit(op="add", target="Rules", content="- Cite the ticket id.")])
    assert out.reports[0].applied
    assert out.text.index("- Cite the ticket id.") < out.text.index("## Dates")
    assert out.text.index("- Be brief.") < out.text.index("- Cite the ticket id.")


def test_add_accepts_heading_with_hashes_and_any_case():
    out = apply_edits(SKILL, [Edit(op="add", target="## dates", content="- Day first.")])
    assert out.text.rstrip().endswith("- Use ISO dates.\n- Day first.")


def test_add_to_missing_heading_creates_the_section_before_protected_regions():
    text = write_region(SKILL, "slow-update", "guidance")
    out = apply_edits(text, [Edit(op="add", target="Currency", content="- Use ISO codes.")])
    assert out.reports[0].applied and "new section" in out.reports[0].detail
    assert out.text.index("## Currency\n- Use ISO codes.") < out.text.index("<!-- skillopt:protected:begin")


def test_add_without_target_goes_to_the_end_before_protected_regions():
    text = write_region(SKILL, "slow-update", "guidance")
    out = apply_edits(text, [Edit(op="add", content="- Last rule.")])
    assert out.text.index("- Last rule.") < out.text.index("<!-- skillopt:protected:begin")
    assert out.text.index("- Use ISO dates.") < out.text.index("- Last rule.")


def test_add_to_empty_skill():
    out = apply_edits("", [Edit(op="add", target="Rules", content="- One.")])
    assert out.text == "## Rules\n- One.\n"


def test_replace_insert_after_delete():
    out = apply_edits(
        SKILL,
        [
            Edit(op="replace", target="- Be brief.", content="- Be very brief."),
            Edit(op="insert_after", target="Answer with the label only.", content="- Never explain."),
            Edit(op="delete", target="- Use ISO dates."),
        ],
    )
    assert all(r.applied for r in out.reports)
    assert out.text == "# Rules\n- Answer with the label only.\n- Never explain.\n- Be very brief.\n\n## Dates\n"


def test_whitespace_insensitive_match_when_unique():
    out = apply_edits(SKILL, [Edit(op="replace", target="Answer  with the\nlabel only.", content="Answer tersely.")])
    assert out.reports[0].applied
    assert "- Answer tersely." in out.text


def test_ambiguous_target_is_skipped_never_guessed():
    text = "- Be brief.\n- Be brief.\n"
    out = apply_edits(text, [Edit(op="delete", target="- Be brief.")])
    assert not out.reports[0].applied and out.reports[0].reason == "target_ambiguous"
    assert out.text == text


def test_missing_target_and_empty_content_are_reported():
    out = apply_edits(
        SKILL,
        [
            Edit(op="replace", target="not there", content="x"),
            Edit(op="add", target="Rules", content="   "),
            Edit(op="delete", target=""),
            Edit(op="replace", target="- Be brief.", content="- Be brief."),
        ],
    )
    assert [r.reason for r in out.reports] == ["target_not_found", "empty", "empty", "no_change"]
    assert out.text == SKILL


def test_an_edit_that_would_leave_a_heading_without_title_is_skipped():
    # Seen with the 0.5B model: a delete whose target is a section title matched inside "## Rules".
    text = "## Rules\n- Escalate chargebacks.\n"
    out = apply_edits(text, [Edit(op="delete", target="Rules"), Edit(op="replace", target="## Rules", content="## ")])
    assert [r.reason for r in out.reports] == ["breaks_heading", "breaks_heading"]
    assert out.text == text
    renamed = apply_edits(text, [Edit(op="replace", target="Rules", content="House rules")])
    assert renamed.reports[0].applied and renamed.text.startswith("## House rules\n")


def test_edits_inside_protected_regions_are_skipped():
    text = write_region(SKILL, "slow-update", "- Keep rules short.")
    out = apply_edits(
        text,
        [
            Edit(op="replace", target="- Keep rules short.", content="- Anything goes."),
            Edit(op="delete", target="<!-- skillopt:protected:end slow-update -->"),
            Edit(op="insert_after", target="Keep rules short.", content="- sneaky"),
            Edit(op="add", content="<!-- skillopt:protected:end slow-update -->"),
        ],
    )
    assert [r.reason for r in out.reports] == ["protected", "marker_in_content", "protected", "marker_in_content"]
    assert out.text == text


def test_span_overlapping_a_marker_is_protected():
    text = write_region("- a rule\n", "slow-update", "guide")
    start = text.index("rule")
    target = text[start : text.index("skillopt:protected:begin") + 5]
    out = apply_edits(text, [Edit(op="delete", target=target)])
    assert out.reports[0].reason in ("protected", "marker_in_content")
    assert out.text == text


def test_find_target_reports_status():
    assert find_target("a b c", "b")[0] == "ok"
    assert find_target("a b b", "b")[0] == "target_ambiguous"
    assert find_target("a b", "z")[0] == "target_not_found"


def test_edit_key_ignores_whitespace_and_case():
    assert Edit(op="add", content="- Be  Brief.").key() == Edit(op="add", content="- be brief.", rationale="x").key()


words = st.text(alphabet="abcdef -#\n*", min_size=0, max_size=40)
edit_strategy = st.builds(
    Edit,
    op=st.sampled_from(["add", "insert_after", "replace", "delete"]),
    target=st.one_of(words, st.sampled_from(["guide", "<!-- skillopt:protected:end r -->", "# H", "begin r"])),
    content=words,
)


@settings(max_examples=300, deadline=None)
@given(prefix=words, inner=words, suffix=words, edits=st.lists(edit_strategy, max_size=6))
def test_property_edits_never_touch_protected_regions(prefix, inner, suffix, edits):
    text = write_region(prefix, "r", "guide " + inner) + suffix
    before = [text[r.start : r.end] for r in protected_regions(text)]
    out = apply_edits(text, edits)
    after = [out.text[r.start : r.end] for r in protected_regions(out.text)]
    assert after == before
    assert len(out.reports) == len(edits)


@settings(max_examples=300, deadline=None)
@given(text=words, edit=edit_strategy)
def test_property_a_skipped_edit_leaves_the_text_unchanged(text, edit):
    out = apply_edits(text, [edit])
    if not out.reports[0].applied:
        assert out.text == text
    else:
        assert out.text != text


def test_a_rejected_edit_says_how_its_scores_moved_a_rise_the_gate_could_not_trust_included():
    edit = Edit(op="add", content="- Refunds over 100 go to escalations.")
    said = [
        RejectedEdit(edit=edit, step=0, incumbent_score=old, candidate_score=new).describe()
        for old, new in ((0.5, 0.25), (0.5, 0.5), (0.042, 0.208))
    ]
    assert [s.split("[step 1: ")[1] for s in said] == [
        "validation fell 0.500 -> 0.250]",
        "validation tied 0.500 -> 0.500]",
        "validation rose, not significantly: 0.042 -> 0.208]",  # measured: racing stopped a paired loser ahead
    ]
