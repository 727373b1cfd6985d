"""What a sweep shows: the table of trials, the calls pruning saved, and Optuna's plots as PNG files.

Example:
    >>> import optuna
    >>> print(trials_table(optuna.create_study()))
    (no trials)
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

logger = logging.getLogger(__name__)

PLOTS_HINT = "pip install 'skillopt-dspy[sweep]' (matplotlib)"


def _root(trial: FrozenTrial) -> int:
    return trial.system_attrs.get("failed_trial", trial.number)


def _note(trial: FrozenTrial, best: int | None) -> str:
    notes = []
    if trial.number == best:
        notes.append("best")
    if _root(trial) != trial.number:
        notes.append(f"retry of {_root(trial)}")
    if trial.user_attrs.get("resumed_at_step"):
        notes.append(f"resumed at step {trial.user_attrs['resumed_at_step']}")
    if "pruned_at_step" in trial.user_attrs:
        notes.append(f"pruned after step {trial.user_attrs['pruned_at_step']}")
    if trial.user_attrs.get("skipped"):
        notes.append(f"not run: {trial.user_attrs['skipped']}")
    reason = trial.user_attrs.get("stop_reason")
    if reason and reason != "completed all epochs":
        notes.append(reason)
    return "; ".join(notes)


def _shown(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-" if value is None else str(value)


def trials_table(study: optuna.Study) -> str:
    """Every trial of the study, one row each: state, validation score, knobs, steps, LM calls, worker, notes."""
    trials = study.get_trials(deepcopy=False)
    if not trials:
        return "(no trials)"
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial.number if complete else None
    names = sorted({name for t in trials for name in t.params})
    header = ["trial", "state", "val score", *names, "steps", "LM calls", "worker", "notes"]
    rows = []
    for t in trials:
        steps = t.user_attrs.get("steps_done")
        total = t.user_attrs.get("total_steps")
        rows.append(
            [
                str(t.number),
                t.state.name,
                _shown(t.value),
                *(_shown(t.params.get(n)) for n in names),
                "-" if steps is None else f"{steps}/{total}" if total else str(steps),
                _shown(t.user_attrs.get("lm_calls")),
                _shown(t.user_attrs.get("worker")),
                _note(t, best),
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def pruning_savings(study: optuna.Study) -> dict[str, Any]:
    """LM calls the pruned trials used, and an extrapolation of what they would have used unpruned.

    The extrapolation runs each pruned trial's own per-step rate (its calls after the first step, per step)
    to its planned number of steps; epoch boundaries are not counted, so it is a low estimate.
    """
    pruned = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.PRUNED]
    used = would_use = 0
    for t in pruned:
        by_step = t.user_attrs.get("lm_calls_by_step") or []
        total = t.user_attrs.get("total_steps") or len(by_step)
        if not by_step:
            continue
        rate = (by_step[-1] - by_step[0]) / (len(by_step) - 1) if len(by_step) > 1 else by_step[0]
        used += by_step[-1]
        would_use += round(by_step[-1] + rate * max(0, total - len(by_step)))
    return {
        "pruned_trials": len(pruned),
        "lm_calls_used": used,
        "lm_calls_if_run_to_the_end": would_use,
        "lm_calls_saved": would_use - used,
    }


def write_plots(study: optuna.Study, out_dir: Path) -> list[str]:
    """Write ``optimization_history.png`` and ``param_importances.png``; return one line per file or reason."""
    try:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules:  # files only: no display on a worker (a notebook keeps its own)
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances
    except ImportError:
        return [f"plots not written: matplotlib is not installed; {PLOTS_HINT}"]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return ["plots not written: no trial completed"]
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot_optimization_history(study)
        path = out_dir / "optimization_history.png"
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
        lines.append(f"optimization history: {path}")
        varied = {n for n in complete[0].params if len({repr(t.params.get(n)) for t in complete}) > 1}
        if len(complete) < 2:
            lines.append(
                f"parameter importances not written: they need at least 2 completed trials, the study has "
                f"{len(complete)} (pruned trials do not count)"
            )
        elif not varied:
            lines.append("parameter importances not written: every completed trial used the same knobs")
        else:
            ax = plot_param_importances(study)
            path = out_dir / "param_importances.png"
            ax.figure.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(ax.figure)
            lines.append(f"parameter importances: {path}")
    return lines
