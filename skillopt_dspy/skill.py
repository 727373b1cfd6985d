"""The skill document: Markdown text, its protected regions, and how it is baked into a program.

A skill is plain Markdown. Protected regions are delimited by HTML-comment markers and can only be
rewritten by the epoch-level slow update; step-level edits never touch them. Inside a DSPy program the
skill lives in each targeted predictor's instructions between two markers, always rebuilt from the
pristine base instructions, so applying a skill twice never stacks.

Example:
    >>> text = write_region("# Rules\\n- Be brief.\\n", "slow-update", "Prefer short rules.")
    >>> read_region(text, "slow-update")
    'Prefer short rules.'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import dspy

SKILL_BEGIN = "<!-- skillopt:skill:begin -->"
SKILL_END = "<!-- skillopt:skill:end -->"
MARKER_PREFIX = "<!-- skillopt:"
SLOW_UPDATE_REGION = "slow-update"

_PROTECTED_BEGIN = "<!-- skillopt:protected:begin {name} -->"
_PROTECTED_END = "<!-- skillopt:protected:end {name} -->"
_MARKER_RE = re.compile(r"<!-- skillopt:protected:(begin|end) ([A-Za-z0-9_.-]+) -->")
_SKILL_BLOCK_RE = re.compile(r"\n*" + re.escape(SKILL_BEGIN) + r"\n?(.*?)\n?" + re.escape(SKILL_END) + r"\n*", re.S)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Region:
    """A protected region: ``start``/``end`` span both markers; ``inner_*`` spans the content."""

    name: str
    start: int
    end: int
    inner_start: int
    inner_end: int


def protected_regions(text: str) -> list[Region]:
    """Return the protected regions of ``text`` in order.

    An unclosed begin marker protects everything to the end of the text and a stray end marker protects
    itself, so that no edit can ever remove or split a marker.
    """
    regions: list[Region] = []
    open_name: str | None = None
    open_start = open_inner = 0
    for m in _MARKER_RE.finditer(text):
        kind, name = m.group(1), m.group(2)
        if kind == "begin" and open_name is None:
            open_name, open_start, open_inner = name, m.start(), m.end()
        elif kind == "end" and open_name == name:
            regions.append(Region(name, open_start, m.end(), open_inner, m.start()))
            open_name = None
        elif open_name is None:  # stray end marker
            regions.append(Region(name, m.start(), m.end(), m.end(), m.end()))
    if open_name is not None:
        regions.append(Region(open_name, open_start, len(text), open_inner, len(text)))
    return regions


def overlaps_protected(text: str, start: int, end: int) -> bool:
    """True when the span ``[start, end)`` touches a protected region or one of its markers."""
    for r in protected_regions(text):
        if start < r.end and end > r.start:
            return True
        if start == end and r.start < start < r.end:  # an insertion point inside a region
            return True
    return False


def read_region(text: str, name: str) -> str | None:
    """Return the content of protected region ``name`` (stripped), or None when it does not exist."""
    for r in protected_regions(text):
        if r.name == name:
            return text[r.inner_start : r.inner_end].strip("\n")
    return None


def write_region(text: str, name: str, content: str) -> str:
    """Return ``text`` with protected region ``name`` holding ``content`` (created at the end if absent).

    The slow update and the worked examples (:mod:`skillopt_dspy.stages.examples`) call this; step-level edits go
    through :func:`skillopt_dspy.edits.apply_edits`.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"region name {name!r} must match {_NAME_RE.pattern}")
    if MARKER_PREFIX in content:
        raise ValueError("region content must not contain skillopt markers")
    body = content.strip("\n")
    block = f"{_PROTECTED_BEGIN.format(name=name)}\n{body}\n{_PROTECTED_END.format(name=name)}"
    for r in protected_regions(text):
        if r.name == name:
            return text[: r.start] + block + text[r.end :]
    base = text.rstrip("\n")
    return f"{base}\n\n{block}\n" if base else f"{block}\n"


def normalize_skill(text: str) -> str:
    """The canonical form of a skill text: no surrounding blank lines, one final newline (``""`` if empty)."""
    text = text.strip("\n").rstrip()
    return f"{text}\n" if text.strip() else ""


def skill_hash(text: str) -> str:
    """A short stable hash of a skill text (trailing whitespace on lines and at the end ignored)."""
    normalized = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:16]


def compose_instructions(base: str, skill: str) -> str:
    """Return ``base`` instructions with ``skill`` appended between skill markers (no block if empty)."""
    base = strip_skill(base)
    if not skill.strip():
        return base
    return f"{base.rstrip()}\n\n{SKILL_BEGIN}\n{skill.strip()}\n{SKILL_END}"


def strip_skill(instructions: str) -> str:
    """Return the pristine base instructions: ``instructions`` without any skill block."""
    return _SKILL_BLOCK_RE.sub("\n\n", instructions).strip()


def skill_in(instructions: str) -> str | None:
    """Return the skill baked into ``instructions``, or None when there is none."""
    m = _SKILL_BLOCK_RE.search(instructions)
    return m.group(1).strip() if m else None


def _select_predictors(program: dspy.Module, predictors: Iterable[str] | None) -> list[tuple[str, dspy.Predict]]:
    named = list(program.named_predictors())
    if not named:
        raise ValueError(f"{type(program).__name__} has no dspy.Predict inside it: there is nothing to put a skill in")
    if predictors is None:
        return named
    wanted = [predictors] if isinstance(predictors, str) else list(predictors)
    chosen = []
    for want in wanted:
        hits = [(n, p) for n, p in named if n == want or n.startswith(want + ".")]
        if not hits:
            names = ", ".join(n for n, _ in named)
            raise ValueError(f"predictors= names {want!r}, which is not in the program; its predictors are: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def apply_skill(program: dspy.Module, skill: str, predictors: Iterable[str] | None = None) -> dspy.Module:
    """Bake ``skill`` into the instructions of ``program``'s predictors, in place, and return ``program``.

    The signature is rebuilt from the pristine base instructions with ``with_instructions`` (never assigned
    in place: signature classes are shared between deep copies), so applying twice replaces, never stacks.

    Example:
        >>> prog = dspy.Predict("question -> answer")
        >>> _ = apply_skill(prog, "- Answer in one word.")
        >>> extract_skill(prog)
        '- Answer in one word.\\n'
    """
    for _, pred in _select_predictors(program, predictors):
        base = strip_skill(pred.signature.instructions)
        pred.signature = pred.signature.with_instructions(compose_instructions(base, skill))
    return program


def extract_skill(program: dspy.Module) -> str:
    """Return the skill baked into ``program`` (the first predictor that has one), or ``""``."""
    for _, pred in program.named_predictors():
        found = skill_in(pred.signature.instructions)
        if found is not None:
            return normalize_skill(found)
    return ""
