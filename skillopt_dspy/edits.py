"""Structured edits to a skill and their pure application, with one report per edit.

An :class:`Edit` is what the reflection LM proposes (``add`` / ``insert_after`` / ``replace`` / ``delete``).
:func:`apply_edits` applies a list of them in order and never drops one silently: each gets an
:class:`ApplyReport` that says it was applied, or why it was skipped. Targets match exactly first, then
whitespace-insensitively when that match is unique; an ambiguous target is skipped, never guessed.

Example:
    >>> result = apply_edits("# Rules\\n- Be brief.\\n", [Edit(op="add", target="Rules", content="- Cite sources.")])
    >>> print(result.text)
    # Rules
    - Be brief.
    - Cite sources.
    <BLANKLINE>
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from skillopt_dspy.skill import MARKER_PREFIX, overlaps_protected, protected_regions

EditOp = Literal["add", "insert_after", "replace", "delete"]
EditSource = Literal["failure", "success", "user"]

_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_EMPTY_HEADING_RE = re.compile(r"^#{1,6}[ \t]*$", re.M)


class Edit(BaseModel):
    """One proposed change to the skill.

    ``target`` is exact text of the skill for ``insert_after`` / ``replace`` / ``delete``, and a section
    heading (or empty, for the end of the skill) for ``add``. ``support`` counts how many reflections
    proposed it (after aggregation); ``source`` says which analyst did.
    """

    model_config = ConfigDict(frozen=True)

    op: EditOp
    target: str = ""
    content: str = ""
    rationale: str = ""
    support: int = Field(default=1, ge=1)
    source: EditSource = "failure"

    def key(self) -> str:
        """A normalized identity used to find duplicates and previously rejected edits."""
        return "\x1f".join([self.op, squash(self.target), squash(self.content)])

    def describe(self, clip: int = 160) -> str:
        """A one-line human-readable form, used in prompts and logs; ``clip``: the most content shown."""
        target = _clip(self.target, 80)
        content = _clip(self.content, clip)
        if self.op == "delete":
            return f'delete "{target}"'
        if self.op == "add":
            where = f'under "{target}"' if target else "at the end"
            return f'add {where}: "{content}"'
        return f'{self.op} "{target}" -> "{content}"'


HINT_CLIP = 400  # the most characters of a rejected edit's content the reflection prompt shows


class RejectedEdit(BaseModel):
    """An edit of a candidate the gate turned down, with when and the validation scores before and after.

    The rejected-edit buffer is a hint to the reflection LM, not a ban: the edit was judged together with
    the other edits of its candidate.
    """

    model_config = ConfigDict(frozen=True)

    edit: Edit
    step: int = -1
    epoch: int = -1
    incumbent_score: float | None = None
    candidate_score: float | None = None
    scored_on: str = "validation"  # or "training batch": the batch check turned the candidate down
    changed: int | None = None  # batch check: how many of the batch's answers the candidate changed

    def describe(self) -> str:
        """The edit and its scores on one line, for the reflection prompt.

        The content is shown whole up to ``HINT_CLIP`` characters: the 1.5B analysts copied edits clipped
        with "…" into new proposals, clip mark and score annotation included. An edit the batch check turned
        down says how many of the batch's answers its candidate changed: none means the program did not act
        on it (the 1.5B date analysts restated the task; five of eight such candidates changed no answer).

        Example:
            >>> edit = Edit(op="add", content="Use YYYY-MM-DD.")
            >>> RejectedEdit(edit=edit, step=0, incumbent_score=0.5, candidate_score=0.5,
            ...              scored_on="training batch", changed=0).describe()
            '- add at the end: "Use YYYY-MM-DD." [step 1: training batch tied 0.500 -> 0.500; it changed no answer]'
        """
        if self.incumbent_score is not None and self.candidate_score is None:  # racing stopped it before a call
            why = f"not scored, validation {self.incumbent_score:.3f} cannot be beaten"
            return f"- {self.edit.describe(HINT_CLIP)} [step {self.step + 1}: {why}]"
        if self.incumbent_score is None or self.candidate_score is None:
            return f"- {self.edit.describe(HINT_CLIP)}"
        if self.candidate_score > self.incumbent_score:  # the paired gate can turn down a rise it cannot trust
            verdict = "rose, not significantly:"
        else:
            verdict = "tied" if self.candidate_score == self.incumbent_score else "fell"
        scores = f"{self.incumbent_score:.3f} -> {self.candidate_score:.3f}"
        if self.changed is not None:  # an edit that changes no answer cannot fix one: say so
            n = self.changed
            scores += "; it changed no answer" if n == 0 else f"; it changed {n} answer{'s' if n > 1 else ''}"
        return f"- {self.edit.describe(HINT_CLIP)} [step {self.step + 1}: {self.scored_on} {verdict} {scores}]"


class Patch(BaseModel):
    """A list of edits with the reasoning behind them and where they came from."""

    edits: list[Edit] = Field(default_factory=list)
    reasoning: str = ""
    source: str = "failure"


SkipReason = Literal[
    "target_not_found", "target_ambiguous", "protected", "empty", "no_change", "marker_in_content", "breaks_heading"
]


@dataclass(frozen=True)
class ApplyReport:
    """What happened to one edit: ``applied``, or skipped with ``reason`` and a human ``detail``."""

    edit: Edit
    applied: bool
    reason: str = "applied"
    detail: str = ""

    def to_dict(self) -> dict:
        return {"edit": self.edit.model_dump(), "applied": self.applied, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class ApplyResult:
    """The text after applying a list of edits, and one report per edit, in order."""

    text: str
    reports: tuple[ApplyReport, ...]

    @property
    def applied(self) -> list[Edit]:
        return [r.edit for r in self.reports if r.applied]

    @property
    def skipped(self) -> list[ApplyReport]:
        return [r for r in self.reports if not r.applied]


def squash(s: str) -> str:
    """``s`` lower-cased with runs of whitespace made one space: the form edit texts are compared in."""
    return " ".join(s.split()).lower()


def _clip(s: str, n: int) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def target_pattern(target: str) -> str:
    """The regex that finds ``target`` in a text whatever whitespace separates its words."""
    return r"\s+".join(re.escape(t) for t in target.split())


def line_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the line(s) holding ``text[start:end]`` begin and end (the end before their newline, if any)."""
    line_end = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if line_end == -1 else line_end


def find_target(text: str, target: str) -> tuple[str, tuple[int, int] | None]:
    """Locate ``target`` in ``text``: ``("ok", span)``, or ``("target_ambiguous" | "target_not_found", None)``.

    Exact match first; if there is none, a whitespace-insensitive match is used only when it is unique.
    """
    if text.count(target) == 1:
        i = text.find(target)
        return "ok", (i, i + len(target))
    if text.count(target) > 1:
        return "target_ambiguous", None
    matches = list(re.finditer(target_pattern(target), text))
    if len(matches) == 1:
        return "ok", matches[0].span()
    if len(matches) > 1:
        return "target_ambiguous", None
    return "target_not_found", None


def _append_point(text: str) -> int:
    """Where ``add`` without a usable heading goes: the end, before any trailing protected regions."""
    point = len(text)
    for r in reversed(protected_regions(text)):
        if text[r.end : point].strip() == "":
            point = r.start
        else:
            break
    return point


def _insert_block(text: str, point: int, block: str) -> str:
    before, after = text[:point], text[point:]
    before = before.rstrip("\n")
    sep_before = "\n" if before else ""
    sep_after = "\n\n" if after.strip() else "\n"
    return f"{before}{sep_before}{block.strip(chr(10))}{sep_after}{after.lstrip(chr(10))}"


def _headings(text: str) -> list[tuple[int, int, int, str]]:
    """(start, end, level, title) of headings outside protected regions."""
    found = []
    for m in _HEADING_RE.finditer(text):
        if not overlaps_protected(text, m.start(), m.end()):
            found.append((m.start(), m.end(), len(m.group(1)), m.group(2).strip()))
    return found


def _apply_add(text: str, edit: Edit) -> tuple[str | None, str, str]:
    title = edit.target.strip().lstrip("#").strip()
    if not title:
        return _insert_block(text, _append_point(text), edit.content), "applied", "appended at the end"
    headings = _headings(text)
    hits = [h for h in headings if h[3].lower() == title.lower()]
    if len(hits) > 1:
        return None, "target_ambiguous", f"{len(hits)} sections are titled {title!r}"
    if not hits:
        level = "#" * (2 if not headings or headings[0][2] == 1 else headings[0][2])
        block = f"{level} {title}\n{edit.content.strip(chr(10))}"
        return _insert_block(text, _append_point(text), block), "applied", f"new section {title!r}"
    start = hits[0][0]
    end = _append_point(text)
    # The section's own body ends at the next heading of any level (before its subsections).
    for h_start, _, _, _ in headings:
        if h_start > start:
            end = min(end, h_start)
            break
    for r in protected_regions(text):
        if r.start > start:
            end = min(end, r.start)
            break
    return _insert_block(text, end, edit.content), "applied", f"appended to section {title!r}"


def _apply_one(text: str, edit: Edit) -> tuple[str | None, str, str]:
    if MARKER_PREFIX in edit.content or MARKER_PREFIX in edit.target:
        return None, "marker_in_content", "edits may not contain skillopt markers"
    if edit.op in ("add", "insert_after", "replace") and not edit.content.strip():
        return None, "empty", f"{edit.op} needs content"
    if edit.op == "add":
        return _apply_add(text, edit)
    if not edit.target.strip():
        return None, "empty", f"{edit.op} needs a target"
    status, span = find_target(text, edit.target)
    if span is None:
        return None, status, f"target {_clip(edit.target, 60)!r}"
    start, end = span
    if overlaps_protected(text, start, end):
        return None, "protected", "the target is inside a protected region"
    if edit.op == "replace":
        return text[:start] + edit.content.strip("\n") + text[end:], "applied", ""
    if edit.op == "insert_after":
        line_end = text.find("\n", end)
        point = len(text) if line_end == -1 else line_end + 1
        if overlaps_protected(text, point, point):
            return None, "protected", "the insertion point is inside a protected region"
        block = edit.content.strip("\n") + "\n"
        prefix = text[:point] if text[:point].endswith("\n") or not text[:point] else text[:point] + "\n"
        return prefix + block + text[point:], "applied", ""
    # delete: drop whole lines when the target covers them, else just the span
    line_start, line_end = line_span(text, start, end)
    if text[line_start:start].strip() == "" and text[end:line_end].strip() == "":
        return text[:line_start] + text[min(line_end + 1, len(text)) :], "applied", "whole lines removed"
    return text[:start] + text[end:], "applied", ""


def apply_edits(text: str, edits: list[Edit]) -> ApplyResult:
    """Apply ``edits`` to ``text`` in order; pure. Returns the new text and one report per edit.

    A skipped edit leaves the text unchanged, and protected regions are byte-identical afterwards.
    """
    regions_before = [text[r.start : r.end] for r in protected_regions(text)]
    reports = []
    for edit in edits:
        new_text, reason, detail = _apply_one(text, edit)
        if new_text is not None and new_text == text:
            new_text, reason, detail = None, "no_change", "the edit would not change the skill"
        if new_text is not None and [new_text[r.start : r.end] for r in protected_regions(new_text)] != regions_before:
            new_text, reason, detail = None, "protected", "the edit would change a protected region"
        if new_text is not None and len(_EMPTY_HEADING_RE.findall(new_text)) > len(_EMPTY_HEADING_RE.findall(text)):
            # e.g. ``delete`` with target "Rules" matching inside "## Rules": the section would lose its title
            new_text, reason, detail = None, "breaks_heading", "the edit would leave a heading with no title"
        if new_text is None:
            reports.append(ApplyReport(edit, False, reason, detail))
        else:
            text = new_text
            reports.append(ApplyReport(edit, True, "applied", detail))
    return ApplyResult(text, tuple(reports))
