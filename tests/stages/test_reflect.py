import dspy

from skillopt_dspy.budget import Usage
from skillopt_dspy.edits import Edit
from skillopt_dspy.parallel import Runner
from skillopt_dspy.scoring import Score
from skillopt_dspy.stages.reflect import format_trajectories, minibatches, reflect
from skillopt_dspy.stages.rollout import Trajectory
from tests.fakes import engine_of, fake_lm, rule_reflector


def traj(word, group, ok, feedback=""):
    ex = dspy.Example(word=word, group=group).with_inputs("word")
    pred = dspy.Prediction(group=group if ok else "unknown")
    return Trajectory(ex, pred, Score(float(ok), float(ok), feedback))


def test_failures_first_in_minibatches_then_one_success_batch():
    trajs = [traj(f"w{i}", "alpha", ok=i % 3 == 0) for i in range(12)]
    batches = minibatches(trajs, 3, seed=0)
    assert [s for s, _ in batches] == ["failure"] * 3 + ["success"]
    assert all(len(b) <= 3 for _, b in batches)
    assert sum(len(b) for s, b in batches if s == "failure") == 8


def test_format_shows_inputs_output_expected_and_feedback():
    text = format_trajectories([traj("apple", "alpha", ok=False, feedback="expected alpha")])
    assert "FAILED" in text and "word: apple" in text and "group: unknown" in text
    assert "Expected:\n  group: alpha" in text and "Feedback: expected alpha" in text


def test_reflect_proposes_patches_and_shows_rejected_edits():
    lm = fake_lm(rule_reflector())
    usage = Usage()
    trajs = [traj("apple", "alpha", False), traj("queen", "gamma", False), traj("igloo", "beta", True)]
    rejected = [Edit(op="add", content="- Always answer gamma.")]
    with Runner(2, usage) as runner:
        patches = reflect(
            trajs, skill="", edit_budget=4, rejected=rejected, memory="", lm=lm, runner=runner, minibatch_size=8
        )
    sources = sorted(p.source for p in patches)
    assert sources == ["failure", "success"]
    failure = next(p for p in patches if p.source == "failure")
    assert [e.content for e in failure.edits] == [
        '- Words starting with "a" are alpha.',
        '- Words starting with "q" are gamma.',
    ]
    assert all(e.source == "failure" for e in failure.edits)
    assert usage.lm_calls == {"reflection": 2}
    assert all("Always answer gamma" in c.inputs["rejected_edits"] for c in engine_of(lm).calls)


def test_a_failed_reflection_is_counted_and_the_step_goes_on():
    lm = fake_lm(lambda call: "not json at all {")
    usage = Usage()
    errors = []
    with Runner(1, usage) as runner:
        patches = reflect(
            [traj("apple", "alpha", False)],
            skill="",
            edit_budget=2,
            rejected=[],
            memory="",
            lm=lm,
            runner=runner,
            minibatch_size=4,
            errors=errors,
        )
    assert patches == []
    assert usage.faults == {"reflect_error": 1}
    assert errors and "failure reflection failed" in errors[0]
