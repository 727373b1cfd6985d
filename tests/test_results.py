"""detailed_results in GEPA's shape: every candidate with its scores and parent, best_idx, to_dict round trip."""

import json

import dspy
import pytest

from skillopt_dspy import SkillOpt, SkillOptResult, apply_skill
from skillopt_dspy.candidates import gepa_fields
from skillopt_dspy.scoring import Score
from skillopt_dspy.skill import skill_hash
from tests.fakes import HARMFUL, WordGroup, fake_lm, group_metric, rule_reflector, target_handler, word_examples

TRAIN = word_examples("apple ant bird bat cat cow ink ivy jar jet kite kelp queen quill rain rock sun sea".split())
VAL = word_examples("axe bee cup inn jam key quiz rope star".split())


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    target = fake_lm(target_handler, name="fake/target")
    reflection = fake_lm(rule_reflector(harmful_once=True), name="fake/reflect")
    log_dir = tmp_path_factory.mktemp("run")
    with dspy.context(lm=target):
        opt = SkillOpt(
            metric=group_metric,
            reflection_lm=reflection,
            batch_size=9,
            epochs=3,
            learning_rate=9,
            num_threads=4,
            seed=0,
            log_dir=log_dir,
            progress=False,
            batch_check=False,  # the harmful candidate reaches validation and is listed (what is tested)
        )
        return opt.compile(WordGroup(), trainset=TRAIN, valset=VAL)


def test_every_validated_candidate_is_listed_with_its_scores_and_parent(compiled):
    res = compiled.detailed_results
    assert res.candidates[0] == res.initial_skill
    assert res.parents[0] == (None,)
    assert res.candidate_info[0]["source"] == "initial"
    # One candidate per step that had one, plus the gated slow updates.
    steps_with_candidate = [s for s in res.history if s.gate is not None]
    slow = [e for e in res.epochs if e.slow_update and e.slow_update.get("gate")]
    assert len(res.candidates) == 1 + len(steps_with_candidate) + len(slow)
    for s in steps_with_candidate:
        info = res.candidate_info[s.candidate]
        assert (info["source"], info["step"], info["accepted"]) == ("step", s.step, s.accepted)
        # On the examples it was scored on (all of them, unless racing stopped it early).
        assert len(res.val_subscores[s.candidate]) == s.gate["evaluated"]
        assert res.val_aggregate_scores[s.candidate] == pytest.approx(s.gate["candidate_score"] or 0.0)
        # The parent is the skill the step started from: its score is the gate's incumbent score.
        (parent,) = res.parents[s.candidate]
        assert res.val_aggregate_scores[parent] == pytest.approx(s.gate["incumbent_score"])
    # The harmful candidate is there although rejected; accepted ones are scored on every validation example.
    harmful = [i for i, text in enumerate(res.candidates) if HARMFUL in text]
    assert harmful and all(res.candidate_info[i]["accepted"] is False for i in harmful)
    assert all(len(sub) == len(VAL) for sub, info in zip(res.val_subscores, res.candidate_info) if info["accepted"])
    gates = [s.gate for s in steps_with_candidate] + [e.slow_update["gate"] for e in slow]
    assert res.num_full_val_evals == 1 + sum(not g["stopped_early"] for g in gates)
    counts = list(res.discovery_eval_counts)
    assert counts == sorted(counts) and counts[-1] <= res.total_metric_calls == res.metric_calls


def test_best_candidate_is_the_returned_skill(compiled):
    res = compiled.detailed_results
    assert res.best_candidate == compiled.skill == res.best_skill
    assert res.val_aggregate_scores[res.best_idx] == res.best_val_score == max(res.val_aggregate_scores)
    assert res.seed == 0 and res.log_dir is not None and res.valset_size == len(VAL)
    rebuilt = apply_skill(WordGroup(), res.best_candidate)
    assert rebuilt.predict.signature.instructions == compiled.predict.signature.instructions


def test_to_dict_round_trips_through_json(compiled):
    res = compiled.detailed_results
    data = res.to_dict()
    text = json.dumps(data)
    assert json.loads(text) == data
    assert SkillOptResult.from_dict(json.loads(text)) == res
    # GEPA's derived names are in the dict, like DspyGEPAResult.to_dict().
    assert data["best_idx"] == res.best_idx and data["total_metric_calls"] == res.metric_calls
    assert data["val_subscores"][0] == list(res.val_subscores[0])


def test_a_candidate_stopped_early_keeps_its_partial_scores():
    cands = [
        {"skill": "", "parent": None, "source": "initial", "epoch": None, "step": None, "accepted": True},
        {"skill": "- x.", "parent": 0, "source": "step", "epoch": 0, "step": 0, "accepted": False},
    ]
    for c in cands:
        c["metric_calls"] = 3
    scores = {skill_hash(""): [Score(1, 1), Score(1, 1), Score(0, 0.5)], skill_hash("- x."): [Score(0, 0.2)]}
    fields = gepa_fields(cands, scores, mode="mixed", mixed_weight=0.5)
    assert fields["val_subscores"] == ((1.0, 1.0, 0.25), (0.1,))
    assert fields["val_aggregate_scores"] == pytest.approx((0.75, 0.1))
    res = SkillOptResult(
        initial_skill="",
        best_skill="",
        baseline_val_score=0.75,
        best_val_score=0.75,
        gate="mixed",
        history=(),
        epochs=(),
        lm_calls={},
        tokens={},
        metric_calls=4,
        faults={},
        stop_reason="completed all epochs",
        wall_time_s=0.0,
        valset_size=3,
        **fields,
    )
    assert res.num_full_val_evals == 1 and res.best_idx == 0
