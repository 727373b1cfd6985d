from typing import Literal

import dspy

from skillopt_dspy import SkillOpt
from skillopt_dspy.budget import Usage
from skillopt_dspy.edits import Edit, Patch, RejectedEdit, apply_edits
from skillopt_dspy.guards import repaired
from skillopt_dspy.parallel import Runner
from skillopt_dspy.scoring import Score
from skillopt_dspy.stages.evidence import failure_evidence, success_evidence
from skillopt_dspy.stages.reflect import minibatches, reflect
from skillopt_dspy.stages.rollout import Trajectory
from tests.fakes import GROUPS, engine_of, fake_lm, group_metric, rule_reflector
from tests.fakes import word_examples as ex


def traj(word, group, got, feedback=""):
    example = dspy.Example(word=word, group=group).with_inputs("word")
    ok = got == group
    return Trajectory(example, dspy.Prediction(group=got), Score(float(ok), float(ok), feedback))


def reflect_one(lm, runner, *, skill="", trajectories=None, **kwargs):
    """Reflect on one failure (apple: alpha answered beta), or on ``trajectories``, with the defaults these
    tests share."""
    return reflect(
        trajectories or [traj("apple", "alpha", "beta")],
        skill=skill,
        task="",
        edit_budget=2,
        rejected=[],
        memory="",
        lm=lm,
        runner=runner,
        minibatch_size=4,
        **kwargs,
    )


def test_failures_grouped_by_confusion_then_every_success_in_minibatches():
    trajs = [
        traj("ant", "alpha", "gamma"),
        traj("bat", "alpha", "beta"),
        traj("cow", "alpha", "gamma"),
        traj("ink", "beta", "beta"),
        traj("dog", "alpha", "gamma"),
        *[traj(w, "gamma", "gamma") for w in ("rain", "rock", "sun", "sea", "star")],
    ]
    batches = minibatches(trajs, 3, seed=0)
    assert [s for s, _ in batches] == ["failure", "failure", "success", "success"]
    first = [t.example.word for t in batches[0][1]]
    assert first == ["ant", "cow", "dog"]  # the largest confusion (alpha answered as gamma) stays together
    assert sum(len(b) for s, b in batches if s == "success") == 6  # all successes are analysed


def test_failure_evidence_names_the_confusion_and_shows_contrasting_solved_inputs():
    failures = [traj("ant", "alpha", "gamma", "expected alpha"), traj("axe", "alpha", "gamma")]
    solved = [traj("sun", "gamma", "gamma"), traj("bee", "alpha", "alpha"), traj("ink", "beta", "beta")]
    text = failure_evidence(failures, solved, budget_chars=10_000, contrasts=2)
    assert "for contrast" not in failure_evidence(failures, solved, budget_chars=10_000)  # off by default
    assert '`group` should be "alpha" but the program answered "gamma" (2 examples)' in text
    assert "### Failed example 1\nInput:\n  word: ant" in text and "Feedback: expected alpha" in text
    assert "Program output:\n  group: gamma" in text and "Expected:\n  group: alpha" in text
    assert '(really are "gamma", answered correctly) word: sun' in text
    assert '(also are "alpha", answered correctly) word: bee' in text
    assert "ink" not in text  # a solved input of an unrelated answer is no contrast
    assert "What the feedback says about these failures:\n- (1 of 2) expected alpha" in text


def test_evidence_fits_the_budget_by_cutting_long_inputs_first_and_keeps_the_feedback():
    long_doc = "lorem ipsum " * 2_000
    example = dspy.Example(doc=long_doc, label="x").with_inputs("doc")
    feedback = "The label must be x because the document is an invoice. " * 3
    t = Trajectory(example, dspy.Prediction(label="y"), Score(0.0, 0.0, feedback))
    text = failure_evidence([t], [], budget_chars=3_000)
    assert len(text) <= 3_000
    assert "characters cut" in text and feedback.strip() in text
    assert success_evidence([t], budget_chars=100_000).count("lorem ipsum") == 2_000  # whole when it fits


def test_reflect_sends_task_evidence_and_this_epochs_rejected_edits_with_scores():
    lm = fake_lm(rule_reflector())
    usage = Usage()
    trajs = [traj("apple", "alpha", "unknown"), traj("queen", "gamma", "unknown"), traj("igloo", "beta", "beta")]
    bad = RejectedEdit(
        edit=Edit(op="add", content="- Always answer gamma."),
        step=1,
        epoch=0,
        incumbent_score=0.5,
        candidate_score=0.25,
    )
    with Runner(2, usage) as runner:
        patches = reflect(
            trajs,
            skill="",
            task="Predictor `predict` (reads the skill)",
            edit_budget=4,
            rejected=[bad],
            memory="",
            lm=lm,
            runner=runner,
            minibatch_size=8,
        )
    assert sorted(p.source for p in patches) == ["failure", "success"]
    failure = next(p for p in patches if p.source == "failure")
    assert {e.content for e in failure.edits} == {
        '- Words starting with "a" are alpha.',
        '- Words starting with "q" are gamma.',
    }
    assert all(e.source == "failure" for e in failure.edits)
    assert usage.lm_calls == {"reflection": 2}
    calls = engine_of(lm).calls
    assert all("Always answer gamma" in c.inputs["rejected_edits"] for c in calls)
    assert all("validation fell 0.500 -> 0.250" in c.inputs["rejected_edits"] for c in calls)
    assert all(c.inputs["task"] == "Predictor `predict` (reads the skill)" for c in calls)


def test_a_failed_reflection_is_counted_and_the_step_goes_on():
    lm = fake_lm(lambda call: "not json at all {")
    usage = Usage()
    errors = []
    with Runner(1, usage) as runner:
        patches = reflect_one(lm, runner, errors=errors)
    assert patches == []
    assert usage.faults == {"reflect_error": 1}
    assert errors and "failure reflection failed" in errors[0]


# ---- a two-predictor program: the reflection prompt must show the task and every predictor's step ----------


class FirstLetter(dspy.Signature):
    """Write down the first letter of the word."""

    word: str = dspy.InputField(desc="a lower-case English word")
    letter: str = dspy.OutputField(desc="one lower-case letter")


class LetterGroup(dspy.Signature):
    """Name the group the letter belongs to."""

    letter: str = dspy.InputField()
    group: Literal["alpha", "beta", "gamma"] = dspy.OutputField()


class TwoStep(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = dspy.Predict(FirstLetter)
        self.second = dspy.Predict(LetterGroup)

    def forward(self, word: str) -> dspy.Prediction:
        return self.second(letter=self.first(word=word).letter)


def two_step_target(call):
    if "word" in call.inputs:
        return {"letter": call.inputs["word"][:1]}
    letter = call.inputs.get("letter", "")
    told = f'Words starting with "{letter}" are ' in call.skill
    return {"group": next(g for g, letters in GROUPS.items() if letter in letters) if told else "alpha"}


def test_the_reflection_prompt_shows_instructions_field_descriptions_labels_and_every_step():
    target = fake_lm(two_step_target, name="fake/target")
    reflection = fake_lm(rule_reflector(), name="fake/reflect")
    train, val = ex("quill rain sun ink jar apple".split()), ex("queen rock kite".split())
    opt = SkillOpt(
        metric=group_metric,
        reflection_lm=reflection,
        batch_size=6,
        epochs=1,
        num_threads=2,
        progress=False,
        predictors=["second"],
        gate_test="strict",  # a one-word gain on the toy valset must pass: the strict gate
    )
    with dspy.context(lm=target):
        compiled = opt.compile(TwoStep(), trainset=train, valset=val)
    call = next(
        c for c in engine_of(reflection).calls if "evidence" in c.inputs and "Failed example" in c.inputs["evidence"]
    )
    task = call.inputs["task"]
    assert "Predictor `first` (does not read the skill)" in task and "Predictor `second` (reads the skill)" in task
    assert "Instructions: Write down the first letter of the word." in task
    assert "Input word (str): a lower-case English word" in task
    assert 'Output group: one of "alpha", "beta", "gamma"' in task
    evidence = call.inputs["evidence"]
    assert "step 1, predictor `first`" in evidence and "step 2, predictor `second`" in evidence
    assert "out letter: q" in evidence and "in  letter: q" in evidence
    assert compiled.detailed_results.best_val_score > compiled.detailed_results.baseline_val_score


def test_evidence_shows_only_the_answer_fields_as_expected_not_an_examples_id():
    example = dspy.Example(id="train-001", ticket="Refund me 900 EUR", queue="escalations").with_inputs("ticket")
    t = Trajectory(example, dspy.Prediction(queue="billing"), Score(0.0, 0.0, "a refund over 100"))
    text = failure_evidence([t], [], budget_chars=10_000)
    assert "Expected:\n  queue: escalations" in text and "train-001" not in text


def test_an_empty_skill_only_takes_additions():
    # With no skill text there is no target for replace / delete / insert_after: the schema allows only add.
    replace = {"failure_summary": "s", "edits": [{"op": "replace", "target": "billing", "content": "escalations"}]}
    for skill, faults in (("", {"reflect_error": 1}), ("## Rules\n- billing is for invoices.", {})):
        usage = Usage()
        with Runner(1, usage) as runner:
            reflect_one(fake_lm(lambda call: replace), runner, skill=skill)
        assert usage.faults == faults


def test_an_added_rule_whose_heading_restates_it_goes_under_no_heading():
    rule = "When the reference date is given, the answer is the date the text names, not the reference date."
    answer = {
        "failure_summary": "s",
        "edits": [
            {"op": "add", "content": rule, "target": "When the reference date is given, the answer is the…"},
            {"op": "add", "content": "Card disputes go to escalations.", "target": "Escalations"},
        ],
    }
    with Runner(1, Usage()) as runner:
        patches = reflect_one(fake_lm(lambda call: answer), runner)
    assert [(e.target, e.content) for e in patches[0].edits] == [
        ("", rule),
        ("Escalations", "Card disputes go to escalations."),
    ]


def test_a_replace_of_a_word_inside_a_rule_by_a_whole_rule_replaces_that_rules_line():
    # A 1.5B analyst replaced the label word of a rule by a whole rule; the skill then held a rule inside a rule.
    skill = (
        "## Queues\n"
        "When the ticket mentions a chargeback or an outage, the queue should be 'escalations'.\n"
        "Refunds go to billing.\n"
    )
    outage = "When the ticket reports an outage that affects everyone, the queue should be 'priority_support'."
    kept = [
        {"op": "replace", "target": "billing", "content": "billing or escalations"},  # words for a word
        {"op": "replace", "target": "Refunds go to billing.", "content": "Refunds and credits go to billing."},
        {"op": "replace", "target": "Queues", "content": "These rules say which queue a ticket goes to first."},
    ]
    answer = {"failure_summary": "s", "edits": [{"op": "replace", "target": "escalations", "content": outage}, *kept]}
    with Runner(1, Usage()) as runner:
        (patch,) = reflect_one(fake_lm(lambda call: answer), runner, skill=skill)
    assert [(e.target, e.content) for e in patch.edits] == [
        ("When the ticket mentions a chargeback or an outage, the queue should be 'escalations'.", outage),
        *[(e["target"], e["content"]) for e in kept],
    ]
    assert apply_edits(skill, [patch.edits[0]]).text == f"## Queues\n{outage}\nRefunds go to billing.\n"


def test_a_label_that_is_also_a_section_title_is_replaced_in_its_one_rule_and_never_guessed_between_two():
    sign_in = "When the ticket is about signing in (login, 2FA or SSO), the queue should be 'account_access'."
    rule = "When the subject is 'Issue with my account', the queue should be 'billing'."
    answer = {"failure_summary": "s", "edits": [{"op": "replace", "target": "billing", "content": sign_in}]}
    one_rule, two_rules = f"## billing\n{rule}\n", f"## billing\n{rule}\nRefunds go to 'billing'.\n"
    targets = []
    for skill in (one_rule, two_rules):
        with Runner(1, Usage()) as runner:
            (patch,) = reflect_one(fake_lm(lambda call: answer), runner, skill=skill)
        targets.append(patch.edits[0].target)
    assert targets == [rule, "billing"]  # in two rules the target stays ambiguous, and apply skips it
    assert apply_edits(one_rule, [Edit(op="replace", target=rule, content=sign_in)]).text == f"## billing\n{sign_in}\n"


def test_contrast_examples_reach_the_failure_analyst_only_when_asked(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="contrast_examples"):
        SkillOpt(metric=group_metric, contrast_examples=-1)
    for n, shown in ((0, False), (1, True)):
        reflection = fake_lm(rule_reflector(), name="fake/reflect")
        opt = SkillOpt(
            metric=group_metric, reflection_lm=reflection, batch_size=6, epochs=1, progress=False, contrast_examples=n
        )
        with dspy.context(lm=fake_lm(two_step_target, name="fake/target")):  # answers alpha without a rule
            opt.compile(TwoStep(), trainset=ex("apple axe sun ink".split()), valset=ex("ant rock".split()))
        evidence = [c.inputs.get("evidence", "") for c in engine_of(reflection).calls]
        assert any("for contrast" in e for e in evidence) is shown


def test_failures_on_values_of_their_own_form_one_group_whose_feedback_is_counted():
    from skillopt_dspy.stages.evidence import label_fields

    def traj(day, month, ok=False):
        ex = dspy.Example(text=f"on {day:02d}/{month:02d}/2021", date=f"2021-{month:02d}-{day:02d}").with_inputs("text")
        got = f"2021-{month:02d}-{day:02d}" if ok else f"2021-{day:02d}-{month:02d}"
        why = "Correct." if ok else f"Expected 2021-{month:02d}-{day:02d}. Day and month are swapped: day {day}."
        return Trajectory(ex, dspy.Prediction(date=got), Score(float(ok), float(ok), why))

    batch = [traj(3, 4), traj(5, 6), traj(7, 8), traj(9, 10, ok=True)]
    assert label_fields(batch) == set()  # every date is its own: no label
    text = failure_evidence(batch[:3], batch[3:], budget_chars=10_000, labels=label_fields(batch))
    assert text.count("## Pattern") == 1 and "`date` differs from the expected value (3 examples)" in text
    # Shared clauses are shown without one failure's values (the 1.5B analysts copied them into rules).
    assert "- (3 of 3) Expected 2021-….\n- (3 of 3) Day and month are swapped: day ….\n" in text
    # A field whose values repeat is a label: its confusions stay apart.
    routed = [
        Trajectory(dspy.Example(t=str(i), queue=q).with_inputs("t"), dspy.Prediction(queue=g), Score(0, 0, "no"))
        for i, (q, g) in enumerate([("billing", "general"), ("billing", "general"), ("shipping", "general")])
    ]
    assert label_fields(routed) == {"queue"}
    assert failure_evidence(routed, [], 10_000, labels={"queue"}).count("## Pattern") == 2


def test_failures_on_values_of_their_own_are_grouped_by_what_the_feedback_says():
    from skillopt_dspy.stages.evidence import failure_groups, label_fields

    def traj(i, why):
        ex = dspy.Example(text=f"text {i}", date=f"2021-04-{i:02d}").with_inputs("text")
        return Trajectory(
            ex, dspy.Prediction(date=f"2021-{i:02d}-04"), Score(0.0, 0.0, f"Expected 2021-04-{i:02d}. {why}")
        )

    swapped = [traj(i, f"Day and month are swapped: day {i}.") for i in (1, 2, 3)]
    formats = [traj(i, "The answer must be YYYY-MM-DD.") for i in (5, 6)]
    odd = [traj(9, "Off by 3 days.")]
    failures = [formats[0], swapped[0], odd[0], swapped[1], formats[1], swapped[2]]
    assert label_fields(failures) == set()
    groups = failure_groups(failures, labels=set())
    assert [len(g) for g in groups.values()] == [3, 2, 1]  # the most shared clause first; the rest together
    assert next(iter(groups))[-1] == ("said", "day and month are swapped: day #.")
    # Minibatches keep each group together, largest first; each group is its own pattern in the evidence.
    first, second = minibatches(failures, 3, seed=0, labels=set())
    assert first[1] == swapped and second[1] == [*formats, *odd]
    assert len(failure_groups([formats[0], *odd], labels=set())) == 1  # two failures: too few to split
    text = failure_evidence(failures, [], budget_chars=10_000, labels=set())
    assert text.count("## Pattern") == 3
    assert "## Pattern 1: `date` differs from the expected value (3 examples)\n\n" in text
    assert "What the feedback says about these failures:\n- (3 of 3) Expected 2021-04-….\n- (3 of 3) Day and" in text
    # A label's confusions are not split by feedback: they already name what went wrong.
    routed = [
        Trajectory(
            dspy.Example(t=str(i), queue="billing").with_inputs("t"), dspy.Prediction(queue="general"), Score(0, 0, why)
        )
        for i, why in enumerate(["A refund.", "A refund.", "An invoice.", "An invoice."])
    ]
    assert len(failure_groups(routed, labels={"queue"})) == 1


def test_an_edit_that_says_one_sentence_three_times_keeps_the_text_before_the_repeat():
    # Two sentences alternating, cut by the schema's length in the middle of a third (the 1.5B date analysts).
    pair = "If the date is not in the format YYYY-MM-DD, return an error message. If it is, return it. "
    looped = ("When the text refers to a calendar date, extract it. " + pair * 4)[:400]
    edit = {"op": "add", "target": "", "content": looped, "rationale": "r"}
    with Runner(1, Usage()) as runner:
        patches = reflect_one(fake_lm(lambda call: {"failure_summary": "s", "edits": [edit]}), runner)
    assert [e.content for e in patches[0].edits] == [
        "When the text refers to a calendar date, extract it. " + pair.strip()
    ]
    # Said twice is no loop, and sentences under 20 characters ("Use ISO.") may repeat.
    twice = "Refunds go to billing. Refunds over 100 go to escalations. Refunds go to billing."
    assert repaired(twice) == twice and repaired("Use ISO. Use ISO. Use ISO.") == "Use ISO. Use ISO. Use ISO."


def test_an_edit_whose_text_loops_keeps_one_copy():
    from skillopt_dspy.stages.aggregate import aggregate

    looped = "Totals are plain numbers: total='183.43', currency='GBP', " + "total='183.43', currency='GBP', " * 20
    edit = {"op": "add", "target": "", "content": looped[:600], "rationale": "r"}
    usage = Usage()
    with Runner(1, usage) as runner:
        patches = reflect_one(fake_lm(lambda call: {"failure_summary": "s", "edits": [edit]}), runner)
        assert [e.content for e in patches[0].edits] == ["Totals are plain numbers: total='183.43', currency='GBP'"]
        other = Patch(edits=[Edit(op="add", content="Dates are ISO.", source="failure")], source="failure")
        merged = aggregate(
            [*patches, other],
            skill="",
            task="",
            edit_budget=2,
            memory="",
            lm=(merger := fake_lm(lambda call: {"edits": [{**edit, "merged_from": [1]}]})),
            runner=runner,
        )
    assert len(engine_of(merger).calls) == 1  # the merge's own looped text is cut too
    assert [e.content for e in merged.edits] == [
        "Totals are plain numbers: total='183.43', currency='GBP'",
        "Dates are ISO.",  # left out by the merger: kept as it was
    ]
    assert usage.faults == {}


def test_a_step_whose_analysts_only_echo_a_rejected_edit_asks_again_without_the_hint(tmp_path):
    from skillopt_dspy.guards import REJECTED_WITHHELD
    from tests.fakes import HARMFUL, WordGroup, target_handler

    rules = rule_reflector()

    def echoing(call):  # a small analyst: proposes a harmful rule, then copies it from the rejected-edit hint
        shown = call.inputs.get("rejected_edits")
        if shown is None or shown == REJECTED_WITHHELD:  # aggregation, slow update, or the hint withheld
            return rules(call)
        return {"failure_summary": "be bold", "edits": [{"op": "add", "target": "Rules", "content": HARMFUL}]}

    reflection = fake_lm(echoing, name="fake/reflect")
    opt = SkillOpt(
        metric=group_metric,
        reflection_lm=reflection,
        batch_size=6,
        epochs=1,
        progress=False,
        use_slow_update=False,
        use_meta_skill=False,
        gate_test="strict",  # three validation words: too few for the paired test
        log_dir=tmp_path,
    )
    with dspy.context(lm=fake_lm(target_handler, name="fake/target")):
        compiled = opt.compile(
            WordGroup(), trainset=ex("apple bird cat ink jar kite".split() * 2), valset=ex("axe bee cup".split())
        )
    first, second = compiled.detailed_results.history[:2]
    assert not first.accepted and not first.retried and [e["content"] for e in first.applied] == [HARMFUL]
    assert second.retried.startswith("the proposals repeated edits rejected this epoch") and second.accepted
    assert HARMFUL in [e["content"] for e in second.proposed] and HARMFUL not in compiled.detailed_results.best_skill
    shown = [c.inputs.get("rejected_edits") for c in engine_of(reflection).calls]
    assert REJECTED_WITHHELD in shown


def test_wrong_answers_copied_from_the_input_are_a_pattern_of_their_own():
    from skillopt_dspy.stages.evidence import copied_from_input, failure_evidence, failure_groups

    def traj(text, expected, got, why="Off by some days."):
        ex = dspy.Example(text=f"Reference date: 2024-03-15 (Friday). Text: {text}", date=expected)
        return Trajectory(ex.with_inputs("text"), dspy.Prediction(date=got), Score(0.0, 0.0, why))

    copies = [traj("on 3 April", "2024-04-03", "2024-03-15"), traj("Jun. 19, '19", "2019-06-19", "2024-03-15")]
    other = [traj("on 5 May", "2024-05-05", "2024-05-06"), traj("next Friday", "2024-03-22", "2024-03-29")]
    # An answer found in the input counts only when the expected one is not there too (extraction copies).
    verbatim = traj("on 2024-04-03", "2024-04-03", "2024-03-15")
    assert [copied_from_input(t) for t in (*copies, other[0], verbatim)] == [(("date", "text"),)] * 2 + [(), ()]
    groups = failure_groups([other[0], copies[0], other[1], copies[1]], labels=set())
    assert list(groups.values()) == [copies, other]
    text = failure_evidence([other[0], copies[0], other[1], copies[1]], [], budget_chars=10_000, labels=set())
    assert (
        "## Pattern 1: `date` differs from the expected value; the wrong `date` is text copied word for word "
        "from the input `text` (2 examples)" in text
    )
    assert "the program answered `date` with text it found in the input `text` instead of the value" in text
    assert text.count("text it found in the input") == 1  # said once, for the copies' pattern only
    # One copy alone is no pattern: it stays with the other failures.
    assert len(failure_groups([copies[0], *other], labels=set())) == 1


def test_each_failure_minibatch_is_analysed_reflection_samples_times_and_support_adds_up():
    from skillopt_dspy.stages.aggregate import aggregate

    def handler(call):
        if "proposals" in call.inputs:  # aggregate: keep each proposal
            return rule_reflector()(call)
        # The greedy analysis and the first sampled one agree; the second sampled one words another rule.
        sampled = call.temperature is not None
        rule = "When the word starts with 'a', the group is alpha."
        if sampled and call.seed == 2:
            rule = "When the word names a fruit, the group is alpha."
        return {"failure_summary": "apple", "edits": [{"op": "add", "target": "Rules", "content": rule}]}

    lm = fake_lm(handler, name="fake/reflect")
    lm.engine.supported_params = frozenset({*lm.engine.supported_params, "seed"})  # as the embedded LM's
    trajs = [traj("apple", "alpha", "beta"), traj("axe", "alpha", "beta"), traj("rock", "gamma", "gamma")]
    with Runner(1, Usage()) as runner:
        patches = reflect_one(lm, runner, trajectories=trajs, samples=3, temperature=0.7, seed=0)
        calls = list(engine_of(lm).calls)
        merged = aggregate(patches, skill="", edit_budget=2, memory="", lm=lm, runner=runner)
    failure_calls = [c for c in calls if "got wrong" in c.system]
    success_calls = [c for c in calls if "got wrong" not in c.system]
    # Three analyses of the one failure minibatch: greedy, then two sampled with seeds of their own.
    assert [(c.temperature, c.seed) for c in failure_calls] == [(None, None), (0.7, 1), (0.7, 2)]
    assert [(c.temperature, c.seed) for c in success_calls] == [(None, None)]  # successes: analysed once
    assert [p.source for p in patches] == ["failure"] * 3 + ["success"]
    support = {e.content: e.support for e in merged.edits}
    assert support["When the word starts with 'a', the group is alpha."] >= 2
    assert support["When the word names a fruit, the group is alpha."] == 1


def test_reflection_samples_reach_the_analysts_and_are_checked():
    import pytest

    for bad in ({"reflection_samples": 0}, {"reflection_temperature": 2.5}, {"reflection_temperature": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SkillOpt(metric=group_metric, **bad)
    counts = {}
    for n in (1, 2):
        reflection = fake_lm(rule_reflector(), name="fake/reflect")
        opt = SkillOpt(
            metric=group_metric, reflection_lm=reflection, batch_size=6, epochs=1, progress=False, reflection_samples=n
        )
        with dspy.context(lm=fake_lm(two_step_target, name="fake/target")):  # answers alpha without a rule
            opt.compile(TwoStep(), trainset=ex("apple axe sun ink".split()), valset=ex("ant rock".split()))
        failure_calls = [c for c in engine_of(reflection).calls if "got wrong" in c.system]
        counts[n] = (len(failure_calls), sorted({c.temperature for c in failure_calls}, key=str))
    assert counts[2][0] == 2 * counts[1][0] > 0
    assert counts[1][1] == [None] and counts[2][1] == [0.8, None]
