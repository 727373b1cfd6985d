import dspy
import pytest

from skillopt_dspy.skill import (
    SKILL_BEGIN,
    apply_skill,
    compose_instructions,
    extract_skill,
    protected_regions,
    read_region,
    skill_hash,
    strip_skill,
    write_region,
)


class TwoStep(dspy.Module):
    def __init__(self):
        super().__init__()
        self.draft = dspy.Predict("question -> draft")
        self.answer = dspy.ChainOfThought("question, draft -> answer")

    def forward(self, question):
        d = self.draft(question=question).draft
        return self.answer(question=question, draft=d)


def test_apply_twice_replaces_never_stacks():
    prog = dspy.Predict("question -> answer")
    base = prog.signature.instructions
    apply_skill(prog, "- one")
    apply_skill(prog, "- two")
    assert prog.signature.instructions.count(SKILL_BEGIN) == 1
    assert extract_skill(prog) == "- two\n"
    assert strip_skill(prog.signature.instructions) == base


def test_apply_does_not_mutate_shared_signature_classes():
    prog = dspy.Predict("question -> answer")
    copy = prog.deepcopy()
    apply_skill(copy, "- rule")
    assert extract_skill(prog) == ""
    assert extract_skill(copy) == "- rule\n"


def test_empty_skill_leaves_base_instructions():
    prog = dspy.Predict("question -> answer")
    base = prog.signature.instructions
    apply_skill(prog, "- x")
    apply_skill(prog, "  ")
    assert prog.signature.instructions == base
    assert extract_skill(prog) == ""


def test_predictors_selection_and_unknown_name():
    prog = TwoStep()
    apply_skill(prog, "- rule", predictors=["answer"])
    skills = {name: SKILL_BEGIN in p.signature.instructions for name, p in prog.named_predictors()}
    assert skills == {"draft": False, "answer.predict": True}
    with pytest.raises(ValueError, match=r"its predictors are: draft, answer\.predict"):
        apply_skill(prog, "- rule", predictors=["nope"])


def test_regions_write_read_and_replace():
    text = write_region("# Rules\n- a\n", "slow-update", "first")
    text = write_region(text, "slow-update", "second")
    assert read_region(text, "slow-update") == "second"
    assert len(protected_regions(text)) == 1
    assert read_region(text, "other") is None
    with pytest.raises(ValueError, match="markers"):
        write_region(text, "slow-update", "<!-- skillopt:protected:end slow-update -->")


def test_unclosed_begin_marker_protects_to_the_end():
    text = "a\n<!-- skillopt:protected:begin x -->\nb\n"
    (region,) = protected_regions(text)
    assert region.end == len(text)


def test_skill_hash_ignores_trailing_whitespace():
    assert skill_hash("- a  \n- b\n\n") == skill_hash("- a\n- b")
    assert skill_hash("- a") != skill_hash("- b")


def test_compose_instructions_strips_an_old_block():
    once = compose_instructions("Do the task.", "- a")
    assert compose_instructions(once, "- b") == compose_instructions("Do the task.", "- b")
