"""``SkillOpt``: the DSPy optimizer. Knobs, input checks (all before any LM call), and ``compile``."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dspy
from dspy.teleprompt.teleprompt import Teleprompter
from dspy.utils.callback import BaseCallback

from skillopt_dspy.budget import Budget
from skillopt_dspy.events import SkillOptCallback
from skillopt_dspy.report import check_report_dependencies, write_report
from skillopt_dspy.schedule import SCHEDULERS
from skillopt_dspy.scoring import GATE_MODES, Metric, check_metric
from skillopt_dspy.skill import SKILL_BEGIN, SKILL_END, _select_predictors, apply_skill, extract_skill, normalize_skill
from skillopt_dspy.stages.examples import EXAMPLE_SOURCES
from skillopt_dspy.stages.gate import GATE_TESTS
from skillopt_dspy.trainer import Trainer, TrainSettings

logger = logging.getLogger(__name__)

VAL_FRACTION = 0.25


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _optional_limit(name: str, value: Any) -> int | None:
    return None if value is None else _positive_int(name, value)


def _check_examples(name: str, examples: Any) -> list[dspy.Example]:
    if examples is None or not isinstance(examples, Sequence) or isinstance(examples, (str, bytes)):
        raise TypeError(f"{name} must be a list of dspy.Example, got {type(examples).__name__}")
    if len(examples) == 0:
        raise ValueError(f"{name} is empty: pass at least one dspy.Example")
    for i, ex in enumerate(examples):
        if not isinstance(ex, dspy.Example):
            raise TypeError(f"{name}[{i}] is a {type(ex).__name__}, not a dspy.Example")
        if not ex._input_keys:
            raise ValueError(
                f"{name}[{i}] has no input fields set: build it as dspy.Example(...).with_inputs('field', ...)"
            )
    return list(examples)


def _read_text_or_path(name: str, value: str | Path | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Path) or (isinstance(value, str) and "\n" not in value and value.endswith(".md")):
        path = Path(value)
        if not path.is_file():
            raise ValueError(f"{name} names the file {str(path)!r}, which does not exist")
        return path.read_text(encoding="utf-8")
    if not isinstance(value, str):
        raise TypeError(f"{name} must be the skill text or a path to a .md file, got {type(value).__name__}")
    return value


def _check_gate_test(test: Any, alpha: Any, racing: Any, metric_range: Any) -> tuple[float, float]:
    """Validate the gate's test knobs; returns ``metric_range`` as a ``(low, high)`` tuple of floats."""
    if test not in GATE_TESTS:
        raise ValueError(f"gate_test must be one of {GATE_TESTS}, got {test!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 0.5:
        raise ValueError(f"gate_alpha must be a number in (0, 0.5], e.g. 0.05, got {alpha!r}")
    if not isinstance(racing, bool):
        raise TypeError(f"racing must be True or False, got {racing!r}")
    numbers = isinstance(metric_range, Sequence) and not isinstance(metric_range, str)
    numbers = numbers and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in metric_range)
    if not numbers or len(metric_range) != 2 or not metric_range[0] < metric_range[1]:
        raise ValueError(f"metric_range must be (low, high) with low < high, e.g. (0.0, 1.0), got {metric_range!r}")
    return float(metric_range[0]), float(metric_range[1])


class SkillOpt(Teleprompter):
    """Train a Markdown skill for a DSPy program (SkillOpt, arXiv 2605.23904).

    Each step rolls the program out on a training batch, has the reflection LM propose edits to the
    skill from failures and successes, merges and ranks them, applies at most ``learning_rate`` of them,
    and keeps the new skill only if it beats the current one on the validation set (by a paired test).

    Args:
        metric: ``(example, prediction, trace=None) -> bool | float | dspy.Prediction(score=, feedback=)``.
        reflection_lm: the optimizer model; default the program's LM.
        gate: ``"hard"`` (pass rate), ``"soft"`` (mean score) or ``"mixed"``; ``mixed_weight`` weighs soft.
        gate_test: ``"paired"`` (default) accepts a candidate whose validation score is higher and
            significantly so, by a one-sided paired test on the same examples at level ``gate_alpha``
            (default 0.1; exact sign/McNemar test on hard outcomes, seeded sign-flip test on soft or mixed
            scores); ``"strict"`` accepts any strictly higher score (SkillOpt's rule).
        racing: score candidates on the valset in chunks and stop once one can no longer win (exact:
            the same decisions, fewer calls). ``metric_range`` bounds a soft score (default ``(0, 1)``);
            a score outside it switches racing off with a warning.
        batch_check: before the validation set, score a candidate on its own step's training batch (the
            examples its edits were written from) and validate it only if it does strictly better there than
            the current skill did (GEPA's minibatch check): a candidate that fixes none of the failures it
            was written for costs ``batch_size`` metric calls instead of a validation run.
        carry_ahead: a candidate that did better on its batch and was ahead of the current skill on validation
            (estimated on the examples racing scored), but not significantly, becomes the base the epoch's later
            steps build on: their edits are added to it, and each such candidate is gated against the accepted
            skill as any other. Small gains that one 60-example gate cannot tell from noise can then add up to
            one it can. The run's skill only ever changes through the gate.
        worked_examples: examples of a step's batch, with their expected answers, added to its candidate as
            worked examples (default 0: none; which ones: ``worked_examples_from``), in the skill's protected
            ``worked-examples`` region; they do not count against ``learning_rate``, and the skill holds at most
            ``max_worked_examples`` (default 8). The gate judges them with the step's edits; the batch check
            leaves the examples shown out. Examples with inputs over 600 characters are not shown.
        worked_examples_from: ``"batch"`` (default): the batch in its random order, passes and failures alike,
            as a few-shot demo set is drawn; ``"failures"``: the batch's failures, one per failure group,
            largest first.
        pass_threshold: a float score at or above this counts as a hard pass.
        learning_rate: the edit budget, i.e. most edits applied per step; ``lr_scheduler`` decays it
            (``"constant"``, ``"linear"``, ``"cosine"``) towards ``min_learning_rate``.
        batch_size, epochs, minibatch_size: training batch per step, passes over the trainset, and
            trajectories per reflection call.
        reflection_samples: analyses of each minibatch of failures (default 1). The first runs at the
            reflection LM's own settings, the others are sampled at ``reflection_temperature`` (default 0.8);
            each is its own proposal, so a rule several of them write gets their combined support. More
            differently worded fixes per step for the batch check to try, for that many more reflection calls.
        num_threads: one thread budget for rollouts, reflection and validation.
        seed: shuffling and sampling seed (0 is a seed like any other).
        log_dir: run directory: checkpoint after every step, every skill version, history; compiling
            again with the same ``log_dir`` resumes.
        initial_skill: skill text or path to a ``.md`` file to start from (default: empty).
        predictors: names of the predictors that get the skill (default: all).
        max_errors: program exceptions tolerated within one evaluation (default DSPy's); more, or every example
            of one evaluation raising, is a systematic failure: the run stops and returns what it accepted.
        use_slow_update, slow_update_samples, use_meta_skill, meta_skill: epoch-level mechanisms.
        max_lm_calls, max_metric_calls, max_tokens: budgets (ceilings): the run stops at a step boundary
            before a step whose most possible cost would cross one; compiling again with the same ``log_dir``
            and a larger budget continues the run.
        callbacks: :class:`~skillopt_dspy.SkillOptCallback` objects that receive step and epoch events.

    Example:
        >>> optimizer = SkillOpt(metric=my_metric, learning_rate=4, batch_size=16)  # doctest: +SKIP
        >>> compiled = optimizer.compile(program, trainset=train, valset=val)  # doctest: +SKIP
        >>> print(compiled.skill)  # doctest: +SKIP
    """

    def __init__(
        self,
        metric: Metric,
        *,
        reflection_lm: dspy.BaseLM | None = None,
        gate: str = "hard",
        mixed_weight: float = 0.5,
        gate_test: str = "paired",
        gate_alpha: float = 0.1,
        racing: bool = True,
        batch_check: bool = True,
        carry_ahead: bool = True,
        worked_examples: int = 0,
        max_worked_examples: int = 8,
        worked_examples_from: str = "batch",
        metric_range: Sequence[float] = (0.0, 1.0),
        pass_threshold: float = 1.0,
        learning_rate: int = 4,
        lr_scheduler: str = "constant",
        min_learning_rate: int = 1,
        batch_size: int = 16,
        epochs: int = 2,
        minibatch_size: int = 8,
        num_threads: int = 8,
        seed: int = 0,
        log_dir: str | Path | None = None,
        initial_skill: str | Path | None = None,
        predictors: Sequence[str] | str | None = None,
        max_errors: int | None = None,
        aggregate_fan_in: int = 4,
        contrast_examples: int = 0,
        reflection_samples: int = 1,
        reflection_temperature: float = 0.8,
        use_slow_update: bool = True,
        slow_update_samples: int = 8,
        use_meta_skill: bool = True,
        meta_skill: str | Path | None = None,
        max_lm_calls: int | None = None,
        max_metric_calls: int | None = None,
        max_tokens: int | None = None,
        callbacks: Sequence[SkillOptCallback | BaseCallback] | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__()
        check_metric(metric)
        if gate not in GATE_MODES:
            raise ValueError(f"gate must be one of {GATE_MODES}, got {gate!r}")
        if isinstance(mixed_weight, bool) or not isinstance(mixed_weight, (int, float)) or not 0 <= mixed_weight <= 1:
            raise ValueError(f"mixed_weight must be a number in [0, 1], got {mixed_weight!r}")
        metric_range = _check_gate_test(gate_test, gate_alpha, racing, metric_range)
        for name, flag in (("batch_check", batch_check), ("carry_ahead", carry_ahead)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if lr_scheduler not in SCHEDULERS:
            raise ValueError(f"lr_scheduler must be one of {SCHEDULERS}, got {lr_scheduler!r}")
        _positive_int("learning_rate", learning_rate)
        _positive_int("min_learning_rate", min_learning_rate)
        if min_learning_rate > learning_rate:
            raise ValueError(f"min_learning_rate ({min_learning_rate}) must not exceed learning_rate ({learning_rate})")
        for name, value in (("batch_size", batch_size), ("epochs", epochs), ("minibatch_size", minibatch_size)):
            _positive_int(name, value)
        _positive_int("num_threads", num_threads)
        _positive_int("aggregate_fan_in", aggregate_fan_in, minimum=2)
        _positive_int("contrast_examples", contrast_examples, minimum=0)
        _positive_int("worked_examples", worked_examples, minimum=0)
        _positive_int("max_worked_examples", max_worked_examples, minimum=0)
        if worked_examples_from not in EXAMPLE_SOURCES:
            raise ValueError(f"worked_examples_from must be one of {EXAMPLE_SOURCES}, got {worked_examples_from!r}")
        _positive_int("reflection_samples", reflection_samples)
        if (
            isinstance(reflection_temperature, bool)
            or not isinstance(reflection_temperature, (int, float))
            or not 0 <= reflection_temperature <= 2
        ):
            raise ValueError(f"reflection_temperature must be a number in [0, 2], got {reflection_temperature!r}")
        _positive_int("slow_update_samples", slow_update_samples)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if not isinstance(pass_threshold, (int, float)) or isinstance(pass_threshold, bool):
            raise TypeError(f"pass_threshold must be a number, got {pass_threshold!r}")
        if reflection_lm is not None and not isinstance(reflection_lm, dspy.BaseLM):
            raise TypeError(f"reflection_lm must be a dspy.LM, got {type(reflection_lm).__name__}")
        if max_errors is None:
            max_errors = dspy.settings.max_errors
        _positive_int("max_errors", max_errors, minimum=0)
        self.metric = metric
        self.reflection_lm = reflection_lm
        self.log_dir = log_dir
        self.initial_skill = _read_text_or_path("initial_skill", initial_skill)
        self.meta_skill = _read_text_or_path("meta_skill", meta_skill)
        if SKILL_BEGIN in self.initial_skill or SKILL_END in self.initial_skill:
            raise ValueError("initial_skill contains the skill block markers: pass the skill text only")
        self.predictors = [predictors] if isinstance(predictors, str) else list(predictors) if predictors else None
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, BaseCallback):
                raise TypeError(
                    f"callbacks: {cb!r} is not a SkillOptCallback; subclass skillopt_dspy.SkillOptCallback "
                    "(or pass a dspy.utils.callback.BaseCallback for DSPy's compile events)"
                )
        self.settings = TrainSettings(
            gate=gate,
            mixed_weight=float(mixed_weight),
            gate_test=gate_test,
            gate_alpha=float(gate_alpha),
            racing=racing,
            batch_check=batch_check,
            carry_ahead=carry_ahead,
            worked_examples=worked_examples,
            max_worked_examples=max_worked_examples,
            worked_examples_from=worked_examples_from,
            metric_range=metric_range,
            pass_threshold=float(pass_threshold),
            learning_rate=learning_rate,
            min_learning_rate=min_learning_rate,
            lr_scheduler=lr_scheduler,
            batch_size=batch_size,
            epochs=epochs,
            minibatch_size=minibatch_size,
            num_threads=num_threads,
            seed=seed,
            max_errors=max_errors,
            aggregate_fan_in=aggregate_fan_in,
            contrast_examples=contrast_examples,
            reflection_samples=reflection_samples,
            reflection_temperature=float(reflection_temperature),
            use_slow_update=bool(use_slow_update),
            slow_update_samples=slow_update_samples,
            use_meta_skill=bool(use_meta_skill),
            budget=Budget(
                _optional_limit("max_lm_calls", max_lm_calls),
                _optional_limit("max_metric_calls", max_metric_calls),
                _optional_limit("max_tokens", max_tokens),
            ),
            progress=progress,
        )

    def _resolve_lms(self, student: dspy.Module) -> tuple[dspy.BaseLM | None, dspy.BaseLM]:
        own = [p.lm for _, p in student.named_predictors() if p.lm is not None]
        target = dspy.settings.lm
        if target is None and len(own) < len(student.named_predictors()):
            raise ValueError(
                "no LM for the program: configure one (dspy.configure(lm=...) or dspy.context(lm=...)) or set "
                "one on every predictor with program.set_lm(lm)"
            )
        reflection = self.reflection_lm or target or own[0]
        return target, reflection

    def compile(
        self,
        student: dspy.Module,
        *,
        trainset: list[dspy.Example],
        teacher: dspy.Module | None = None,
        valset: list[dspy.Example] | None = None,
        restart: bool = False,
        report: bool = False,
    ) -> dspy.Module:
        """Train a skill for ``student`` and return an improved deep copy (``student`` is never mutated).

        The returned program has ``.skill`` (the trained Markdown) and ``.detailed_results``
        (:class:`~skillopt_dspy.SkillOptResult`). ``teacher`` is accepted for API compatibility and unused.
        ``restart=True`` ignores a saved run in ``log_dir``. ``report=True`` writes ``log_dir/report.html``
        at the end (:mod:`skillopt_dspy.report`); its path is ``detailed_results.report_path``.
        """
        if not isinstance(student, dspy.Module):
            raise TypeError(f"student must be a dspy.Module, got {type(student).__name__}")
        _select_predictors(student, self.predictors)
        trainset = _check_examples("trainset", trainset)
        if valset is None:
            if len(trainset) < 2:
                raise ValueError("valset=None needs a trainset of at least 2 examples to split; pass a valset")
            shuffled = list(trainset)
            random.Random(self.settings.seed).shuffle(shuffled)
            n_val = max(1, round(len(shuffled) * VAL_FRACTION))
            valset, trainset = shuffled[:n_val], shuffled[n_val:]
            logger.warning(
                "valset=None: using %d of the %d training examples for validation (a held-out valset is better)",
                n_val,
                len(shuffled),
            )
        valset = _check_examples("valset", valset)
        if report:
            if self.log_dir is None:
                raise ValueError("report=True writes the report into the run directory: pass log_dir= to SkillOpt")
            check_report_dependencies()
        target_lm, reflection_lm = self._resolve_lms(student)
        base = student.deepcopy()
        # Start from the student's own pristine instructions, or from the skill it already carries.
        initial = normalize_skill(self.initial_skill or extract_skill(base))
        result = Trainer(
            settings=self.settings,
            student=base,
            trainset=trainset,
            valset=valset,
            metric=self.metric,
            lm=target_lm,
            reflection_lm=reflection_lm,
            predictors=self.predictors,
            initial_skill=initial,
            meta_skill=self.meta_skill,
            log_dir=self.log_dir,
            restart=restart,
            callbacks=self.callbacks,
        ).run()
        if report:
            result = dataclasses.replace(result, report_path=str(write_report(self.log_dir)))
        compiled = apply_skill(student.deepcopy(), result.best_skill, self.predictors)
        compiled.skill = result.best_skill
        compiled.detailed_results = result
        compiled._compiled = True
        return compiled
