"""The report's figures, drawn with matplotlib and returned as base64 PNG.

They are built on ``matplotlib.figure.Figure`` objects, never through ``pyplot``: no display is needed,
no global backend is switched (a notebook's inline plots keep working), and threads do not share state.

Example:
    >>> from skillopt_dspy.report.data import load_run
    >>> png = scores_figure(load_run("runs/x"))  # doctest: +SKIP
    >>> png[:8]  # doctest: +SKIP
    'iVBORw0K'
"""

from __future__ import annotations

import base64
import io
from typing import Any

from skillopt_dspy.report.data import BASELINE, RunData, stage_rows
from skillopt_dspy.results import StepRecord

INSTALL_HINT = "the run report draws its figures with matplotlib: pip install matplotlib (or skillopt-dspy[report])"

ACCEPTED, REJECTED, TRAIN, INCUMBENT = "#1a7f37", "#cf222e", "#8c959f", "#0969da"


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return Figure(figsize=(width, height))


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")  # Agg canvas, chosen by the format
    return base64.b64encode(buf.getvalue()).decode("ascii")


def scores_figure(run: RunData) -> str:
    """Validation score of the skill after each step, every candidate (accepted / rejected), train scores."""
    fig = _figure(9, 4.2)
    ax = fig.subplots()
    # x = steps finished; an epoch boundary sits half a step after its epoch's last step.
    xs, incumbent = [0.0], [run.state.baseline_val_score]
    cand = {True: ([], []), False: ([], [])}
    slow = {True: ([], []), False: ([], [])}
    train_x, train_y, boundaries = [], [], []
    for r in run.records:
        if isinstance(r, StepRecord):
            x = r.step + 1.0
            train_x.append(x)
            train_y.append(r.train_score)
            if r.gate and r.gate.get("candidate_score") is not None:
                cand[bool(r.accepted)][0].append(x)
                cand[bool(r.accepted)][1].append(r.gate["candidate_score"])
        else:
            x = (xs[-1] if xs else 0.0) + 0.5
            boundaries.append(x)
            gate = (r.slow_update or {}).get("gate")
            if gate and gate.get("candidate_score") is not None:
                slow[bool(gate["accepted"])][0].append(x)
                slow[bool(gate["accepted"])][1].append(gate["candidate_score"])
        xs.append(x)
        incumbent.append(r.val_score)
    ax.step(xs, incumbent, where="post", color=INCUMBENT, linewidth=2.2, label="validation (current skill)")
    ax.plot(train_x, train_y, "o--", color=TRAIN, markersize=4, linewidth=1, label="train batch (skill at step start)")
    for accepted, (x, y) in cand.items():
        if x:
            style = {"marker": "o", "s": 70} if accepted else {"marker": "X", "s": 70}
            color = ACCEPTED if accepted else REJECTED
            label = "candidate accepted" if accepted else "candidate rejected"
            ax.scatter(x, y, color=color, zorder=3, label=label, edgecolors="white", linewidths=0.8, **style)
    for accepted, (x, y) in slow.items():
        if x:
            color = ACCEPTED if accepted else REJECTED
            label = f"slow update {'accepted' if accepted else 'rejected'}"
            ax.scatter(x, y, marker="D", s=60, color=color, zorder=3, label=label, edgecolors="black", linewidths=0.6)
    for i, b in enumerate(boundaries):
        ax.axvline(b, color="#57606a", linestyle=":", linewidth=1, label="epoch boundary" if i == 0 else None)
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_xlabel("step")
    ax.set_ylabel(f"score ({run.gate} gate)")
    ax.set_title("Validation and train score per step")
    ax.set_xlim(-0.3, max(xs) + 0.7)
    top = max([1.0, *incumbent, *train_y, *cand[True][1], *cand[False][1]])
    ax.set_ylim(-0.03, top * 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def edits_figure(run: RunData) -> str | None:
    """Edits per step through the pipeline: proposed, after aggregation, selected, applied; None if no step."""
    steps = run.steps
    if not steps:
        return None
    fig = _figure(9, 3.2)
    ax = fig.subplots()
    series = [
        ("proposed", [len(s.proposed) for s in steps], "#d0d7de"),
        ("after aggregate", [len(s.aggregated) for s in steps], "#8c959f"),
        ("selected", [len(s.selected) for s in steps], "#54aeff"),
        ("applied", [len(s.applied) for s in steps], "#0969da"),
    ]
    width = 0.2
    for k, (label, values, color) in enumerate(series):
        ax.bar([s.step + 1 + (k - 1.5) * width for s in steps], values, width, label=label, color=color)
    for s in steps:  # the verdict above each step's bars
        if s.gate is not None:
            mark, color = ("accepted", ACCEPTED) if s.accepted else ("rejected", REJECTED)
            top = max(len(s.proposed), 1)
            ax.annotate(mark, (s.step + 1, top), ha="center", va="bottom", fontsize=7, color=color)
    ax.set_xlabel("step")
    ax.set_ylabel("edits")
    ax.set_title("Edits per step")
    ax.set_xticks([s.step + 1 for s in steps])
    ax.yaxis.set_major_locator(_integer_ticks())
    ax.set_ylim(0, max(1, *(len(s.proposed) for s in steps)) * 1.15)  # counts: never below 0
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def stages_figure(run: RunData) -> str:
    """LM calls, tokens and seconds per stage over the run (horizontal bars)."""
    rows = [r for r in stage_rows(run) if r["stage"] != "total"]
    names = [("baseline + other" if r["stage"] == BASELINE else r["stage"]) for r in rows]
    fig = _figure(10, 0.45 * len(rows) + 1.2)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, (key, title) in zip(axes, (("lm_calls", "LM calls"), ("tokens", "tokens"), ("seconds", "seconds"))):
        values = [r[key] for r in rows]
        ax.barh(names, values, color=INCUMBENT)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].invert_yaxis()  # the pipeline reads top to bottom
    fig.suptitle("Cost per stage", fontsize=11)
    fig.tight_layout()
    return _png(fig)
