import dspy

from skillopt_dspy import SkillOpt, read_region
from skillopt_dspy.edits import Edit, apply_edits
from skillopt_dspy.skill import SLOW_UPDATE_REGION
from tests.fakes import WordGroup, engine_of, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())


def train(reflector=None, **kw):
    target = fake_lm(target_handler)
    reflection = fake_lm(reflector or rule_reflector())
    settings = {"batch_size": 6, "epochs": 2, "learning_rate": 1, "num_threads": 2, "progress": False}
    settings |= {"gate_test": "strict", **kw}  # a one-word gain on the toy valset must pass: the strict gate
    with dspy.context(lm=target):
        compiled = SkillOpt(metric=group_metric, reflection_lm=reflection, **settings).compile(
            WordGroup(), trainset=TRAIN, valset=VAL
        )
    return compiled, engine_of(reflection)


def test_slow_update_writes_gated_guidance_into_the_protected_region():
    compiled, reflection = train(slow_update_samples=18)
    first = compiled.detailed_results.epochs[0]
    slow = first.slow_update
    assert slow["persistent_failures"] > 0 and slow["guidance"].startswith("- Words starting")
    assert slow["gate"]["accepted"] and first.val_score == slow["gate"]["candidate_score"]
    guidance = read_region(compiled.skill, SLOW_UPDATE_REGION)
    assert guidance and 'Words starting with "' in guidance
    # The comparison the reflection LM saw used the epoch-start and current skills on the same sample.
    (call,) = [c for c in reflection.calls if "comparison" in c.inputs][:1]
    assert "persistent failures" in call.inputs["comparison"]
    # Step-level edits can never change it.
    out = apply_edits(compiled.skill, [Edit(op="delete", target=guidance.splitlines()[0])])
    assert out.reports[0].reason == "protected" and out.text == compiled.skill


def test_rejected_slow_update_leaves_the_skill_alone():
    def useless(call):
        if "guidance" in call.outputs:
            return {"guidance": "- Always answer gamma."}
        return rule_reflector()(call)

    compiled, _ = train(reflector=useless, epochs=1)
    (epoch,) = compiled.detailed_results.epochs
    assert epoch.slow_update["gate"]["accepted"] is False
    assert read_region(compiled.skill, SLOW_UPDATE_REGION) is None


def test_meta_skill_is_shown_to_reflection_saved_and_loadable(tmp_path):
    compiled, reflection = train(log_dir=tmp_path / "a", use_slow_update=False)
    notes = compiled.detailed_results.meta_skill
    assert "first-letter rules were accepted" in notes
    assert (tmp_path / "a" / "meta_skill.md").read_text().strip() == notes
    second_epoch = [c for c in reflection.calls if "optimizer_memory" in c.inputs][-1]
    assert notes in second_epoch.inputs["optimizer_memory"]
    # A later run starts with that memory, and the target program never sees it.
    compiled2, reflection2 = train(meta_skill=tmp_path / "a" / "meta_skill.md", epochs=1, use_slow_update=False)
    first_call = next(c for c in reflection2.calls if "optimizer_memory" in c.inputs)
    assert notes in first_call.inputs["optimizer_memory"]
    assert "first-letter rules were accepted" not in compiled2.skill


def test_epoch_mechanisms_can_be_turned_off():
    compiled, reflection = train(use_slow_update=False, use_meta_skill=False)
    assert all(e.slow_update is None and e.meta_skill == "" for e in compiled.detailed_results.epochs)
    assert not [c for c in reflection.calls if "comparison" in c.inputs or "edit_outcomes" in c.inputs]
    assert all(c.inputs.get("optimizer_memory", "(none yet)") == "(none yet)" for c in reflection.calls)


def test_failed_slow_update_and_meta_skill_are_counted_and_the_run_goes_on():
    def broken(call):
        if "guidance" in call.outputs or "notes" in call.outputs:
            return "this is not json"
        return rule_reflector()(call)

    compiled, _ = train(reflector=broken, epochs=2)
    res = compiled.detailed_results
    assert res.faults["slow_update_error"] == 2 and res.faults["meta_skill_error"] == 2
    assert all("error" in e.slow_update for e in res.epochs)
    assert res.stop_reason == "completed all epochs" and res.best_val_score > res.baseline_val_score


def test_slow_update_guidance_never_copies_the_comparison():
    # Seen with the 0.5B model: the "guidance" was the comparison itself, training labels included.
    from skillopt_dspy.stages.epoch import drop_copied_lines

    comparison = (
        "1 persistent failure\n\n[1] PERSISTENT FAILURE (old 0.00 -> now 0.00)\n"
        "  inputs: ticket: Please refund the 28 EUR I paid. (account ENT-89047)\n"
        "  now output: queue: account_access\n  expected: queue: billing\n  feedback: Expected 'billing'."
    )
    guidance = (
        "1. PERSISTENT FAILURE (old 0.00 -> now 0.00)\n"
        "  inputs: ticket: Please refund the 28 EUR I paid. (account ENT-89047)\n"
        "  expected: queue: billing\n"
        "- Refunds of 100 or less go to billing, whatever the account."
    )
    kept, dropped = drop_copied_lines(guidance, comparison)
    assert kept == "- Refunds of 100 or less go to billing, whatever the account." and dropped == 3
    assert drop_copied_lines("- Short rule.", comparison) == ("- Short rule.", 0)
    # Seen with the 1.5B model: one example's feedback, word for word, behind a label of the model's own.
    feedback = "Expected 1939-03-02 but got 2025-03-14. Expected 1939-03-02 (Thursday), got 2025-03-14 (Friday)."
    labelled = f"- **Persistent Failure (old 0.00 -> now 0.00)**: {feedback}"
    rule = "- A two-digit year from 31 to 99 is 1931-1999 (03/02/39 is 1939-03-02)."
    kept, dropped = drop_copied_lines(f"{labelled}\n{rule}", f"{comparison}\n  feedback: {feedback}")
    assert (kept, dropped) == (rule, 1)
