"""Small-model guards: the one place for filters that exist because small reflection models misbehave.

Measured on the embedded 0.5B and 1.5B models: they copy text from the reflection prompt into the skill
(once the worked example of another task, now possibly the rule template's placeholders; whole invoices
from the evidence; the task's field list) and answer with bare fragments (a single label as a "rule").
Each guard here drops only what no capable model writes — a literal copy of the prompt's template, a
one-word addition, a long verbatim stretch of an example's input or of the task description, an edit that
ends where the rejected-edit hint clipped it with "…" — so a valid edit is never lost; every drop keeps its
reason in the step's history. Four repair instead of dropping, where reflect and aggregate read the LM's
edits (:func:`repaired_fields`): an edit's text that ends in a decoding loop (one clause again and again up
to the schema's length limit, or a sentence said three times) keeps a single copy (:func:`cut_loop`,
:func:`cut_repeats`), copies of the hint's score
annotations are taken out (:func:`strip_hint_marks`), an added rule whose heading is the rule again
goes under no heading, and a ``replace`` of a word inside a rule by a whole rule replaces the rule's line
(:func:`rule_line_target`). Two only rank, for select: a rule quoting a value of one example
(:func:`one_example_value`) and an edit that only repeats this epoch's rejected edits
(:func:`repeats_rejected`) come after the others.

Example:
    >>> from skillopt_dspy.edits import Edit
    >>> small_model_problem(Edit(op="add", content="billing"))
    'a fragment, not a rule: one word added'
    >>> small_model_problem(Edit(op="replace", target="label is FOO", content="label is BAR")) is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from skillopt_dspy.edits import Edit, find_target, line_span, squash, target_pattern
from skillopt_dspy.lm.backend import looping
from skillopt_dspy.signatures import RULE_TEMPLATE

# The template's placeholders, as they appear in the prompt (a copy keeps at least one of them).
_PLACEHOLDERS = tuple(squash(p) for p in re.findall(r"<[^>]+>", RULE_TEMPLATE))


# A stretch of this many characters (whitespace squashed) copied from one input is pasted text, not a rule:
# a rule quotes a cue (a word, a phrase, a line), never a paragraph of one example.
PASTE_MIN_CHARS = 100


def pasted_from(content: str, sources: Sequence[str], min_chars: int = PASTE_MIN_CHARS) -> int | None:
    """The index of the first source ``content`` copies ``min_chars`` consecutive characters of, or None.

    Example:
        >>> doc = "Vendor: Nordlicht Software GmbH. Invoice Number: A99676. Issued: 2024-04-30. Bill to: Vela."
        >>> pasted_from("Dates: " + doc, [doc * 2], min_chars=60)
        0
        >>> pasted_from("Drop the legal form (GmbH, Inc.) from the vendor.", [doc], min_chars=20) is None
        True
    """
    text = squash(content)
    if len(text) < min_chars:
        return None
    squashed = _squashed(tuple(sources))
    for start in range(len(text) - min_chars + 1):
        window = text[start : start + min_chars]
        for i, source in enumerate(squashed):
            if window in source:
                return i
    return None


# An edit's text that ends in this many copies of one unit of at least LOOP_UNIT_MIN_CHARS characters
# looped: a greedy small model repeated itself until the schema's maxLength cut the string.
LOOP_UNIT_MIN_CHARS = 8
LOOP_MIN_CHARS = 60


def cut_loop(text: str) -> str:
    """``text`` with a repeated tail written once: what a small model meant before its decoding looped.

    Measured on the 1.5B model: `add` edits whose content ran ``total='183.43', currency='GBP', `` again
    and again to the 600-character limit. No capable model ends a rule with the same clause four times, so
    keeping one copy loses nothing it wrote; text without such a tail comes back unchanged.

    Example:
        >>> cut_loop("Dates are ISO. " + "Totals are plain numbers. " * 9 + "Totals are")
        'Dates are ISO. Totals are plain numbers.'
        >>> cut_loop("Refunds over 100 go to escalations, refunds up to 100 to billing.")
        'Refunds over 100 go to escalations, refunds up to 100 to billing.'
    """
    unit = looping(text, min_chars=LOOP_MIN_CHARS)
    if unit is None or unit < LOOP_UNIT_MIN_CHARS:
        return text
    start = len(text) - unit
    while start > 0 and text[start - 1] == text[start - 1 + unit]:
        start -= 1
    return text[: _boundary(text, start + unit, unit)].rstrip(" ,;\n")


def _boundary(text: str, end: int, unit: int) -> int:
    """Where to end one copy of a loop that starts a unit before ``end``: any rotation of the unit repeats, so
    read on within the next copy to the first line end, else sentence end, else comma."""
    stop = min(len(text), end + unit)
    for marks in ("\n", ".!?", ",;"):
        for k in range(end, stop + 1):
            if text[k - 1] in marks and (k == len(text) or text[k].isspace() or marks == "\n"):
                return k
    return end


# The rejected-edit hint's annotation, "[step 3: validation fell 0.500 -> 0.400]", whole or cut off at the end.
_HINT_MARK = re.compile(r"\s*\[step \d+:[^\]]*(?:\]|$)")
# The clip mark of a shortened edit in the hint, where the text ends: "... asks for a refund of…".
_CLIPPED_END = re.compile(r"(?<=\w)…[\s'\".,;:!?)]*$")


def strip_hint_marks(text: str) -> str:
    """``text`` without copies of the rejected-edit hint's score annotations.

    Measured on the 1.5B model (ticket routing): analysts proposed rejected edits again with their
    annotations, "... [step 1: validation fell 0.042 -> 0.208] [step 2: ...", up to the length limit. No rule
    says "[step N: ...]"; what is left is what the model meant, and an exact repeat is then known as one.

    Example:
        >>> strip_hint_marks("Refunds go to billing. [step 1: validation fell 0.042 -> 0.208] [step 2: valid")
        'Refunds go to billing.'
    """
    return _HINT_MARK.sub("", text).strip() if "[step " in text else text


# A sentence of at least this many characters said this many times in one edit is a loop (see cut_repeats).
REPEAT_MIN_CHARS = 20
REPEAT_MIN_COUNT = 3
_SENTENCE_PIECE = re.compile(r"[^.!?\n]+[.!?]?")


def cut_repeats(text: str) -> str:
    """``text`` up to the second copy of a sentence it says three times or more.

    A loop that alternates two sentences and was cut by the length limit in the middle of a third is not
    a repeated tail (:func:`cut_loop` keeps it): measured on the 1.5B date analysts, "If the date is not in
    the format YYYY-MM-DD, return an error message. If the date is in the format YYYY-MM-DD, return the date
    in the format YYYY-MM-DD." three times, then "If the date is not in the format YYYY-MM-DD, return an".
    No capable model says one sentence three times in one edit; what it meant is the text before the repeat.

    Example:
        >>> loop = "Dates are ISO. " + "If it is a date, write it. If not, say so. " * 3 + "If it is a"
        >>> cut_repeats(loop)
        'Dates are ISO. If it is a date, write it. If not, say so.'
        >>> cut_repeats("Refunds go to billing. Refunds over 100 go to escalations.")
        'Refunds go to billing. Refunds over 100 go to escalations.'
    """
    seen: dict[str, list[int]] = {}
    for m in _SENTENCE_PIECE.finditer(text):
        key = squash(m.group())
        if len(key) >= REPEAT_MIN_CHARS:
            seen.setdefault(key, []).append(m.start())
    cuts = [starts[1] for starts in seen.values() if len(starts) >= REPEAT_MIN_COUNT]
    return text[: min(cuts)].rstrip() if cuts else text


def repaired(text: str) -> str:
    """An edit's text as the LM meant it: hint annotations out (:func:`strip_hint_marks`), a loop cut
    (:func:`cut_loop`, :func:`cut_repeats`). Where reflect and aggregate read the LM's edits."""
    return cut_repeats(cut_loop(strip_hint_marks(text)))


# A heading of this many words that the rule under it contains is the rule again, not a section title.
HEADING_RULE_WORDS = 5


def repaired_fields(fields: dict, skill: str = "") -> dict:
    """An edit's fields as the LM meant them: the content :func:`repaired`, and an ``add`` whose heading is
    its own rule again (five words or more, found in the content; the clip mark of the schema's length limit
    aside) goes under no heading. Short headings stay even when the rule names them ("billing"): they are
    what a section is called. With the current ``skill``, a ``replace`` of a word inside a rule by a whole
    rule replaces that rule's line (:func:`rule_line_target`).

    Measured on the 1.5B model (dates, in a trial that had the schema ask for the rule before its heading):
    analysts wrote the rule and then its first 80 characters as the heading, so the skill would show each rule
    twice; with the heading first they put rules there too ("When the reference date is YYYY-MM-DD, ...").

    Example:
        >>> repaired_fields({"op": "add", "target": "When the reference date is given, the answer", "content":
        ...     "When the reference date is given, the answer is the date in the text."})["target"]
        ''
        >>> repaired_fields({"op": "add", "target": "Billing", "content": "Billing disputes go to billing."})["target"]
        'Billing'
    """
    out = {**fields, "content": repaired(fields.get("content") or "")}
    heading = squash(out.get("target") or "").rstrip("…. ").lower()
    if (
        out.get("op") == "add"
        and len(heading.split()) >= HEADING_RULE_WORDS
        and heading in squash(out["content"]).lower()
    ):
        out["target"] = ""
    if skill and out.get("op") == "replace":
        out["target"] = rule_line_target(out.get("target") or "", out["content"], skill) or out.get("target") or ""
    return out


# A target this short inside a line is a word of a rule (a label, a heading's title), not a rule.
WORD_TARGET_MAX_WORDS = 3
# Content of this many words that opens like a sentence and ends like one is a whole rule.
RULE_MIN_WORDS = 6
_SENTENCE = re.compile(r"^(?:[-*+]\s+|\d+[.)]\s+)?[\"'`]?[A-Z].*[.!?][\"'`]?$", re.S)


def rule_line_target(target: str, content: str, skill: str) -> str | None:
    """The whole line of ``skill`` to replace when a ``replace`` swaps a word inside a rule for a whole rule,
    or None when the edit is not such a one. Pure.

    Measured on the 1.5B model (ticket routing, two runs): analysts wrote ``replace 'escalations' -> "When the
    ticket reports an outage that affects everyone, the queue should be 'priority_support'."``, meaning the
    rule that ends in 'escalations'; applied as written, the new rule landed inside the old one ("... the
    queue should be 'When the ticket reports an outage ...'."), and a later step nested a third rule in it.
    Only that shape is repaired: a target of at most three words, content of six words or more that opens
    and ends like a sentence, and exactly one line of the skill that holds the target inside a rule (after
    the start of its sentence; a heading's title is no rule). "billing" may then also be a section's title:
    the analysts wrote that ``replace 'billing' -> <a whole rule>`` too, and as written it could not apply
    (the target is in the skill twice). No capable model puts a whole sentence in the middle of another; a
    replace of a word by words ("billing" -> "billing or escalations") or of a whole rule is left as written.

    Example:
        >>> skill = "## escalations\\nWhen the ticket mentions a chargeback, the queue should be 'escalations'.\\n"
        >>> rule_line_target("escalations", "When a ticket reports an outage, the queue is 'priority_support'.", skill)
        "When the ticket mentions a chargeback, the queue should be 'escalations'."
        >>> rule_line_target("escalations", "escalations or billing", skill) is None
        True
    """
    content = content.strip()
    if not target.strip() or len(target.split()) > WORD_TARGET_MAX_WORDS:
        return None
    if len(content.split()) < RULE_MIN_WORDS or not _SENTENCE.match(content):
        return None
    lines = set()
    for match in re.finditer(target_pattern(target), skill):
        line_start, line_end = line_span(skill, match.start(), match.end())
        line = skill[line_start:line_end].strip()
        before = skill[line_start : match.start()]
        if before.strip() and not re.search(r"[.!?:]\s*$", before) and not line.startswith("#"):
            lines.add(line)  # inside a rule: not at the start of its line or sentence, not in a heading
    if len(lines) != 1:
        return None
    (line,) = lines
    return line if find_target(skill, line)[1] is not None else None


@lru_cache(maxsize=16)
def _squashed(sources: tuple[str, ...]) -> tuple[str, ...]:
    """``sources`` with whitespace squashed, once per step's inputs (or rejected buffer) rather than once per edit
    checked."""
    return tuple(squash(s) for s in sources)


# The evidence's own layout (see stages/evidence.py): its pattern headings and its feedback summary. No rule says
# them; a 1.5B date analyst pasted a whole pattern, heading, feedback counts and all, into a candidate.
_EVIDENCE_LAYOUT = re.compile(r"#+ ?Pattern \d+:|What the feedback says about these failures")


def small_model_problem(edit: Edit, *, inputs: Sequence[str] = (), task: str = "") -> str | None:
    """Why ``edit`` is a small model's artefact rather than a rule, or None. Pure.

    ``inputs``: the texts of the examples the edit was written from; ``task``: the task description the
    reflection LM saw.
    """
    if edit.op == "delete":
        return None
    text = squash(f"{edit.target} {edit.content}")
    if any(p in text for p in _PLACEHOLDERS):
        return "copied the prompt's rule template with its placeholders, not a rule learned from this batch"
    if edit.op in ("add", "insert_after") and len(re.findall(r"\w+", edit.content)) < 2:
        return "a fragment, not a rule: one word added"
    if _EVIDENCE_LAYOUT.search(f"{edit.target}\n{edit.content}"):
        return "copied the evidence's layout (a '## Pattern N:' heading or its feedback summary), not a rule"
    if _CLIPPED_END.search(edit.content):
        return "copied an edit the rejected-edit hint showed shortened: it ends where the hint cut it, at '…'"
    if pasted_from(edit.content, inputs) is not None:
        return f"pasted {PASTE_MIN_CHARS}+ characters of an example's input, not a rule"
    if task and pasted_from(edit.content, [task]) is not None:
        return f"copied {PASTE_MIN_CHARS}+ characters of the task description, which the program already reads"
    return None


# A value in an edit's text: a run of non-space characters with two digits or more ("2024-11-27", "€962",
# "TEAM-6160"). One digit is a word of the domain more often than one example's value: "2FA" (the 1.5B routing
# analysts' right sign-in rule ranked last for it, as if about one ticket), "Q3", "3rd".
_VALUE = re.compile(r"\S*\d\S*\d\S*")
_VALUE_EDGES = "'\"`.,;:!?()[]{}<>"


def one_example_value(edit: Edit, inputs: Sequence[str]) -> str | None:
    """A value the edit quotes that occurs in exactly one of the step's example ``inputs``, or None. Pure.

    Such a rule is about one example, which the prompt asks the analysts not to write. Measured on the
    1.5B model: "When the ticket asks for a refund of 29,50 €, the queue should be billing", "When the
    ticket contains 'STD-75936', ...", "When the reference date is 2024-11-27 (Wednesday), the date should be
    2024-12-31"; on equal support they filled a candidate's slots before the step's general rules. Select
    ranks such an edit after the general ones of equal support, and drops nothing for it: a value seen in
    no input (an illustration) or in several (a shared cue) does not count.

    Example:
        >>> inputs = ["Refund of 29,50 € please (STD-75936)", "Refund of 12,00 € (STD-11111)"]
        >>> one_example_value(Edit(op="add", content="When a refund of 29,50 € is asked, answer billing."), inputs)
        '29,50'
        >>> one_example_value(Edit(op="add", content="Amounts like 10,00 € are refunds: answer billing."), inputs)
        >>> one_example_value(Edit(op="add", content="A 2FA code problem is account_access."), ["My 2FA fails"])
    """
    if not inputs:
        return None
    texts = _squashed(tuple(inputs))  # a value has no space: squashing changes no match, only the case
    for token in _VALUE.findall(edit.content):
        value = token.strip(_VALUE_EDGES).lower()
        if len(value) >= 3 and sum(value in text for text in texts) == 1:
            return value
    return None


# What the analysts are shown instead of the rejected edits when they only repeated them.
REJECTED_WITHHELD = (
    "(withheld: the last proposals only repeated edits already rejected this epoch; propose different edits "
    "from the evidence)"
)


def echoed_rejected(proposed: Sequence[Edit], rejected: Sequence[Edit], applied: Sequence[Edit]) -> bool:
    """Whether a step's reflection only echoed the rejected-edit hint: its candidate is made of nothing but
    edits rejected this epoch (``applied``), or no candidate came of its proposals and some of them repeat
    rejected edits (:func:`repeats_rejected`: whole, a stretch, or sentences of several).

    Measured on the 1.5B model (date normalization, twice): after one rule was rejected at step 1, the analysts
    of the next six steps copied it from the hint in their prompt and proposed little else, so no step made a
    new candidate. A copy of an edit the hint showed clipped (ending at its '…') counts as a repeat too: select
    drops such copies, and two steps of a later date run made no candidate so. The step then asks
    once more with the hint withheld (:data:`REJECTED_WITHHELD`) and goes on with what that round proposes, a
    repeat included: a model that proposed anything new is never asked again, and the dedupe of candidates keeps
    a repeat from being validated twice.

    Example:
        >>> rule, other = Edit(op="add", content="When the text says Q3, answer July 1."), Edit(op="add", content="x y")
        >>> echoed_rejected([rule], [rule], applied=[]), echoed_rejected([rule], [rule], applied=[rule])
        (True, True)
        >>> echoed_rejected([rule, other], [rule], applied=[rule, other])
        False
    """
    if applied:
        return all(repeats_rejected(e, rejected) for e in applied)
    return any(repeats_rejected(e, rejected) for e in proposed)


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


def repeats_rejected(edit: Edit, rejected: Sequence[Edit]) -> bool:
    """Whether ``edit`` only repeats text of edits rejected this epoch: every sentence of it is in one of them,
    whatever its target — a rejected edit whole, a stretch of one (from its start or its middle, up to the
    hint's clip mark '…'), or sentences of several glued together. Pure.

    Measured on the 1.5B routing analysts (budget 300): after a candidate with a rule about single tickets
    ("When the ticket contains 'account TEAM-6160', 'billing' is …. When the ticket contains 'STD-75936', …")
    was rejected, the next step's analysts copied stretches of it from the hint, seven times in all; the
    copies differed, so none matched the rejected edit, and merged they had a support of 7 and took the
    candidate's first slot for two steps. Select ranks such a repeat with the rejected edits, after every fresh
    edit (nothing is dropped for it), and the echo retry counts it.

    Example:
        >>> tried = Edit(op="add", target="billing", content="When A, answer x. When B, answer y. When C, z.")
        >>> repeats_rejected(Edit(op="add", content="When B, answer y. When C, z."), [tried])
        True
        >>> repeats_rejected(Edit(op="add", content="When B, answer y. When D, answer w."), [tried])
        False
    """
    if edit.op == "delete":
        return any(r.op == "delete" and squash(r.target) == squash(edit.target) for r in rejected)
    said = _squashed(tuple(r.content for r in rejected if r.content.strip()))  # once per buffer, not per edit
    sentences = [squash(x) for x in _SENTENCE_BREAK.split(_CLIPPED_END.sub("", edit.content)) if x.strip()]
    return bool(said and sentences) and all(any(x in r for r in said) for x in sentences)
