"""Score a skill on a split: accuracy, soft score, latency, LM calls and tokens, counted as in training.

Example:
    >>> report = evaluate_skill(program, examples, skill="", metric=metric, lm=lm)  # doctest: +SKIP
    >>> report["accuracy"]  # doctest: +SKIP
    0.42
"""

from __future__ import annotations

import time
from typing import Any

import dspy

from skillopt_dspy.budget import Usage
from skillopt_dspy.parallel import Runner
from skillopt_dspy.scoring import Metric, gate_value
from skillopt_dspy.skill import apply_skill
from skillopt_dspy.stages.rollout import rollout


def evaluate_skill(
    program: dspy.Module,
    examples: list[dspy.Example],
    *,
    skill: str | None,
    metric: Metric,
    lm: dspy.BaseLM | None,
    adapter: dspy.Adapter | None = None,
    num_threads: int = 8,
    pass_threshold: float = 1.0,
    predictors: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``program`` with ``skill`` on ``examples`` (the student is not modified) and summarize.

    ``skill=None`` evaluates the program exactly as it is (with whatever skill or instructions it has);
    ``skill=""`` evaluates it without any skill.
    """
    candidate = program.deepcopy() if skill is None else apply_skill(program.deepcopy(), skill, predictors)
    usage = Usage()
    overrides = {"adapter": adapter} if adapter is not None else {}
    with dspy.context(**overrides), Runner(num_threads, usage) as runner:
        start = time.perf_counter()
        trajectories = rollout(candidate, examples, metric=metric, runner=runner, lm=lm, pass_threshold=pass_threshold)
        wall = time.perf_counter() - start
    scores = [t.score for t in trajectories]
    snap = usage.snapshot()
    return {
        "examples": len(examples),
        "accuracy": gate_value(scores, "hard"),
        "soft_score": gate_value(scores, "soft"),
        "latency_per_example_s": wall / max(1, len(examples)),
        "wall_time_s": wall,
        "lm_calls": sum(snap["lm_calls"].values()),
        "tokens": sum(snap["tokens"].values()),
        "faults": snap["faults"],
        "hard_scores": [t.score.hard for t in trajectories],  # per example, in order: for paired comparisons
        "soft_scores": [t.score.soft for t in trajectories],
    }
