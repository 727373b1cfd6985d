"""Hyperparameter sweeps: SkillOpt once per Optuna trial, pruned step by step, on one machine or many.

Each trial trains a skill with the knobs its sampler picked, reports the validation score after every step
(``on_step_end``) so that the pruner can stop a weak trial at a step boundary, and keeps its run in
``log_dir/trial-<n>``. With a database ``storage`` several worker processes (on several machines: the same
command on each) share one study; a worker that dies leaves its trial FAILED by the heartbeat and queued
again, and the retry resumes from the dead trial's run directory (no finished step is repeated).

Example:
    >>> result = sweep(program, trainset, valset, metric, n_trials=8, lm=lm, storage="sqlite:///sweep.db",
    ...                log_dir="runs/sweep", epochs=1)  # doctest: +SKIP
    >>> result.best_params, result.best_value  # doctest: +SKIP
    ({'learning_rate': 4, 'batch_size': 8}, 0.8)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from skillopt_dspy.optimizer import SkillOpt, _check_examples
from skillopt_dspy.skill import _select_predictors, apply_skill
from skillopt_dspy.state import atomic_write_text
from skillopt_dspy.sweep_report import trials_table
from skillopt_dspy.sweep_space import check_values, parse_space
from skillopt_dspy.sweep_storage import masked, open_storage, open_study, retry_callback
from skillopt_dspy.sweep_worker import Worker

logger = logging.getLogger(__name__)

DEFAULT_STUDY = "skillopt-sweep"


class NoCompletedTrialError(RuntimeError):
    """The sweep ended with no completed trial (every one pruned, failed, or still running elsewhere)."""


def default_pruner() -> optuna.pruners.BasePruner:
    """Median pruning once 2 trials completed, from the second step on (step 0 is never judged)."""
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` returns: the study, its best trial, and the best program.

    ``best_program`` carries ``.skill``; it also has ``.detailed_results`` when the best trial ran in this
    process (another worker's best trial is rebuilt from the skill kept on the study).
    """

    study: optuna.Study
    best_trial: FrozenTrial
    best_params: dict[str, Any]
    best_value: float
    best_skill: str
    best_program: dspy.Module
    log_dir: Path | None

    def table(self) -> str:
        """Every trial as a text table (state, score, knobs, steps, LM calls, worker)."""
        return trials_table(self.study)


def _claim_log_dir(log_dir: Path, identity: dict[str, str], persistent: bool) -> None:
    """Refuse a ``log_dir`` whose ``trial-<n>`` directories belong to another study (they would be resumed)."""
    marker = log_dir / "sweep.json"
    if marker.exists():
        saved = json.loads(marker.read_text(encoding="utf-8"))
        if persistent and saved == identity:
            return
        why = "an in-memory study cannot resume them" if not persistent else f"they belong to {saved}"
        raise ValueError(
            f"log_dir {str(log_dir)!r} holds the trials of an earlier sweep and {why}: use another log_dir, "
            "or re-run with the storage and study_name of that sweep to resume it"
        )
    if log_dir.is_dir() and any(log_dir.glob("trial-*")):
        raise ValueError(f"log_dir {str(log_dir)!r} holds trial-* directories of another run: use another log_dir")
    atomic_write_text(marker, json.dumps(identity, indent=2) + "\n")


def _check_inputs(n_trials: Any, workers: Any, max_retry: Any, program: Any) -> None:
    for name, value in (("n_trials", n_trials), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if max_retry is not None and (isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0):
        raise ValueError(f"max_retry must be an int >= 0 or None (retry without limit), got {max_retry!r}")
    if not isinstance(program, dspy.Module):
        raise TypeError(f"program must be a dspy.Module, got {type(program).__name__}")


def result_of(worker: Worker) -> SweepResult:
    """The study's best trial as read now from its storage (other workers' trials included)."""
    study, program, predictors = worker.study, worker.program, worker.kwargs.get("predictors")
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise NoCompletedTrialError(f"no trial of the study {study.study_name!r} completed:\n{trials_table(study)}")
    best = study.best_trial
    skill = best.user_attrs.get("skill", "")
    if worker.best is not None and worker.best[1] == best.number:
        compiled = worker.best[2]
    else:  # another worker's (or an earlier run's) trial: rebuilt from the skill kept on the study
        compiled = apply_skill(program.deepcopy(), skill, predictors)
        compiled.skill = skill
        compiled._compiled = True
    return SweepResult(
        study=study,
        best_trial=best,
        best_params=dict(best.params),
        best_value=float(best.value),
        best_skill=skill,
        best_program=compiled,
        log_dir=worker.log_dir,
    )


def _run_threads(worker: Worker) -> None:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # handed to the caller below, after the other workers stop
            errors.append(exc)
            worker.stop.set()

    threads = [threading.Thread(target=target, name=f"sweep-worker-{i}", daemon=True) for i in range(worker.threads)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        worker.stop.set()
        logger.warning("sweep interrupted: no new trial starts; the running ones finish in the background")
        raise
    if errors:
        raise errors[0]


def prepare_sweep(
    program: dspy.Module,
    trainset: list[dspy.Example],
    valset: list[dspy.Example] | None,
    metric: Any,
    *,
    n_trials: int,
    storage: str | BaseStorage | None = None,
    study_name: str | None = None,
    search_space: Mapping[str, Any] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    lm: dspy.BaseLM | None = None,
    adapter: dspy.Adapter | None = None,
    workers: int = 1,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = None,
    max_retry: int | None = 3,
    **skillopt_kwargs: Any,
) -> Worker:
    """Every check of :func:`sweep` (same arguments), the study opened: a worker ready to :func:`run_sweep`."""
    _check_inputs(n_trials, workers, max_retry, program)
    trainset = _check_examples("trainset", trainset)
    valset = None if valset is None else _check_examples("valset", valset)
    space = parse_space(search_space, n_train=len(trainset))
    kwargs = dict(skillopt_kwargs)
    kwargs.setdefault("progress", False)  # one bar per trial (and per thread) is noise; the table says more
    both = sorted(set(space) & set(kwargs))
    if both:
        raise ValueError(f"{both} are both swept (search_space) and fixed (keyword arguments): choose one")
    check_values(space, lambda params: SkillOpt(metric, **{**kwargs, **params}))
    _select_predictors(program, kwargs.get("predictors"))
    lm = lm if lm is not None else dspy.settings.lm
    if lm is not None and not isinstance(lm, dspy.BaseLM):
        raise TypeError(f"lm must be a dspy.LM, got {type(lm).__name__}")
    if lm is None and any(p.lm is None for _, p in program.named_predictors()):
        raise ValueError("no LM for the program: pass lm=..., configure one, or set one with program.set_lm(lm)")
    store = open_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period, max_retry=max_retry)
    persistent = not isinstance(store, optuna.storages.InMemoryStorage)
    if sampler is None:
        sampler = optuna.samplers.TPESampler(seed=None if persistent else kwargs.get("seed", 0))
    name = study_name or DEFAULT_STUDY
    study = open_study(store, name, space, sampler=sampler, pruner=pruner if pruner is not None else default_pruner())
    if kwargs.get("log_dir") is not None:
        where = masked(getattr(store, "url", "")) if persistent else "in-memory"
        _claim_log_dir(Path(kwargs["log_dir"]), {"study_name": name, "storage": where}, persistent)
    elif persistent:
        logger.warning("sweep: no log_dir: a trial that is interrupted starts again from scratch when retried")
    worker = Worker(
        study=study,
        storage=store,
        space=space,
        n_trials=n_trials,
        program=program,
        trainset=trainset,
        valset=valset,
        metric=metric,
        lm=lm,
        adapter=adapter if adapter is not None else dspy.settings.adapter,
        kwargs=kwargs,
        retry=retry_callback(max_retry),
        threads=workers,
    )
    return worker


def run_sweep(worker: Worker) -> SweepResult:
    """Run a prepared sweep with ``worker.threads`` threads; the result once this process has no trial left."""
    started = time.perf_counter()
    if worker.threads == 1:
        worker.run()
    else:
        _run_threads(worker)
    logger.info("sweep %r: %.1f s in this process", worker.study.study_name, time.perf_counter() - started)
    return result_of(worker)


def sweep(
    program: dspy.Module,
    trainset: list[dspy.Example],
    valset: list[dspy.Example] | None,
    metric: Any,
    *,
    n_trials: int,
    storage: str | BaseStorage | None = None,
    study_name: str | None = None,
    search_space: Mapping[str, Any] | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    lm: dspy.BaseLM | None = None,
    adapter: dspy.Adapter | None = None,
    workers: int = 1,
    heartbeat_interval: int | None = 60,
    grace_period: int | None = None,
    max_retry: int | None = 3,
    **skillopt_kwargs: Any,
) -> SweepResult:
    """Run SkillOpt once per trial over a search space; return the study, the best knobs and the best program.

    Args:
        program, trainset, valset, metric: as for :meth:`SkillOpt.compile` and ``SkillOpt(metric=...)``.
        n_trials: trials the study should hold in the end (completed or pruned; all workers together). A
            re-run of a finished study runs none; a trial a dead worker left behind is run again.
        storage: None (in memory), a SQLAlchemy URL (``sqlite:///sweep.db`` keeps and resumes a study,
            ``postgresql+psycopg://user:pw@host/db`` is shared by workers on several machines), or an Optuna storage.
        study_name: the study in that storage (default ``"skillopt-sweep"``).
        search_space: SkillOpt keyword -> a list of values or a range ``{"low": 1, "high": 8}`` (or an Optuna
            distribution). Default: ``learning_rate`` 1..8 and ``batch_size`` among 4, 8, 16, 32.
        sampler: default TPE (seeded with ``seed`` in memory; unseeded on a shared storage so that workers
            differ). pruner: default :func:`default_pruner` (median); ``optuna.pruners.NopPruner()`` for none.
        lm, adapter: the program's LM and DSPy adapter (default: those configured here); passed explicitly to
            each worker thread, since DSPy's context does not cross threads.
        workers: trials run at once in this process (threads).
        heartbeat_interval, grace_period, max_retry: a database storage's heartbeat: a trial without a
            heartbeat for ``grace_period`` seconds (default twice the interval) is FAILED and queued again, at
            most ``max_retry`` times; None turns the heartbeat off.
        **skillopt_kwargs: every other ``SkillOpt`` keyword, fixed for all trials. ``log_dir`` is the sweep's
            directory: trial ``n`` runs in ``log_dir/trial-<n>``, and its retry resumes there.

    Bad input (an empty or invalid space, a knob both fixed and swept, an unreachable storage, a study with
    another direction or space, a ``log_dir`` of another sweep) is one error before any trial.

    Example:
        >>> result = sweep(program, train, val, metric, n_trials=6, lm=lm, reflection_lm=big_lm,
        ...                search_space={"learning_rate": [2, 4, 8]}, epochs=1)  # doctest: +SKIP
        >>> print(result.table())  # doctest: +SKIP
    """
    worker = prepare_sweep(
        program,
        trainset,
        valset,
        metric,
        n_trials=n_trials,
        storage=storage,
        study_name=study_name,
        search_space=search_space,
        sampler=sampler,
        pruner=pruner,
        lm=lm,
        adapter=adapter,
        workers=workers,
        heartbeat_interval=heartbeat_interval,
        grace_period=grace_period,
        max_retry=max_retry,
        **skillopt_kwargs,
    )
    return run_sweep(worker)
