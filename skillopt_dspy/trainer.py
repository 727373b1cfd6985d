"""The epoch/step loop. It owns the :class:`RunState` and calls the stages in order.

One step (:mod:`skillopt_dspy.stages.step`): rollout → reflect → aggregate → select → update → gate. After each
finished step the state is saved (when ``log_dir`` is set) and ``on_step_end`` fires; at each epoch
boundary the epoch stage runs (slow update, meta-skill) and ``on_epoch_end`` fires.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dspy
from tqdm.auto import tqdm

from skillopt_dspy.budget import Budget, Usage
from skillopt_dspy.candidates import add_candidate, gepa_fields, settle
from skillopt_dspy.events import Emitter, SkillOptCallback
from skillopt_dspy.fingerprint import run_fingerprint
from skillopt_dspy.journal import CallJournal, journaled
from skillopt_dspy.parallel import Runner
from skillopt_dspy.results import EpochRecord, SkillOptResult, StepRecord
from skillopt_dspy.scoring import Metric, gate_value
from skillopt_dspy.skill import apply_skill, skill_hash
from skillopt_dspy.stages import epoch as epoch_stage
from skillopt_dspy.stages import step as step_stage
from skillopt_dspy.stages.gate import GateRule, ValidationCache
from skillopt_dspy.stages.racing import RacingGate, ValidationRollout, validation_order
from skillopt_dspy.stages.rollout import ErrorLimit, TooManyErrorsError, rollout
from skillopt_dspy.state import RunDir, RunDirWriteError, RunState, check_compatible
from skillopt_dspy.task import describe_task

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class TrainSettings:
    """The knobs of one run (built and validated by :class:`skillopt_dspy.SkillOpt`)."""

    gate: str = "hard"
    mixed_weight: float = 0.5
    gate_test: str = "paired"
    gate_alpha: float = 0.1
    racing: bool = True
    batch_check: bool = True
    carry_ahead: bool = True
    worked_examples: int = 0
    max_worked_examples: int = 8
    worked_examples_from: str = "batch"
    metric_range: tuple[float, float] = (0.0, 1.0)
    pass_threshold: float = 1.0
    learning_rate: int = 4
    min_learning_rate: int = 1
    lr_scheduler: str = "constant"
    batch_size: int = 16
    epochs: int = 2
    minibatch_size: int = 8
    num_threads: int = 8
    seed: int = 0
    max_errors: int = 10
    aggregate_fan_in: int = 4
    contrast_examples: int = 0
    reflection_samples: int = 1
    reflection_temperature: float = 0.8
    use_slow_update: bool = True
    slow_update_samples: int = 8
    use_meta_skill: bool = True
    budget: Budget = field(default_factory=Budget)
    progress: bool = True


class Trainer:
    """Runs SkillOpt on one program; :meth:`run` returns the best skill's result."""

    def __init__(
        self,
        *,
        settings: TrainSettings,
        student: dspy.Module,
        trainset: list[dspy.Example],
        valset: list[dspy.Example],
        metric: Metric,
        lm: dspy.BaseLM | None,
        reflection_lm: dspy.BaseLM,
        predictors: list[str] | None = None,
        initial_skill: str = "",
        meta_skill: str = "",
        log_dir: str | Path | None = None,
        restart: bool = False,
        callbacks: list[SkillOptCallback] | None = None,
    ) -> None:
        self.s = settings
        self.student = student
        self.trainset = trainset
        self.valset = valset
        self.metric = metric
        self.lm = lm
        self.reflection_lm = reflection_lm
        self.predictors = predictors
        self.initial_skill = initial_skill
        self.initial_meta_skill = meta_skill
        self.run_dir = RunDir(log_dir) if log_dir is not None else None
        self.restart = restart
        self.events = Emitter(callbacks or [])
        self.usage = Usage()
        self.error_limit = ErrorLimit(settings.max_errors)
        self.steps_per_epoch = math.ceil(len(trainset) / settings.batch_size)
        self.total_steps = self.steps_per_epoch * settings.epochs
        self._programs: dict[str, dspy.Module] = {}
        self._saved = "none"  # what the run dir holds, for the message when a save fails
        self.journal: CallJournal | None = None
        self._lookahead: dict[str, int] = {}  # the most one step / epoch boundary used (budget look-ahead)
        self.task = describe_task(student, predictors)  # shown to every reflection call

    # ---- helpers -------------------------------------------------------------------------------------
    def fingerprint(self) -> dict:
        """What a resumed run must share with the saved one (see :mod:`skillopt_dspy.fingerprint`)."""
        return run_fingerprint(self)

    def unit_cost(self, unit: str, batch_size: int | None = None) -> dict[str, int]:
        """The most LM calls by role, and metric calls, one ``"step"`` (of ``batch_size`` training examples,
        by default the setting) or ``"epoch"`` boundary may make."""
        s, n_val = self.s, len(self.valset)
        size = batch_size or s.batch_size
        # Examples times the LM calls one example was measured to make (two-predictor programs, ReAct, Refine),
        # and reflection calls by formula or the most a unit of this kind was measured to make.
        per_example = self.usage.calls_per_example()
        measured = self._lookahead.get(f"{unit}_reflection", 0)
        if unit == "step":
            # failure minibatches (each analysed reflection_samples times) + success minibatches
            reflect_calls = math.ceil(size / s.minibatch_size) * s.reflection_samples + 1
            # failures and successes merge separately, then once together: at most two more calls than one tree
            aggregate_calls = max(0, math.ceil((reflect_calls - 1) / (s.aggregate_fan_in - 1))) + 2
            # the batch, the candidate on the batch (batch check), then the candidate on the whole valset
            examples = size * (2 if s.batch_check else 1) + n_val
            reflection = max(reflect_calls + aggregate_calls, measured)
            return {"target": examples * per_example, "reflection": reflection, "metric_calls": examples}
        examples = (2 * min(s.slow_update_samples, len(self.trainset)) + n_val) if s.use_slow_update else 0
        reflection = max((1 if s.use_slow_update else 0) + (1 if s.use_meta_skill else 0), measured)
        return {"target": examples * per_example, "reflection": reflection, "metric_calls": examples}

    def estimate_calls(self) -> dict[str, int]:
        """An upper estimate of LM calls for the whole run, by role (printed before the run starts)."""
        step, epoch = self.unit_cost("step"), self.unit_cost("epoch")
        return {
            role: len(self.valset) * (role == "target") + self.total_steps * step[role] + self.s.epochs * epoch[role]
            for role in ("target", "reflection")
        }

    def _ahead(self, unit: str, batch_size: int | None = None) -> dict[str, int]:
        cost = self.unit_cost(unit, batch_size)
        return {
            "lm_calls": cost["target"] + cost["reflection"],
            "metric_calls": cost["metric_calls"],
            "tokens": self._lookahead.get("tokens", 0),
        }

    def _room(self, state: RunState, unit: str) -> int | None:
        """The batch size the next ``unit`` may use without crossing a budget (``batch_size`` for an epoch
        boundary that fits), or None, with the stop reason set, when it may not run.

        A step that would not fit whole gets a smaller batch when one of at least half the batch (or a
        minibatch, if smaller; at least 2 examples) fits every limit: the budget is spent rather than left
        unused, and never crossed. Measured on the 1.5B routing comparison: a step of a 16-example batch and
        30 validation examples may take 62 metric calls, and runs with a budget of 150 stopped at 90 and 92.
        The run is not finished for good: compiling again with a larger budget continues from here.
        """
        reason = self.s.budget.exhausted(self.usage, self._ahead(unit))
        if reason is None:
            return self.s.batch_size
        if unit == "step":
            floor = max(2, min(self.s.minibatch_size, self.s.batch_size // 2))
            for size in range(self.s.batch_size - 1, floor - 1, -1):
                if self.s.budget.exhausted(self.usage, self._ahead(unit, size)) is None:
                    logger.info(
                        "the last step's batch is %d examples, not %d, to fit the budget", size, self.s.batch_size
                    )
                    return size
        state.stop_reason = f"budget: {reason}"
        logger.info("stopping: %s", state.stop_reason)
        return None

    def _measured(self, unit: str, run: Callable[..., T], *args: Any) -> T:
        """Run one ``"step"`` or ``"epoch"`` boundary, keeping the most tokens and reflection calls one used."""
        tokens, calls = self.usage.total_tokens, self.usage.lm_calls["reflection"]
        result = run(*args)
        seen = self._lookahead
        seen["tokens"] = max(seen.get("tokens", 0), self.usage.total_tokens - tokens)
        seen[f"{unit}_reflection"] = max(seen.get(f"{unit}_reflection", 0), self.usage.lm_calls["reflection"] - calls)
        return result

    def program_with(self, skill: str) -> dspy.Module:
        """A deep copy of the student with ``skill`` baked in (a few recent ones are cached)."""
        key = skill_hash(skill)
        if key not in self._programs:
            if len(self._programs) >= 4:
                self._programs.pop(next(iter(self._programs)))
            self._programs[key] = apply_skill(self.student.deepcopy(), skill, self.predictors)
        return self._programs[key]

    def rollout(self, skill: str, examples: list[dspy.Example]) -> list:
        return rollout(
            self.program_with(skill),
            examples,
            metric=self.metric,
            runner=self.runner,
            lm=self.lm,
            pass_threshold=self.s.pass_threshold,
            error_limit=self.error_limit,
            store=self.store,
            skill_key=skill_hash(skill),
        )

    def gate_rule(self) -> GateRule:
        """The gate's comparison rule from the settings (mode, test, level, the metric's range, seed)."""
        s = self.s
        low, high = s.metric_range
        return GateRule(s.gate, s.mixed_weight, s.gate_test, s.gate_alpha, low, high, s.seed)

    def _batch(self, step: int, size: int | None = None) -> list[int]:
        """The training indices of step ``step``: its slice of the epoch's shuffled order, the first ``size``
        of them when a smaller batch is all the budget allows."""
        epoch, k = divmod(step, self.steps_per_epoch)
        order = list(range(len(self.trainset)))
        random.Random(self.s.seed * 100_003 + epoch).shuffle(order)
        return order[k * self.s.batch_size : (k + 1) * self.s.batch_size][:size]

    def _save(self, state: RunState, history: list) -> None:
        state.usage = self.usage.snapshot()
        state.lookahead = dict(self._lookahead)
        state.val_scores = self.val_cache.items()
        if self.run_dir is None:
            return
        try:
            self.run_dir.save_state(state, history)
        except OSError as exc:
            raise RunDirWriteError(
                exc.errno,
                f"could not save the run in {self.run_dir.path} ({exc.strerror or exc}); the last saved state "
                f"({self._saved}) is intact: free space and compile again with the same log_dir to continue",
            ) from exc
        self._saved = f"after {state.next_step} of {self.total_steps} steps, {state.epochs_done} epoch(s) closed"

    # ---- the loop ------------------------------------------------------------------------------------
    def _start(self) -> tuple[RunState, list]:
        loaded = None if self.run_dir is None else self.run_dir.load()
        if loaded is not None:
            state, history = loaded
            check_compatible(state.fingerprint, json.loads(json.dumps(self.fingerprint())))
            self.usage.restore(state.usage)
            self._lookahead = dict(state.lookahead)
            if not state.finished:
                state.stop_reason = ""  # why the last attempt stopped (a budget, a failure) no longer holds
            for h, scores in state.val_scores.items():
                self.val_cache.restore(h, scores)
            logger.info("resuming from %s at step %d/%d", self.run_dir.path, state.next_step, self.total_steps)
            return state, history
        baseline_scores = self.val_cache.scores(self.initial_skill)
        baseline = gate_value(baseline_scores, self.s.gate, self.s.mixed_weight)
        state = RunState(
            fingerprint=json.loads(json.dumps(self.fingerprint())),
            initial_skill=self.initial_skill,
            skill=self.initial_skill,
            baseline_val_score=baseline,
            val_score=baseline,
            epoch_start_skill=self.initial_skill,
            meta_skill=self.initial_meta_skill,
        )
        add_candidate(state.candidates, self.initial_skill, source="initial", parent_skill=None)
        settle(state.candidates, 0, accepted=True, metric_calls=self.usage.metric_calls)
        if self.run_dir is not None:
            self.run_dir.save_skill(0, self.initial_skill)
        self._save(state, [])
        return state, []

    def run(self) -> SkillOptResult:
        """Train until the epochs end or a budget runs out; returns the result (best skill included)."""
        estimate = self.estimate_calls()
        logger.info(
            "SkillOpt: %d steps (%d epochs x %d), at most ~%d target and ~%d reflection LM calls",
            self.total_steps,
            self.s.epochs,
            self.steps_per_epoch,
            estimate["target"],
            estimate["reflection"],
        )
        if self.run_dir is None:
            return self._run(estimate)
        self.run_dir.acquire_lock()
        try:
            return self._run(estimate)
        finally:
            self.run_dir.release_lock()

    def _run(self, estimate: dict[str, int]) -> SkillOptResult:
        self.store = None
        if self.run_dir is not None:
            if self.restart:
                self.run_dir.clear()
            self.store = self.run_dir.eval_store()
            # Reflection calls are kept as each returns: a resumed step replays them instead of calling again.
            self.journal = CallJournal(self.run_dir.path / "calls.jsonl")
            self.reflection_lm = journaled(self.reflection_lm, self.journal)
        with Runner(self.s.num_threads, self.usage) as self.runner:
            self.val_cache = ValidationCache(ValidationRollout(self), size=len(self.valset))
            self.val_gate = RacingGate(
                self.val_cache,
                self.gate_rule(),
                order=validation_order(len(self.valset), seed=self.s.seed),
                chunk_size=self.s.num_threads,
                racing=self.s.racing,
            )
            state, history = self._start()
            t0 = time.perf_counter() - state.elapsed_s
            self.events.run_start(
                {
                    "total_steps": self.total_steps,
                    "resumed_at": state.next_step,
                    "baseline": state.baseline_val_score,
                    "estimated_lm_calls": estimate,
                }
            )
            bar = tqdm(total=self.total_steps, initial=state.next_step, disable=not self.s.progress, desc="SkillOpt")
            try:
                self._loop(state, history, bar, t0)
            except KeyboardInterrupt:
                state.stop_reason = "interrupted (KeyboardInterrupt); the state of the last finished step is saved"
                logger.warning("SkillOpt %s", state.stop_reason)
            except TooManyErrorsError as exc:  # the accepted skill is returned; a rerun continues from here
                state.stop_reason = f"stopped: {exc}"
                logger.error("SkillOpt %s", state.stop_reason)
            finally:
                bar.close()
                state.elapsed_s = time.perf_counter() - t0
                if self.store is not None:
                    self.store.close()
        result = self._result(state, history)
        if self.run_dir is not None:
            self._save(state, history)
            self.run_dir.write_json("summary.json", {k: v for k, v in result.to_dict().items() if k != "history"})
        self.events.run_end(result)
        return result

    def _loop(self, state: RunState, history: list, bar: tqdm, t0: float) -> None:
        while not state.finished:
            finished_epochs = state.next_step // self.steps_per_epoch
            if state.epochs_done < finished_epochs:  # an epoch boundary is due (also after a resume)
                if self._room(state, "epoch") is None:
                    break
                epoch = finished_epochs - 1
                self._begin(f"epoch {epoch}")
                steps = [r for r in history if isinstance(r, StepRecord) and r.epoch == epoch]
                work = copy.deepcopy(state)  # an interrupted boundary leaves ``state`` as it was
                epoch_record = self._measured("epoch", epoch_stage.end_epoch, self, work, epoch, steps)
                self._commit(state, work, history, epoch_record)
                state.elapsed_s = time.perf_counter() - t0
                stalled = self._stalled(history)
                if stalled:
                    state.stop_reason, state.finished = stalled, True
                    logger.info("stopping: %s", stalled)
                self._save(state, history)
                self.events.epoch_end(epoch_record)
                if stalled:
                    break
                continue
            if state.next_step >= self.total_steps:
                state.stop_reason, state.finished = "completed all epochs", True
                break
            size = self._room(state, "step")
            if size is None:
                break
            self._begin(f"step {state.next_step}")
            work = copy.deepcopy(state)  # an interrupted step leaves ``state`` as it was
            record = self._measured("step", self._step, work, state.next_step, size)
            work.next_step += 1
            self._commit(state, work, history, record)
            state.elapsed_s = time.perf_counter() - t0
            self._save(state, history)
            bar.update(1)
            bar.set_postfix(val=f"{state.val_score:.3f}")
            self.events.step_end(record)

    @staticmethod
    def _stalled(history: list) -> str:
        """Why the run cannot learn more, or "": the epoch just closed scored nothing new.

        Every rollout and every candidate of that epoch came from the evaluation cache (the reflection LM
        proposed again what had been tried) and the skill did not change, so another epoch would repeat
        it, spending reflection calls and no metric calls, and a metric-call budget would never end it.
        """
        epochs = [r for r in history if isinstance(r, EpochRecord)]
        if len(epochs) < 2:
            return ""
        last, before = epochs[-1], epochs[-2]
        new_calls = last.usage.get("metric_calls", 0) - before.usage.get("metric_calls", 0)
        if new_calls or last.skill_hash != before.skill_hash:
            return ""
        return (
            f"stalled: epoch {last.epoch} evaluated nothing new (its rollouts and candidates were all scored "
            "before) and kept the skill; another epoch would repeat it"
        )

    def _begin(self, unit: str) -> None:
        if self.journal is not None:
            self.journal.begin(unit)

    @staticmethod
    def _commit(state: RunState, work: RunState, history: list, record: StepRecord | EpochRecord) -> None:
        """Make a finished unit's state and record the run's, together (what a save then writes)."""
        history.append(record)
        vars(state).update(vars(work))

    def _step(self, state: RunState, step: int, batch_size: int | None = None) -> StepRecord:
        return step_stage.run_step(self, state, step, batch_size)

    def _result(self, state: RunState, history: list) -> SkillOptResult:
        snap = self.usage.snapshot()
        return SkillOptResult(
            initial_skill=state.initial_skill,
            best_skill=state.skill,
            baseline_val_score=state.baseline_val_score,
            best_val_score=state.val_score,
            gate=self.s.gate,
            history=tuple(r for r in history if isinstance(r, StepRecord)),
            epochs=tuple(r for r in history if isinstance(r, EpochRecord)),
            lm_calls=snap["lm_calls"],
            tokens=snap["tokens"],
            metric_calls=snap["metric_calls"],
            faults=snap["faults"],
            stop_reason=state.stop_reason or "completed all epochs",
            wall_time_s=state.elapsed_s,
            log_dir=str(self.run_dir.path) if self.run_dir else None,
            meta_skill=state.meta_skill,
            seed=self.s.seed,
            valset_size=len(self.valset),
            **gepa_fields(state.candidates, self.val_cache.items(), mode=self.s.gate, mixed_weight=self.s.mixed_weight),
        )
