"""Read a run directory and derive what the report shows: scores, edits and their fates, diffs, gates, costs.

Everything comes from the files a run writes after each step (``state.json``, ``history.jsonl``,
``skills/``, and ``summary.json`` once it ends), so a finished run and an interrupted one read the same.

Example:
    >>> run = load_run("runs/quickstart-20260101-120000")  # doctest: +SKIP
    >>> [row["fate"] for row in edit_rows(run)][:2]  # doctest: +SKIP
    ['applied, accepted', 'dropped: over the edit budget']
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillopt_dspy.candidates import gepa_fields
from skillopt_dspy.results import EpochRecord, StepRecord
from skillopt_dspy.skill import skill_hash
from skillopt_dspy.state import RunDir, RunState

STAGE_ORDER = ("rollout", "reflect", "aggregate", "select + update", "gate", "slow_update", "meta_skill")
BASELINE = "baseline validation + bookkeeping"
Record = StepRecord | EpochRecord


@dataclass(frozen=True)
class RunData:
    """One run directory, parsed: state, records in the order they happened, summary (once ended), skills."""

    path: Path
    state: RunState
    records: list[Record]
    summary: dict[str, Any] | None
    skills: dict[str, str]  # skill hash -> text, for every version the run kept

    @property
    def steps(self) -> list[StepRecord]:
        return [r for r in self.records if isinstance(r, StepRecord)]

    @property
    def epochs(self) -> list[EpochRecord]:
        return [r for r in self.records if isinstance(r, EpochRecord)]

    @property
    def gate(self) -> str:
        return str(self.state.fingerprint.get("gate", "hard"))

    @property
    def mixed_weight(self) -> float:
        return float(self.state.fingerprint.get("mixed_weight", 0.5))

    def skill_before(self, record: Record) -> str | None:
        """The skill ``record`` started from (the skill after the record before it, or the initial skill)."""
        i = self.records.index(record)
        return self.skills.get(self.records[i - 1].skill_hash) if i else self.state.initial_skill

    def skill_after(self, record: Record) -> str | None:
        return self.skills.get(record.skill_hash)


def load_run(path: str | os.PathLike) -> RunData:
    """Parse the run directory at ``path``; ``ValueError`` if it holds no run.

    Example:
        >>> load_run("/nonexistent")  # doctest: +SKIP
        ValueError: /nonexistent is not a run directory: it has no state.json ...
    """
    root = Path(path)
    if not (root / "state.json").is_file():
        raise ValueError(
            f"{root} is not a run directory: it has no state.json (give the log_dir of a SkillOpt run, "
            "e.g. runs/<config>-<timestamp>)"
        )
    loaded = RunDir(root).load()
    if loaded is None:  # removed between the check and the read
        raise ValueError(f"{root} is not a run directory: state.json disappeared")
    state, history = loaded
    skills = {skill_hash(state.initial_skill): state.initial_skill, skill_hash(state.skill): state.skill}
    for cand in state.candidates:
        skills[skill_hash(cand["skill"])] = cand["skill"]
    skill_dir = root / "skills"
    for file in sorted(skill_dir.glob("*.md")) if skill_dir.is_dir() else []:
        text = file.read_text(encoding="utf-8")
        skills.setdefault(skill_hash(text), text)
    summary_path = root / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else None
    return RunData(path=root, state=state, records=list(history), summary=summary, skills=skills)


def overview(run: RunData) -> dict[str, Any]:
    """The headline numbers: scores, steps, acceptance, LM use, time, stop reason, test scores if measured."""
    usage = run.state.usage or {}
    summary = run.summary or {}
    status = summary.get("stop_reason") or run.state.stop_reason
    if not status:
        status = "interrupted or still running (report of the last saved step)"
    return {
        "gate": run.gate,
        "baseline": run.state.baseline_val_score,
        "best": run.state.val_score,
        "steps": len(run.steps),
        "accepted": sum(1 for s in run.steps if s.accepted),
        "candidates": sum(1 for s in run.steps if s.gate is not None),
        "epochs": len(run.epochs),
        "lm_calls": dict(usage.get("lm_calls", {})),
        "tokens": dict(usage.get("tokens", {})),
        "metric_calls": int(usage.get("metric_calls", 0)),
        "faults": dict(usage.get("faults", {})),
        "seconds": run.state.elapsed_s,
        "status": status,
        "test": summary.get("test"),
        "lm": run.state.fingerprint.get("lm"),
        "reflection_lm": run.state.fingerprint.get("reflection_lm"),
    }


def _edit_row(step: StepRecord | None, epoch: int, edit: dict[str, Any], fate: str, kind: str) -> dict[str, Any]:
    return {
        "step": None if step is None else step.step + 1,
        "epoch": epoch + 1,
        "op": edit.get("op", ""),
        "target": edit.get("target", ""),
        "content": edit.get("content", ""),
        "rationale": edit.get("rationale", ""),
        "source": edit.get("source", ""),
        "support": edit.get("support", 1),
        "fate": fate,
        "kind": kind,  # accepted | rejected | dropped | skipped: the row's colour
    }


def step_edit_rows(step: StepRecord) -> list[dict[str, Any]]:
    """Every edit that reached select in this step, with its fate.

    Selected edits were applied or skipped (with the reason); applied ones share the gate's verdict on
    the candidate they made; the rest were dropped by select, each with its reason.
    """
    rows = []
    verdict, kind = ("accepted", "accepted") if step.accepted else ("rejected by the gate", "rejected")
    if step.carried:
        verdict = "not accepted but ahead on validation: carried, the epoch's next steps built on it"
    elif step.batch_changed == 0 and not step.accepted:
        verdict = "rejected by the gate: the candidate changed no answer of its batch"
    for report in step.apply_reports:
        if report["applied"] and step.examples_alone is not None:
            why = "turned down by the batch check with the worked examples, which were then judged alone"
            rows.append(_edit_row(step, step.epoch, report["edit"], f"selected, applied, {why}", "rejected"))
        elif report["applied"]:
            rows.append(_edit_row(step, step.epoch, report["edit"], f"selected, applied, {verdict}", kind))
        else:
            why = report.get("detail") or report.get("reason", "")
            rows.append(_edit_row(step, step.epoch, report["edit"], f"selected, not applied: {why}", "skipped"))
    for line in step.examples:  # added by the step from its batch's failures, not proposed by the LM
        example = {"op": "example", "target": "Worked examples", "content": line, "source": "training batch"}
        rows.append(_edit_row(step, step.epoch, example, f"worked example, {verdict}", kind))
    for dropped in step.dropped:
        rows.append(_edit_row(step, step.epoch, dropped["edit"], f"dropped: {dropped['reason']}", "dropped"))
    return rows


def merged_away(step: StepRecord) -> list[dict[str, Any]]:
    """Proposed edits that did not reach select as written (aggregation merged or reworded them)."""
    kept = {json.dumps(e, sort_keys=True) for e in step.aggregated}
    texts = {(e.get("op"), e.get("target"), e.get("content")) for e in step.aggregated}
    return [
        e
        for e in step.proposed
        if json.dumps(e, sort_keys=True) not in kept and (e.get("op"), e.get("target"), e.get("content")) not in texts
    ]


def edit_rows(run: RunData) -> list[dict[str, Any]]:
    """Every edit of the run in order: step edits with their fate, and each slow update's guidance."""
    rows: list[dict[str, Any]] = []
    for r in run.records:
        if isinstance(r, StepRecord):
            rows += step_edit_rows(r)
            for e in merged_away(r):
                rows.append(_edit_row(r, r.epoch, e, "proposed, merged into another edit by aggregate", "dropped"))
        elif r.slow_update and r.slow_update.get("guidance"):
            slow = r.slow_update
            gate = slow.get("gate")
            if gate is None:
                fate, kind = "not gated: no change to the skill, or too short to be a rule", "dropped"
            else:
                fate, kind = ("accepted", "accepted") if slow.get("accepted") else ("rejected by the gate", "rejected")
            edit = {
                "op": "replace",
                "target": "slow-update region",
                "content": slow["guidance"],
                "source": "slow update",
            }
            edit["rationale"] = _comparison_text(slow)
            rows.append(_edit_row(None, r.epoch, edit, fate, kind))
    return rows


def _comparison_text(slow: dict[str, Any]) -> str:
    keys = ("regressions", "improvements", "persistent_failures", "stable_successes")
    counts = ", ".join(f"{slow[k]} {k.replace('_', ' ')}" for k in keys if k in slow)
    return f"epoch-start vs current skill on {len(slow.get('samples', []))} training examples: {counts}"


def diff_lines(before: str, after: str) -> list[tuple[str, str]]:
    """A unified diff as ``(kind, line)`` pairs; kind is ``add``, ``del``, ``hunk`` or ``ctx``."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", n=2, lineterm="")
    out = []
    for line in list(lines)[2:]:  # the ---/+++ header says nothing the section title does not
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        out.append((kind, line))
    return out


def accepted_diffs(run: RunData) -> list[dict[str, Any]]:
    """The skill diff of every accepted step and every accepted slow update, in order."""
    out = []
    for r in run.records:
        accepted = r.accepted if isinstance(r, StepRecord) else bool(r.slow_update and r.slow_update.get("accepted"))
        if not accepted:
            continue
        before, after = run.skill_before(r), run.skill_after(r)
        title = (
            f"step {r.step + 1} (epoch {r.epoch + 1})"
            if isinstance(r, StepRecord)
            else f"slow update, epoch {r.epoch + 1}"
        )
        gate = r.gate if isinstance(r, StepRecord) else r.slow_update["gate"]
        missing = before is None or after is None
        out.append(
            {
                "title": title,
                "scores": (gate["incumbent_score"], gate["candidate_score"]),
                "lines": [] if missing else diff_lines(before, after),
                "missing": "the skill text is not in the run directory (skills/ was cleared)" if missing else "",
            }
        )
    return out


def gate_rows(run: RunData) -> list[dict[str, Any]]:
    """Every gate decision (steps and slow updates) with both scores and any statistics the gate added."""
    rows = []
    base = {"accepted", "incumbent_score", "candidate_score", "mode", "reason"}
    for r in run.records:
        gate = r.gate if isinstance(r, StepRecord) else (r.slow_update or {}).get("gate")
        if not gate:
            continue
        rows.append(
            {
                "where": f"step {r.step + 1}" if isinstance(r, StepRecord) else f"slow update {r.epoch + 1}",
                "epoch": r.epoch + 1,
                "incumbent": gate["incumbent_score"],
                "candidate": gate["candidate_score"],
                "accepted": gate["accepted"],
                "reason": gate.get("reason", ""),
                "extra": {k: v for k, v in gate.items() if k not in base and v is not None},
            }
        )
    return rows


def stage_rows(run: RunData) -> list[dict[str, Any]]:
    """LM calls, tokens, metric calls and seconds per stage over the run, plus what no stage accounts for
    (the baseline validation before the first step, checkpoints)."""
    totals: dict[str, dict[str, float]] = {}
    for r in run.records:
        for stage, row in (r.stages or {}).items():
            acc = totals.setdefault(stage, {"lm_calls": 0, "tokens": 0, "metric_calls": 0, "seconds": 0.0})
            for k in acc:
                acc[k] += row.get(k, 0)
    usage = run.state.usage or {}
    whole = {
        "lm_calls": sum(usage.get("lm_calls", {}).values()),
        "tokens": sum(usage.get("tokens", {}).values()),
        "metric_calls": usage.get("metric_calls", 0),
        "seconds": run.state.elapsed_s,
    }
    rest = {k: max(0, whole[k] - sum(t[k] for t in totals.values())) for k in whole}
    ordered = sorted(totals, key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER))
    rows = [{"stage": BASELINE, **rest}] + [{"stage": s, **totals[s]} for s in ordered]
    return [*rows, {"stage": "total", **whole}]


def candidate_rows(run: RunData) -> list[dict[str, Any]]:
    """Every validated candidate as in ``detailed_results``: source, parent, score, examples scored, verdict."""
    fields = gepa_fields(run.state.candidates, run.state.val_scores, mode=run.gate, mixed_weight=run.mixed_weight)
    rows = []
    for i, info in enumerate(fields["candidate_info"]):
        rows.append(
            {
                "index": i,
                **info,
                "parent": fields["parents"][i][0],
                "score": fields["val_aggregate_scores"][i],
                "scored": len(fields["val_subscores"][i]),
                "metric_calls": fields["discovery_eval_counts"][i],
            }
        )
    return rows
