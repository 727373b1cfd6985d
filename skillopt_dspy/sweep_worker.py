"""One sweep worker: takes trials from the study until it holds ``n_trials``, and trains one SkillOpt run each.

Several workers (threads here, processes elsewhere) share a study through its storage. Counting: a trial
counts once it is queued, running, completed or pruned; a retry of a dead worker's trial counts as that
trial (its "root", whose run directory it resumes), so no trial is lost and none is run twice.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dspy
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from skillopt_dspy.events import SkillOptCallback
from skillopt_dspy.optimizer import SkillOpt
from skillopt_dspy.results import StepRecord
from skillopt_dspy.sweep_storage import heartbeat_enabled

logger = logging.getLogger(__name__)

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def worker_id() -> str:
    """``host:pid``: which worker ran a trial (shown in the table of trials)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def root_of(trial: FrozenTrial) -> int:
    """The number of a trial's first attempt (a retry of a dead worker's trial keeps that run directory)."""
    return trial.system_attrs.get("failed_trial", trial.number)


def _counted(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state in COUNTED and not t.user_attrs.get("skipped")]


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)


class _NotNeeded(Exception):
    """Another worker took the last of ``n_trials`` between this worker's check and its ask."""


class Reporter(SkillOptCallback):
    """Reports each step's validation score to the trial, and stops the run when the pruner says so."""

    def __init__(self, trial: optuna.Trial, calls_by_step: Sequence[int] = ()) -> None:
        self.trial = trial
        self.by_step = list(calls_by_step)  # LM calls so far after each step (a retry keeps its root's)

    def on_run_start(self, info: dict[str, Any]) -> None:
        self.trial.set_user_attr("total_steps", info["total_steps"])
        self.trial.set_user_attr("resumed_at_step", info["resumed_at"])
        self.trial.set_user_attr("estimated_lm_calls", sum(info["estimated_lm_calls"].values()))

    def on_step_end(self, record: StepRecord) -> None:
        calls = sum(record.usage.get("lm_calls", {}).values())
        self.by_step.append(calls)
        self.trial.set_user_attr("steps_done", record.step + 1)
        self.trial.set_user_attr("lm_calls", calls)
        self.trial.set_user_attr("lm_calls_by_step", self.by_step)
        self.trial.report(record.val_score, step=record.step)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_step", record.step)
            # Raised from a step event: the trainer has saved this step, stops, and re-raises to compile's caller.
            raise optuna.TrialPruned(f"validation {record.val_score:.3f} after step {record.step} is below the median")


class Worker:
    """Runs trials of one study in this process (:meth:`run` is called by each worker thread)."""

    def __init__(
        self,
        *,
        study: optuna.Study,
        storage: BaseStorage,
        space: Mapping[str, BaseDistribution],
        n_trials: int,
        program: dspy.Module,
        trainset: list[dspy.Example],
        valset: list[dspy.Example] | None,
        metric: Any,
        lm: dspy.BaseLM | None,
        adapter: dspy.Adapter | None,
        kwargs: dict[str, Any],
        retry: Any,
        threads: int = 1,
    ) -> None:
        self.study, self.storage, self.space, self.n_trials = study, storage, space, n_trials
        self.program, self.trainset, self.valset, self.metric = program, trainset, valset, metric
        self.lm, self.adapter, self.retry = lm, adapter, retry
        kwargs = dict(kwargs)
        self.log_dir = Path(kwargs.pop("log_dir")) if kwargs.get("log_dir") is not None else None
        self.user_callbacks = list(kwargs.pop("callbacks", None) or [])
        self.kwargs = kwargs
        self.heartbeat = storage.get_heartbeat_interval() if heartbeat_enabled(storage) else None
        self.stop = threading.Event()
        self.threads = threads
        self.best: tuple[float, int, dspy.Module] | None = None
        self._ask_lock = threading.Lock()  # one thread of this process between "is there work?" and its ask
        self._best_lock = threading.Lock()
        self._local = threading.local()

    # ---- which trial next --------------------------------------------------------------------------------
    def _has_work(self) -> bool:
        """A queued trial, or fewer than ``n_trials`` taken; else wait while other workers' trials run."""
        logged = False
        while not self.stop.is_set():
            if self.heartbeat:
                with warnings.catch_warnings():  # experimental in optuna, and what its own optimize calls
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(self.study)  # a dead worker's trial: FAILED, queued again
            trials = self.study.get_trials(deepcopy=False)
            if any(t.state == TrialState.WAITING for t in trials):
                return True
            if len({root_of(t) for t in _counted(trials)}) < self.n_trials:
                return True
            running = [t.number for t in trials if t.state == TrialState.RUNNING]
            if not running or not self.heartbeat:
                return False
            if not logged:
                logger.info("sweep: waiting for running trial(s) %s (a dead worker's is retried here)", running)
                logged = True
            self.stop.wait(min(self.heartbeat, 5))
        return False

    def _over_budget(self, frozen: FrozenTrial) -> bool:
        if root_of(frozen) != frozen.number:
            return False  # a retry takes its root's place
        trials = _counted(self.study.get_trials(deepcopy=False))
        return len({root_of(t) for t in trials if root_of(t) < frozen.number}) >= self.n_trials

    def _release(self) -> None:
        if getattr(self._local, "holds_lock", False):
            self._local.holds_lock = False
            self._ask_lock.release()

    def run(self) -> None:
        """Run trials until the study holds ``n_trials`` (every worker of a shared study runs this loop)."""
        while not self.stop.is_set():
            self._ask_lock.acquire()
            self._local.holds_lock = True
            try:
                if not self._has_work():
                    return
                self._local.trial_id = None
                # Optuna's optimize runs one trial with the heartbeat, and fails stale trials first.
                self.study.optimize(self._objective, n_trials=1, catch=(_NotNeeded,))
            except KeyboardInterrupt:
                self.stop.set()
                if self._local.trial_id is not None:  # FAILED by optimize: queue it so the next run resumes it
                    self.retry(self.study, self.storage.get_trial(self._local.trial_id))
                raise
            except BaseException:
                self.stop.set()
                raise
            finally:
                self._release()

    # ---- one trial ---------------------------------------------------------------------------------------
    def _objective(self, trial: optuna.Trial) -> float:
        self._local.trial_id = trial._trial_id
        frozen = self.storage.get_trial(trial._trial_id)
        over = self._over_budget(frozen)
        self._release()
        if over:
            trial.set_user_attr("skipped", "another worker took the last of n_trials")
            raise _NotNeeded(f"trial {trial.number} is not needed: the study holds n_trials={self.n_trials}")
        return self._train(trial, root_of(frozen), frozen.user_attrs.get("lm_calls_by_step", []))

    def _attempt(self, run_dir: Path, trial: optuna.Trial, params: dict[str, Any]) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        line = {"trial": trial.number, "worker": worker_id(), "params": params, "started": time.time()}
        with open(run_dir / "attempts.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def _train(self, trial: optuna.Trial, root: int, calls_by_step: list[int]) -> float:
        params = {name: _suggest(trial, name, dist) for name, dist in self.space.items()}
        trial.set_user_attr("worker", worker_id())
        run_dir = self.log_dir / f"trial-{root}" if self.log_dir is not None else None
        if run_dir is not None:
            self._attempt(run_dir, trial, params)
        logger.info("sweep: trial %d with %s (run dir %s)", trial.number, params, run_dir)
        optimizer = SkillOpt(
            self.metric,
            **self.kwargs,
            **params,
            log_dir=run_dir,
            callbacks=[Reporter(trial, calls_by_step), *self.user_callbacks],
        )
        # DSPy's context is per thread: set the LM explicitly in this worker thread.
        context = {k: v for k, v in (("lm", self.lm), ("adapter", self.adapter)) if v is not None}
        with dspy.context(**context):
            compiled = optimizer.compile(self.program, trainset=self.trainset, valset=self.valset)
        result = compiled.detailed_results
        if result.stop_reason.startswith("interrupted"):
            raise KeyboardInterrupt  # the trainer saved the last step and returned: the trial is not finished
        trial.set_user_attr("skill", result.best_skill)
        trial.set_user_attr("lm_calls", sum(result.lm_calls.values()))
        trial.set_user_attr("steps_done", len(result.history))
        trial.set_user_attr("stop_reason", result.stop_reason)
        with self._best_lock:
            if self.best is None or result.best_val_score > self.best[0]:
                self.best = (result.best_val_score, trial.number, compiled)
        return result.best_val_score
