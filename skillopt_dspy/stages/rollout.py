"""Rollout: run the program with a skill on a batch, in parallel, and score every prediction.

A program exception becomes a failed trajectory with the error in it and is counted; an output the adapter
could not parse is a failure the skill may fix (counted as ``parse_error``); a metric that raises or returns
a non-score is counted as ``metric_error`` and scored as a failure. Never a silent zero.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import dspy
import pydantic
from dspy.utils.exceptions import AdapterParseError, LMAuthError, LMBillingError, LMConfigurationError

from skillopt_dspy.budget import example_calls
from skillopt_dspy.parallel import Runner
from skillopt_dspy.scoring import Metric, MetricError, Score, normalize_score
from skillopt_dspy.state import EvalStore, example_key

logger = logging.getLogger(__name__)

# Errors no retry or skill can fix: stop the run at once with DSPy's own message.
FATAL_ERRORS = (LMAuthError, LMBillingError, LMConfigurationError)


class TooManyErrorsError(RuntimeError):
    """One evaluation failed systematically: more than ``max_errors`` program errors, or every example."""


@dataclass
class Trajectory:
    """One example run through the program: prediction, score, DSPy trace, and error (if any)."""

    example: dspy.Example
    prediction: Any
    score: Score
    trace: list = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None  # "program" | "parse" | "metric"
    steps: list[dict] = field(default_factory=list)  # each predictor call: {"predictor", "inputs", "outputs"}

    @property
    def failed(self) -> bool:
        return self.score.hard < 1.0


def answer(t: Trajectory) -> tuple:
    """What ``t``'s program answered, for telling whether two runs of one example answered alike: the
    prediction's values of the example's label fields (all its fields but a ChainOfThought's ``reasoning``,
    when it has none of them), or the error. Pure.

    Example:
        >>> ex = dspy.Example(text="on 3/4", date="2021-04-03").with_inputs("text")
        >>> a = Trajectory(ex, dspy.Prediction(reasoning="day first", date="2021-04-03"), Score(1.0, 1.0))
        >>> b = Trajectory(ex, dspy.Prediction(reasoning="it is day first", date="2021-04-03"), Score(1.0, 1.0))
        >>> answer(a) == answer(b), answer(a)
        (True, (('date', '2021-04-03'),))
    """
    if t.prediction is None:
        return (("error", t.error),)
    values = prediction_fields(t.prediction)
    keys = [k for k in t.example.labels() if k in values] or [k for k in values if k != "reasoning"]
    return tuple((k, str(values[k])) for k in sorted(keys))


def trace_steps(program: dspy.Module, trace: list) -> list[dict]:
    """DSPy's trace as one ``{"predictor", "inputs", "outputs"}`` dict per predictor call, in call order."""
    names = {id(p): n for n, p in program.named_predictors()}
    steps = []
    for entry in trace:
        try:
            predictor, inputs, outputs = entry
        except (TypeError, ValueError):
            continue
        name = names.get(id(predictor), type(predictor).__name__)
        steps.append({"predictor": name, "inputs": dict(inputs), "outputs": prediction_fields(outputs)})
    return steps


class ErrorLimit:
    """Tells a systematic failure from failed examples, within one evaluation (one rollout call).

    A program error is a failed example: scored as a failure, counted, shown to Reflect. An evaluation with
    more than ``max_errors`` of them, or one where every example (two or more) raised, is systematic (the
    LM is down, the program is broken) and stops the run. Counting per evaluation, not over the run, keeps a
    single example that always raises (a context overflow, say) from stopping a long run.
    """

    def __init__(self, max_errors: int) -> None:
        self.max_errors = max_errors

    def check(self, errors: list[str], n_examples: int) -> None:
        """Raise :class:`TooManyErrorsError` when ``errors`` among ``n_examples`` are systematic."""
        n = len(errors)
        if n > self.max_errors:
            why = f"{n} of {n_examples} examples of one evaluation raised (more than max_errors={self.max_errors})"
        elif n == n_examples and n >= 2:
            why = f"every one of the {n} examples of one evaluation raised"
        else:
            return
        raise TooManyErrorsError(
            f"{why}; last error: {errors[-1]}. Fix the program or the LM (or raise max_errors), then compile "
            "again with the same log_dir to continue."
        )


def _run_one(program: dspy.Module, example: dspy.Example, metric: Metric, pass_threshold: float, usage) -> Trajectory:
    with dspy.context(trace=[]), example_calls() as calls:
        try:
            prediction = program(**example.inputs())
            error, kind = None, None
        except FATAL_ERRORS:
            raise
        except AdapterParseError as exc:
            prediction, error, kind = None, f"{type(exc).__name__}: {exc}", "parse"
        except Exception as exc:
            prediction, error, kind = None, f"{type(exc).__name__}: {exc}", "program"
        trace = list(dspy.settings.trace or [])
    usage.count_example(calls[0])  # LM calls per example: the budget look-ahead of multi-call programs
    steps = trace_steps(program, trace)
    if error is not None:
        short = error if len(error) < 300 else error[:300] + "…"
        return Trajectory(example, None, Score(0.0, 0.0, f"The program failed: {short}"), trace, error, kind, steps)
    try:
        usage.count_metric_call()
        score = normalize_score(metric(example, prediction), pass_threshold)
    except Exception as exc:  # a metric bug must not look like a model failure: counted and reported
        msg = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, MetricError):
            msg = f"the metric raised {msg}"
        return Trajectory(example, prediction, Score(0.0, 0.0, f"Metric error: {msg}"), trace, msg, "metric", steps)
    return Trajectory(example, prediction, score, trace, steps=steps)


def prediction_fields(value: Any) -> dict[str, Any]:
    """The named values of whatever a program's ``forward`` returned, for prompts and records.

    A ``dspy.Prediction`` (or ``dspy.Example``) gives its fields without private ``_`` keys, a dict itself,
    a pydantic model its ``model_dump()``, a dataclass ``asdict``; anything else is ``{"output": value}``.

    Example:
        >>> prediction_fields(dspy.Prediction(answer="42"))
        {'answer': '42'}
        >>> prediction_fields("42")
        {'output': '42'}
    """
    if isinstance(value, dspy.Example):  # dspy.Prediction is an Example
        return {k: v for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, dict):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return {"output": value}


def _json_safe(fields: dict[str, Any]) -> dict[str, Any]:
    # evals.jsonl must load back the same on resume: values JSON cannot hold are kept as their text.
    return json.loads(json.dumps({str(k): v for k, v in fields.items()}, default=str))


def _to_record(skill_key: str, example_key: str, t: Trajectory) -> dict:
    prediction = None if t.prediction is None else _json_safe(prediction_fields(t.prediction))
    return {
        "skill": skill_key,
        "example": example_key,
        "prediction": prediction,
        "score": t.score.to_dict(),
        "error": t.error,
        "error_kind": t.error_kind,
        "steps": t.steps,
    }


def _from_record(example: dspy.Example, rec: dict) -> Trajectory:
    prediction = None if rec["prediction"] is None else dspy.Prediction(**rec["prediction"])
    steps = rec.get("steps") or []
    return Trajectory(example, prediction, Score(**rec["score"]), [], rec["error"], rec["error_kind"], steps)


def rollout(
    program: dspy.Module,
    examples: list[dspy.Example],
    *,
    metric: Metric,
    runner: Runner,
    lm: dspy.BaseLM | None,
    pass_threshold: float = 1.0,
    error_limit: ErrorLimit | None = None,
    store: EvalStore | None = None,
    skill_key: str = "",
) -> list[Trajectory]:
    """Run ``program`` on ``examples`` in parallel under ``lm``; one :class:`Trajectory` per example, in order.

    With a ``store``, an example already evaluated with the skill ``skill_key`` is read back, not re-run,
    and every new evaluation is recorded as it finishes.

    Example:
        >>> trajs = rollout(prog, batch, metric=metric, runner=runner, lm=lm)  # doctest: +SKIP
        >>> sum(t.score.hard for t in trajs) / len(trajs)  # doctest: +SKIP
        0.75
    """
    usage = runner.usage

    def one(example: dspy.Example) -> Trajectory:
        if store is None:
            return _run_one(program, example, metric, pass_threshold, usage)
        key = example_key(example)
        rec = store.get(skill_key, key)
        if rec is not None:
            return _from_record(example, rec)
        traj = _run_one(program, example, metric, pass_threshold, usage)
        store.add(_to_record(skill_key, key, traj))
        return traj

    trajectories = runner.map(one, examples, role_name="target", lm=lm)
    kinds = [t.error_kind for t in trajectories if t.error_kind]
    for kind in ("program", "parse", "metric"):
        if kinds.count(kind):
            usage.count_fault(f"{kind}_error", kinds.count(kind))
    program_errors = [t.error for t in trajectories if t.error_kind == "program"]
    if program_errors:
        logger.warning("%d program error(s) in this rollout; first: %s", len(program_errors), program_errors[0])
        if error_limit is not None:
            try:
                error_limit.check(program_errors, len(trajectories))
            except TooManyErrorsError:
                if store is not None:  # a systematic failure is not this skill's result: a rerun retries it
                    store.discard(skill_key, [example_key(t.example) for t in trajectories if t.error_kind])
                raise
    metric_errors = [t.error for t in trajectories if t.error_kind == "metric"]
    if metric_errors:
        logger.warning("%d metric error(s) scored as failures; first: %s", len(metric_errors), metric_errors[0])
    return trajectories
