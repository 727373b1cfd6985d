"""``skillopt-dspy sweep``: the search space from the config's ``sweep`` section, one study, any number of workers.

Start the same command on every machine with the same ``--storage`` and ``--study-name``: each worker takes
trials until the study holds ``--n-trials``, and a dead worker's trial is FAILED by the heartbeat and run
again by a live one. At the end it prints the table of trials and writes, in the sweep's directory,
``best_skill.md``, ``trials.txt``, ``optimization_history.png`` and ``param_importances.png``.

Example:
    >>> main(["sweep", "--config", "configs/quickstart.yaml", "--n-trials", "6"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import time
from pathlib import Path
from typing import Any

import optuna

from skillopt_dspy.config import Config, ConfigError, SearchRange
from skillopt_dspy.state import atomic_write_text
from skillopt_dspy.sweep import NoCompletedTrialError, SweepResult, prepare_sweep, result_of, run_sweep
from skillopt_dspy.sweep_report import pruning_savings, write_plots
from skillopt_dspy.sweep_space import grid_of, parse_space
from skillopt_dspy.workspace import build

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sweep`` options (the config options of ``train`` included)."""
    from skillopt_dspy.cli import _config_arguments

    _config_arguments(parser)
    parser.add_argument("--reflection-lm", metavar="LM", help="optimizer LM (default: the target LM)")
    parser.add_argument("--n-trials", type=int, metavar="N", help="trials the study holds in the end (sweep.n_trials)")
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="sqlite:///sweep.db or postgresql+psycopg://... (sweep.storage); default: memory",
    )
    parser.add_argument("--study-name", metavar="NAME", help="study in the storage (default: <config name>-sweep)")
    parser.add_argument("--workers", type=int, metavar="K", help="trials run at once in this process (sweep.workers)")
    parser.add_argument(
        "--log-dir",
        metavar="DIR",
        help="sweep directory, trial-<n>/ per trial (default: runs/<study name>, or a timestamped one in memory)",
    )


def _space(config: Config) -> dict[str, Any] | None:
    space = config.sweep.search_space
    if space is None:
        return None
    return {k: v.model_dump(exclude_none=True) if isinstance(v, SearchRange) else v for k, v in space.items()}


def _sampler(config: Config, space: dict[str, Any] | None, n_train: int) -> optuna.samplers.BaseSampler | None:
    kind, seed = config.sweep.sampler, None if config.sweep.storage else config.train.seed
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        grid = grid_of(parse_space(space, n_train=n_train))
        points = 1
        for values in grid.values():
            points *= len(values)
        if config.sweep.n_trials > points:
            raise ConfigError(f"sweep.n_trials ({config.sweep.n_trials}) exceeds the {points} points of the grid")
        return optuna.samplers.GridSampler(grid, seed=seed)
    return None  # the library's default TPE


def _log_dir(config: Config, study_name: str) -> Path:
    if config.run.log_dir:
        return Path(config.run.log_dir)
    if config.sweep.storage:  # the same directory on every run and worker: trials resume there
        return Path("runs") / study_name
    return Path("runs") / f"{study_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _write_outputs(result: SweepResult, log_dir: Path) -> list[str]:
    table = result.table()
    atomic_write_text(log_dir / "trials.txt", table + "\n")
    atomic_write_text(log_dir / "best_skill.md", result.best_skill)
    savings = pruning_savings(result.study)
    summary = {
        "study_name": result.study.study_name,
        "best_trial": result.best_trial.number,
        "best_params": result.best_params,
        "best_value": result.best_value,
        "trials": {s: sum(t.state.name == s for t in result.study.trials) for s in ("COMPLETE", "PRUNED", "FAIL")},
        "pruning": savings,
    }
    atomic_write_text(log_dir / "sweep_summary.json", json.dumps(summary, indent=2) + "\n")
    lines = [
        table,
        "",
        f"best: trial {result.best_trial.number}, validation {result.best_value:.4f} with {result.best_params}",
        f"best skill: {log_dir / 'best_skill.md'}",
        f"pruned trials: {savings['pruned_trials']}, which used {savings['lm_calls_used']:,} LM calls; run to "
        f"the end they would have used about {savings['lm_calls_if_run_to_the_end']:,}",
    ]
    return lines + write_plots(result.study, log_dir)


def run(args: argparse.Namespace) -> int:
    """``skillopt-dspy sweep``: check everything, run this worker's trials, print and write the results."""
    from skillopt_dspy.cli import config_from_args

    config = config_from_args(args)  # --n-trials, --storage, --study-name, --workers set sweep.*
    s = config.sweep
    if s.n_trials is None:
        raise ConfigError("sweep: how many trials? pass --n-trials N (or set sweep.n_trials)")
    study_name = s.study_name or f"{Path(args.config).stem}-sweep"
    log_dir = _log_dir(config, study_name)
    ws = build(config)
    space = _space(config)
    kwargs = {k: v for k, v in ws.skillopt_kwargs().items() if k not in (space or {})}
    if space is None:  # the default space sweeps these two: the config's values are not fixed
        kwargs = {k: v for k, v in kwargs.items() if k not in ("learning_rate", "batch_size")}
    kwargs["progress"] = False
    try:
        worker = prepare_sweep(
            ws.program,
            ws.splits["train"],
            ws.splits["valid"],
            ws.metric,
            n_trials=s.n_trials,
            storage=s.storage,
            study_name=study_name,
            search_space=space,
            sampler=_sampler(config, space, len(ws.splits["train"])),
            pruner=optuna.pruners.NopPruner() if s.pruner == "none" else None,
            lm=ws.lm,
            adapter=ws.adapter,
            workers=s.workers,
            heartbeat_interval=s.heartbeat_interval,
            grace_period=s.grace_period,
            max_retry=s.max_retry,
            reflection_lm=ws.reflection_lm,
            log_dir=log_dir,
            **kwargs,
        )
    except (TypeError, ValueError) as exc:  # every check before the first trial
        raise ConfigError(str(exc)) from None
    header = f"Resolved by `skillopt-dspy sweep` from {args.config}"
    atomic_write_text(log_dir / "config.yaml", config.dump_yaml(header))
    logger.info("sweep %s: %d trials in all, %d at once here; directory %s", study_name, s.n_trials, s.workers, log_dir)
    try:
        run_sweep(worker)
        # Workers sharing a study write the same files. Each reads the study again under one lock, after its
        # own trials ended, so the last writer has seen every trial: the files never fall back to an
        # earlier best that another worker read while a better trial was still running.
        with open(log_dir / ".outputs.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            lines = _write_outputs(result_of(worker), log_dir)
    except NoCompletedTrialError as exc:  # every trial pruned or failed: nothing to call the best
        print(exc)
        return 1
    print("\n".join(lines))
    return 0
