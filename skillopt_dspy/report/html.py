"""The report as one self-contained HTML page: inline CSS, figures as base64 PNG, no JavaScript.

Example:
    >>> from skillopt_dspy.report.data import load_run
    >>> page = render(load_run("runs/x"))  # doctest: +SKIP
    >>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from skillopt_dspy.report import plots
from skillopt_dspy.report.data import (
    RunData,
    accepted_diffs,
    candidate_rows,
    edit_rows,
    gate_rows,
    overview,
    stage_rows,
)
from skillopt_dspy.significance import describe_gain

CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;max-width:1180px;
 margin:24px auto;padding:0 16px}
h1{font-size:24px;margin-bottom:4px} h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}
.muted{color:#57606a} code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px;white-space:pre-wrap;
 word-break:break-word;margin:4px 0}
table{border-collapse:collapse;width:100%;margin:8px 0} th,td{border:1px solid #d0d7de;padding:4px 6px;
 text-align:left;vertical-align:top} th{background:#f6f8fa} td.num{text-align:right;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0} .card{border:1px solid #d0d7de;border-radius:6px;
 padding:8px 12px;min-width:130px} .card b{display:block;font-size:20px}
img{max-width:100%;border:1px solid #d0d7de;border-radius:6px;margin:6px 0}
.diff{border:1px solid #d0d7de;border-radius:6px;margin:8px 0 16px} .diff h3{margin:0;padding:6px 10px;
 background:#f6f8fa;font-size:14px;border-bottom:1px solid #d0d7de}
.diff pre{border:0;margin:0;padding:0 8px;background:none;border-radius:0}
.diff pre.add{background:#dafbe1} .diff pre.del{background:#ffebe9} .diff pre.hunk{color:#8250df;margin-top:4px}
.diff pre.ctx{color:#57606a} table.edits{table-layout:fixed} table.edits pre{margin:2px 0 0}
tr.accepted td.fate{background:#dafbe1} tr.rejected td.fate{background:#ffebe9}
tr.skipped td.fate{background:#fff8c5} tr.dropped td.fate{color:#57606a}
.yes{color:#1a7f37;font-weight:600} .no{color:#cf222e;font-weight:600}
details{margin:6px 0} summary{cursor:pointer;color:#0969da}
"""


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _table(
    headers: list[str], rows: list[list[str]], classes: list[str] | None = None, widths: list[int] | None = None
) -> str:
    """A table; ``widths`` in percent fixes the column layout (long cells wrap instead of widening)."""
    if widths:
        cols = "".join(f'<col style="width:{w}%">' for w in widths)
        head = f"<colgroup>{cols}</colgroup><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers)
        return f'<table class="edits">{head}</tr></thead><tbody>{_rows(rows, classes)}</tbody></table>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{_rows(rows, classes)}</tbody></table>"


def _rows(rows: list[list[str]], classes: list[str] | None) -> str:
    body = []
    for i, cells in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return "".join(body)


def _td(text: Any, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{text}</td>"


def _by_role(counts: dict[str, Any]) -> str:
    if not counts:
        return "0"
    return ", ".join(f"{escape(k)} {_num(v)}" for k, v in sorted(counts.items(), key=lambda kv: kv[0] != "target"))


def _figure(png: str | None, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{png}">' if png else ""


def _overview(run: RunData) -> str:
    o = overview(run)
    cards = [
        ("baseline → best", f"{o['baseline']:.3f} → {o['best']:.3f}"),
        ("steps", f"{o['steps']}"),
        ("accepted / candidates", f"{o['accepted']} / {o['candidates']}"),
        ("epochs finished", f"{o['epochs']}"),
        ("LM calls", f"{sum(o['lm_calls'].values()):,}"),
        ("tokens", f"{sum(o['tokens'].values()):,}"),
        ("metric calls", f"{o['metric_calls']:,}"),
        ("training time", f"{o['seconds']:.1f} s"),
    ]
    html = '<div class="cards">' + "".join(f'<div class="card"><b>{escape(v)}</b>{escape(k)}</div>' for k, v in cards)
    html += "</div><ul>"
    html += f"<li>Gate: <b>{escape(o['gate'])}</b> (every score in this report is in its measure)</li>"
    html += f"<li>Status: {escape(str(o['status']))}</li>"
    html += f"<li>Target LM: <code>{escape(str(o['lm']))}</code>; reflection LM: "
    html += f"<code>{escape(str(o['reflection_lm']))}</code></li>"
    html += f"<li>LM calls by role: {_by_role(o['lm_calls'])}; tokens by role: {_by_role(o['tokens'])}</li>"
    html += f"<li>Faults: {_by_role(o['faults']) if o['faults'] else 'none'}"
    errors = [(s.step + 1, e) for s in run.steps for e in s.errors]
    if errors:  # reflection / aggregation failures: the step went on without those edits
        items = "".join(f"<li>step {n}: {escape(e)}</li>" for n, e in errors)
        html += f"<details><summary>{len(errors)} reflection or aggregation error(s) in steps</summary>"
        html += f"<ul>{items}</ul></details>"
    html += "</li>"
    test = o["test"]
    if test:
        before, after = test["without_skill"], test["with_skill"]
        html += (
            f"<li>Test split ({after['examples']} examples): accuracy {before['accuracy']:.3f} without the skill → "
            f"<b>{after['accuracy']:.3f}</b> with it (soft score {before['soft_score']:.3f} → "
            f"{after['soft_score']:.3f})</li>"
        )
        for measure, gain in test.get("gain", {}).items():  # paired, example by example
            html += f"<li>Test gain, {escape(measure.replace('_', ' '))}: {escape(describe_gain(gain))}</li>"
    return html + "</ul>"


def _diffs(run: RunData) -> str:
    diffs = accepted_diffs(run)
    if not diffs:
        return "<p class='muted'>No step was accepted: the skill did not change.</p>"
    parts = []
    for d in diffs:
        old, new = d["scores"]
        body = (
            "".join(f'<pre class="{kind}">{escape(line) or " "}</pre>' for kind, line in d["lines"])
            or f"<p class='muted'>{escape(d['missing'] or 'no textual change')}</p>"
        )
        title = f"{escape(d['title'])}: validation {_num(old)} → {_num(new)}"
        parts.append(f'<div class="diff"><h3>{title}</h3>{body}</div>')
    return "".join(parts)


def _gates(run: RunData) -> str:
    rows, classes = [], []
    for g in gate_rows(run):
        extra = "; ".join(f"{escape(k)}={_num(v)}" for k, v in g["extra"].items())
        verdict = '<span class="yes">accepted</span>' if g["accepted"] else '<span class="no">rejected</span>'
        rows.append(
            [
                _td(escape(g["where"])),
                _td(g["epoch"], "num"),
                _td(_num(g["incumbent"]), "num"),
                _td(_num(g["candidate"]), "num"),
                _td(verdict),
                _td(escape(g["reason"])),
                _td(extra or "–"),
            ]
        )
        classes.append("")
    if not rows:
        return "<p class='muted'>No candidate reached the gate.</p>"
    headers = ["decision", "epoch", "current skill", "candidate", "verdict", "reason", "statistics"]
    return _table(headers, rows, classes)


def _edits(run: RunData) -> str:
    rows, classes = [], []
    for e in edit_rows(run):
        where = f"step {e['step']}" if e["step"] is not None else "epoch end"
        change = f"<code>{escape(e['op'])}</code>"
        if e["target"]:
            change += f" at <i>{escape(e['target'][:200])}</i>"
        rows.append(
            [
                _td(f"{where}<br><span class='muted'>epoch {e['epoch']}</span>"),
                _td(escape(e["source"] or "–")),
                _td(change + f"<pre>{escape(e['content'])}</pre>"),
                _td(escape(e["rationale"]) or "<span class='muted'>–</span>"),
                _td(e["support"], "num"),
                _td(escape(e["fate"]), "fate"),
            ]
        )
        classes.append(e["kind"])
    if not rows:
        return "<p class='muted'>No edit was proposed.</p>"
    headers = ["where", "source", "edit", "rationale", "support", "fate"]
    return _table(headers, rows, classes, widths=[8, 8, 44, 20, 6, 14])


def _slow_updates(run: RunData) -> str:
    parts = []
    for r in run.epochs:
        slow = r.slow_update
        head = f"<h3>Epoch {r.epoch + 1}</h3>"
        if not slow:
            parts.append(head + "<p class='muted'>Slow update disabled.</p>")
            continue
        counts = ", ".join(
            f"{slow.get(k, 0)} {k.replace('_', ' ')}"
            for k in ("regressions", "improvements", "persistent_failures", "stable_successes")
        )
        gate = slow.get("gate")
        if slow.get("error"):
            verdict = f"failed: {escape(slow['error'])}"
        elif gate:
            word = '<span class="yes">accepted</span>' if gate["accepted"] else '<span class="no">rejected</span>'
            verdict = f"{word}: {escape(gate['reason'])}"
        else:
            verdict = "not gated (no usable guidance, or no change to the skill)"
        guidance = slow.get("guidance") or ""
        parts.append(
            head
            + f"<p>Compared on {len(slow.get('samples', []))} training examples: {escape(counts)}. Verdict: {verdict}."
            + (f" {slow['copied_lines_dropped']} copied line(s) dropped." if slow.get("copied_lines_dropped") else "")
            + "</p>"
            + (f"<pre>{escape(guidance)}</pre>" if guidance else "<p class='muted'>No guidance written.</p>")
        )
        if r.meta_skill:
            parts.append(f"<details><summary>Meta-skill after epoch {r.epoch + 1}</summary>")
            parts.append(f"<pre>{escape(r.meta_skill)}</pre></details>")
    return "".join(parts) or "<p class='muted'>No epoch finished yet.</p>"


def _stages(run: RunData) -> str:
    rows = []
    for r in stage_rows(run):
        name = f"<b>{escape(r['stage'])}</b>" if r["stage"] == "total" else escape(r["stage"])
        cells = [_td(name)] + [_td(_num(int(r[k])), "num") for k in ("lm_calls", "tokens", "metric_calls")]
        rows.append([*cells, _td(f"{r['seconds']:.2f}", "num")])
    note = (
        "<p class='muted'>The first row is what no stage of a step or epoch boundary accounts for: the LM and "
        "metric calls of the baseline validation, and in seconds only checkpointing, since the training clock "
        "starts after the baseline validation.</p>"
    )
    return _table(["stage", "LM calls", "tokens", "metric calls", "seconds"], rows) + note


def _candidates(run: RunData) -> str:
    rows = []
    for c in candidate_rows(run):
        if c["source"] == "step":
            where = f"step {c['step'] + 1}"
        elif c["source"] == "slow_update":
            where = f"slow update, epoch {c['epoch'] + 1}"
        else:
            where = "initial skill"
        verdict = {True: '<span class="yes">yes</span>', False: '<span class="no">no</span>'}.get(c["accepted"], "–")
        rows.append(
            [
                _td(c["index"], "num"),
                _td(escape(where)),
                _td(_num(c["parent"])),
                _td(_num(c["score"]) if c["scored"] else "–", "num"),
                _td(f"{c['scored']}", "num"),
                _td(verdict),
                _td(_num(c["metric_calls"]), "num"),
            ]
        )
    if not rows:
        return "<p class='muted'>This run directory predates the candidate list.</p>"
    headers = ["idx", "source", "parent", "val score", "examples scored", "accepted", "metric calls so far"]
    return _table(headers, rows)


def render(run: RunData) -> str:
    """The whole report page for ``run``."""
    edits_png = plots.edits_figure(run)
    sections = [
        ("Overview", _overview(run)),
        (
            "Scores",
            _figure(plots.scores_figure(run), "validation and train score per step")
            + _figure(edits_png, "edits per step"),
        ),
        ("Accepted changes to the skill", _diffs(run)),
        ("Gate decisions", _gates(run)),
        ("Every edit and its fate", _edits(run)),
        ("Slow update per epoch", _slow_updates(run)),
        ("LM calls, tokens and time per stage", _figure(plots.stages_figure(run), "cost per stage") + _stages(run)),
        ("Candidates (as in detailed_results)", _candidates(run)),
        ("Final skill", f"<pre>{escape(run.state.skill) or '(empty)'}</pre>"),
    ]
    toc = " · ".join(f'<a href="#s{i}">{escape(t)}</a>' for i, (t, _) in enumerate(sections))
    body = "".join(f'<h2 id="s{i}">{escape(t)}</h2>{html}' for i, (t, html) in enumerate(sections))
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>SkillOpt run report: {escape(run.path.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>SkillOpt run report</h1><p class='muted'><code>{escape(str(run.path))}</code> · generated "
        f"{generated}</p><p>{toc}</p>{body}</body></html>\n"
    )
