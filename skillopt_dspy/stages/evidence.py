"""Evidence for the reflection LM: trajectories grouped by confusion, fitted to its context.

A failure is most useful next to the others of its kind. Failures are grouped by their confusion — for each
output field the program got wrong, what was expected and what it answered (``queue: billing → general``) —
and each group opens with what the metric's feedback says about its failures (sentences counted across the
group). A group can also be shown next to inputs the program solved correctly, of the expected answer and of
the answer it gave instead (``contrasts``; off by default: the 1.5B reflection model copied their text into
its rules). A field whose expected values do not repeat in the step's batch (a date, an invoice number) is
no label to confuse: its failures are grouped by what the metric's feedback says about them (a clause
several of them share, numbers and quoted values masked), and each group's feedback summary (clauses
counted the same way) says what they share. Wrong answers that are text copied from an input while the
expected answer is not there (a date task answered with the reference date printed beside the text) form
a group of their own, titled so.

Every field is shown whole while the prompt fits the reflection LM's context window; when it does not, long
inputs are cut in the middle first, then the other fields, never below a floor, and the feedback last, so
what says why an example failed survives. Pure: no LM call.

Example:
    >>> import dspy
    >>> from skillopt_dspy.scoring import Score
    >>> from skillopt_dspy.stages.rollout import Trajectory
    >>> ex = dspy.Example(ticket="My card was charged twice", queue="billing").with_inputs("ticket")
    >>> t = Trajectory(ex, dspy.Prediction(queue="general"), Score(0.0, 0.0, "expected billing"))
    >>> confusion(t)
    (('queue', 'billing', 'general'),)
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import dspy

from skillopt_dspy.edits import squash
from skillopt_dspy.stages.rollout import Trajectory, prediction_fields

CHARS_PER_TOKEN = 3.5  # a conservative average for English and code under BPE tokenizers
DEFAULT_CONTEXT_TOKENS = 32_768  # when the LM does not say (hosted models have at least this)
CATEGORICAL_MAX_CHARS = 40  # a value this short, on one line, can be a label worth grouping on
_FLOOR = 120  # no field is cut below this many characters
ID_FIELDS = ("id", "_id", "uid")  # an example's identifier: no answer, and no value a rule could be about
COPY_MIN_CHARS = 4  # a wrong answer this long found in an input is a copy, not a coincidence ("no", "3")


def estimate_tokens(text: str) -> int:
    """A cheap upper-side estimate of the tokens in ``text``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def context_tokens(lm: Any) -> int:
    """The context window of ``lm`` in tokens: the embedded engine's ``n_ctx``, an LM kwarg, or a default."""
    for owner in (getattr(lm, "engine", None), lm):
        n = getattr(owner, "n_ctx", None)
        if isinstance(n, int) and n > 0:
            return n
    kwargs = getattr(lm, "kwargs", None) or {}
    for key in ("num_ctx", "n_ctx", "context_window"):
        if isinstance(kwargs.get(key), int):
            return kwargs[key]
    return DEFAULT_CONTEXT_TOKENS


def evidence_budget(lm: Any, fixed_text: str, *, prompt_overhead_tokens: int = 600) -> int:
    """How many characters of evidence fit next to ``fixed_text`` and the answer in ``lm``'s context."""
    kwargs = getattr(lm, "kwargs", None) or {}
    answer = kwargs.get("max_tokens") or kwargs.get("max_completion_tokens") or 2048
    free = context_tokens(lm) - int(answer) - estimate_tokens(fixed_text) - prompt_overhead_tokens
    return max(int(free * CHARS_PER_TOKEN), 2_000)


def _norm(value: Any) -> str:
    return squash(str(value)).strip("'\"`.")


def label_diffs(t: Trajectory) -> list[tuple[str, str, str]]:
    """``(field, expected, got)`` for every expected field the program answered differently."""
    labels = expected_fields(t)
    got = prediction_fields(t.prediction) if t.prediction is not None else {}
    if not set(labels) & set(got) and len(labels) == 1 and len(got) == 1:  # e.g. a program returning a str
        got = {next(iter(labels)): next(iter(got.values()))}
    return [(k, str(v), str(got[k])) for k, v in labels.items() if k in got and _norm(got[k]) != _norm(v)]


def expected_fields(t: Trajectory) -> dict[str, Any]:
    """The expected values of the fields the program answered (an example's ``id`` or notes are no answer);
    every non-input field when the program gave no answer to compare with."""
    labels = t.example.labels().toDict()
    got = prediction_fields(t.prediction) if t.prediction is not None else {}
    shared = {k: v for k, v in labels.items() if k in got}
    if shared:
        return shared
    if len(got) == 1 and "output" in got:  # a program returning a bare value: its one answer field
        named = {k: v for k, v in labels.items() if k not in ID_FIELDS}
        return named if len(named) == 1 else labels
    return labels


def _categorical(value: str) -> bool:
    return len(value) <= CATEGORICAL_MAX_CHARS and "\n" not in value


def label_fields(trajectories: Sequence[Trajectory]) -> set[str]:
    """The answer fields whose expected value repeats among ``trajectories``: labels (a queue, a yes/no),
    as opposed to values each example has its own of (a date, an invoice number)."""
    seen: dict[str, set[str]] = defaultdict(set)
    labels = set()
    for t in trajectories:
        for k, v in expected_fields(t).items():
            value = _norm(v)
            if value in seen[k]:
                labels.add(k)
            seen[k].add(value)
    return labels


def confusion(t: Trajectory, labels: set[str] | None = None) -> tuple:
    """The failure's group: ``((field, expected, got), ...)`` for short values, ``(field, "≠")`` for long
    ones and, when ``labels`` is given, for fields not in it (a wrong date is one failure of its kind: its
    failures form one group, and the feedback they share says what went wrong)."""
    if t.prediction is None:
        return (("error", t.error_kind or "program"),)
    diffs = label_diffs(t)
    if not diffs:
        return (("other",),)
    return tuple(
        (k, e, g) if _categorical(e) and _categorical(g) and (labels is None or k in labels) else (k, "≠")
        for k, e, g in diffs
    )


def describe_confusion(key: tuple) -> str:
    """A confusion key in words, for a section title."""
    parts = []
    for item in key:
        if item[0] == "error":
            parts.append(f"the program failed with a {item[1]} error")
        elif item == ("other",):
            parts.append("the metric failed the answer (no single field differs from the expected one)")
        elif item[0] == "said":  # a clause of feedback the group shares: its summary shows it in full
            continue
        elif item[0] == "copied":
            parts.append(f"the wrong `{item[1]}` is text copied word for word from the input `{item[2]}`")
        elif len(item) == 2:
            parts.append(f"`{item[0]}` differs from the expected value")
        else:
            parts.append(f'`{item[0]}` should be "{item[1]}" but the program answered "{item[2]}"')
    return "; ".join(parts)


def failure_groups(failures: Sequence[Trajectory], labels: set[str] | None = None) -> dict[tuple, list[Trajectory]]:
    """Failures by :func:`confusion`; a group with a field of values of its own (``"≠"``: no label names what
    went wrong) is split further by what the metric said. Failures that share a feedback clause (numbers and
    quoted values masked, as in :func:`feedback_summary`) which not every failure left in the group says
    form a group of their own, the most shared clause first; the rest stay together. Wrong dates whose
    feedback says "day and month are swapped" are then one pattern, and wrong formats another. Before that,
    two or more failures that copied their wrong answer from the same input (:func:`copied_from_input`) are
    split off: over half of the 1.5B date program's wrong dates were the reference date given beside the text.

    Example:
        >>> from skillopt_dspy.scoring import Score
        >>> said = ["Day and month are swapped.", "Day and month are swapped.", "Off by 3 days.", "Bad format."]
        >>> ts = [Trajectory(dspy.Example(d=str(i), date=f"2021-0{i}-01").with_inputs("d"), dspy.Prediction(date="x"),
        ...       Score(0, 0, f"Expected 2021-0{i}-01. {f}")) for i, f in enumerate(said, 1)]
        >>> [(k[-1], len(g)) for k, g in failure_groups(ts, labels=set()).items()]
        [(('said', 'day and month are swapped.'), 2), (('date', '≠'), 2)]
    """
    groups: dict[tuple, list[Trajectory]] = defaultdict(list)
    for t in failures:
        groups[confusion(t, labels)].append(t)
    out: dict[tuple, list[Trajectory]] = {}
    for key, members in groups.items():
        if any(len(item) == 2 and item[1] == "≠" for item in key):
            said = {id(t): _clause_keys(t.score.feedback) for t in members}
            for part_key, part in _split_by_copies(key, members).items():
                out.update(_split_by_feedback(part_key, part, said))
        else:
            out[key] = members
    return out


def copied_from_input(t: Trajectory) -> tuple[tuple[str, str], ...]:
    """``(field, input)`` for each wrong answer that is text of an input, word for word, while the expected
    answer is not: the program copied what it saw (a date that answered with the reference date given
    beside the text, a total in the input's own format) instead of deriving the answer.

    Example:
        >>> from skillopt_dspy.scoring import Score
        >>> ex = dspy.Example(text="Reference date: 2024-03-15. Text: on 3 April", date="2024-04-03")
        >>> ex = ex.with_inputs("text")
        >>> copied_from_input(Trajectory(ex, dspy.Prediction(date="2024-03-15"), Score(0.0, 0.0, "")))
        (('date', 'text'),)
    """
    inputs = {k: squash(str(v)).lower() for k, v in t.example.inputs().toDict().items()}
    out = []
    for k, expected, got in label_diffs(t):
        answer, gold = _norm(got).lower(), _norm(expected).lower()
        if len(answer) < COPY_MIN_CHARS:
            continue
        for name, text in inputs.items():
            if answer in text and gold not in text:
                out.append((k, name))
                break
    return tuple(out)


def _split_by_copies(key: tuple, members: list[Trajectory]) -> dict[tuple, list[Trajectory]]:
    """``members`` whose wrong answers are copied from the same inputs (two or more) apart from the rest."""
    parts: dict[tuple, list[Trajectory]] = defaultdict(list)
    for t in members:
        parts[copied_from_input(t)].append(t)
    out: dict[tuple, list[Trajectory]] = {}
    rest = {id(t) for t in parts.pop((), [])}
    for copied, part in sorted(parts.items(), key=lambda kv: -len(kv[1])):
        if len(part) >= 2:
            out[(*key, *(("copied", *c) for c in copied))] = part
        else:
            rest |= {id(t) for t in part}
    if rest:
        out[key] = [t for t in members if id(t) in rest]  # in their order
    return out


def _split_by_feedback(key: tuple, members: list[Trajectory], said: dict[int, set[str]]) -> dict[tuple, list]:
    """``members`` split by the clause most of them (two or more, not all) share, then each part again."""
    counts: dict[str, int] = defaultdict(int)
    for t in members:
        for clause in said[id(t)]:
            counts[clause] += 1
    shared = [(n, c) for c, n in counts.items() if 2 <= n < len(members)] if len(members) >= 3 else []
    if not shared:
        return {key: members}
    _, clause = max(shared, key=lambda nc: (nc[0], -len(nc[1]), nc[1]))  # the most said, then the shortest
    hit = [t for t in members if clause in said[id(t)]]
    rest = [t for t in members if clause not in said[id(t)]]
    return {**_split_by_feedback((*key, ("said", clause)), hit, said), **_split_by_feedback(key, rest, said)}


def failure_minibatches(
    failures: Sequence[Trajectory], size: int, labels: set[str] | None = None
) -> list[list[Trajectory]]:
    """Failures ordered so each group of :func:`failure_groups` stays together (largest first), cut into
    ``size`` chunks.

    The number of minibatches is ``ceil(len(failures) / size)``, as with plain chunks; a chunk may hold
    several small groups, each rendered as its own section.
    """
    groups = failure_groups(failures, labels)
    ordered = [t for _, g in sorted(groups.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))) for t in g]
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def clip_middle(text: str, limit: int) -> str:
    """``text`` whole if it fits ``limit`` characters, else its head and tail around a note of the cut."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 20)
    head, tail = text[: keep * 2 // 3], text[-(keep // 3) :]
    return f"{head} … [{len(text) - len(head) - len(tail)} characters cut] … {tail}"


def _fields(values: dict[str, Any], limit: int, indent: str = "  ") -> list[str]:
    lines = []
    for k, v in values.items():
        text = clip_middle(str(v), limit)
        lines.append(f"{indent}{k}: " + text.replace("\n", "\n" + indent + "  "))
    return lines


def render_trajectory(t: Trajectory, title: str, *, input_limit: int, other_limit: int) -> str:
    """One example: inputs, each predictor step (multi-step programs), output, expected, feedback."""
    lines = [title, "Input:", *_fields(t.example.inputs().toDict(), input_limit)]
    if len(t.steps) > 1:
        lines.append("Steps the program took:")
        for i, step in enumerate(t.steps, 1):
            lines.append(f"  step {i}, predictor `{step['predictor']}`")
            lines += _fields(step.get("inputs", {}), input_limit, "    in  ")
            lines += _fields(step.get("outputs", {}), other_limit, "    out ")
    if t.prediction is not None:
        lines += ["Program output:", *_fields(prediction_fields(t.prediction), other_limit)]
    elif t.error:
        lines.append(f"Program output: none, it failed ({clip_middle(t.error, other_limit)})")
    labels = expected_fields(t)
    if labels:
        lines += ["Expected:", *_fields(labels, other_limit)]
    if t.score.feedback:
        lines.append("Feedback: " + clip_middle(t.score.feedback, max(other_limit, 4 * _FLOOR)))
    return "\n".join(lines)


def _contrasts(key: tuple, successes: Sequence[Trajectory], input_limit: int, per_answer: int) -> list[str]:
    """Up to ``per_answer`` solved inputs whose answer is the expected one, and as many of the one given."""
    if per_answer <= 0 or len(key) != 1 or len(key[0]) != 3:
        return []
    name, expected, got = key[0]
    lines = []
    for answer, why in ((got, "really are"), (expected, "also are")):
        hits = [s for s in successes if _norm(s.example.labels().toDict().get(name, "")) == _norm(answer)]
        for s in hits[:per_answer]:
            lines.append(f'- ({why} "{answer}", answered correctly) {example_line(s.example, input_limit)}')
    return lines


_CLAUSE = re.compile(r"(?<=[.!?])\s+|;\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A quoted value: "..." or '...' standing as a word of its own (the apostrophe of "company's" opens none).
_QUOTED = re.compile(r"(?<!\w)(?:\"[^\"\n]*\"|'[^'\n]*')(?!\w)")


def _clause_key(clause: str) -> str:
    return _NUMBER.sub("#", _QUOTED.sub("…", clause.lower())).strip()


def _clauses(feedback: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(" ".join(feedback.split())) if c.strip()]


def _clause_keys(feedback: str) -> set[str]:
    return {_clause_key(c) for c in _clauses(feedback)} - {""}


def _generalize(wordings: Sequence[str]) -> str:
    """The first wording, with every quoted value that differs between the wordings shown as ``"…"`` and every
    number (outside quotes) that differs as ``…``; a date or amount whose parts all differ is one ``…``."""
    first = wordings[0]
    quotes = [_QUOTED.findall(w) for w in wordings]
    if len(wordings) < 2 or any(len(q) != len(quotes[0]) for q in quotes):
        return first
    varying = iter([len({q[i] for q in quotes}) > 1 for i in range(len(quotes[0]))])
    text = _QUOTED.sub(lambda m: '"…"' if next(varying) else m.group(), first)
    numbers = [_NUMBER.findall(_QUOTED.sub("", w)) for w in wordings]
    if any(len(n) != len(numbers[0]) for n in numbers):
        return text
    differs = [len({n[i] for n in numbers}) > 1 for i in range(len(numbers[0]))]
    parts, k = [], 0
    for piece in re.split(f"({_QUOTED.pattern})", text):  # numbers inside quotes were handled above
        if _QUOTED.fullmatch(piece or "x"):
            parts.append(piece)
            continue
        out = []
        for bit in re.split(f"({_NUMBER.pattern})", piece):
            if _NUMBER.fullmatch(bit or "x"):
                out.append("…" if differs[k] else bit)
                k += 1
            else:
                out.append(bit)
        parts.append("".join(out))
    return _ELLIPSIS_RUN.sub("…", "".join(parts))


_ELLIPSIS_RUN = re.compile(r"…(?:[-/.:]…)+")


def feedback_summary(members: Sequence[Trajectory], limit: int = 6) -> str:
    """The feedback's clauses over a group's failures, most frequent first, with how many failures say them.

    Feedback is cut into sentences and ``;``-separated clauses, counted with their numbers and quoted values
    masked: "a refund of €962" and "a refund of 914.00 USD" are one cue, and so are `vendor: expected "Atlas",
    got "Atlas Inc." (the extra 'Inc.' is the legal form)` and the same about another vendor. The first
    wording is shown, with the quoted values and numbers that differ between failures as ``…``: what the
    failures share, in the metric's words, without one example's values to copy into a rule (the 1.5B
    analysts of the date task, shown "(3 of 3) Day and month are swapped: the expected date is day 3 of month
    10", wrote "The expected date is day 3 of month 10 ... for all examples" into rules).

    Example:
        >>> from skillopt_dspy.scoring import Score
        >>> ts = [Trajectory(None, None, Score(0, 0, f"Wrong. A refund of {n} EUR.")) for n in (962, 914)]
        >>> print(feedback_summary(ts))
        - (2 of 2) Wrong.
        - (2 of 2) A refund of … EUR.
        >>> said = [f"2 fields wrong. vendor: got '{v} GmbH' (the extra 'GmbH' is the legal form); date: x"
        ...         for v in ("Nordlicht", "Vega")]
        >>> print(feedback_summary([Trajectory(None, None, Score(0, 0, f)) for f in said]))
        - (2 of 2) 2 fields wrong.
        - (2 of 2) vendor: got "…" (the extra 'GmbH' is the legal form)
        - (2 of 2) date: x
    """
    said: dict[str, list[str]] = defaultdict(list)  # masked clause -> its wording in each failure that says it
    for t in members:
        seen = set()
        for clause in _clauses(t.score.feedback):
            key = _clause_key(clause)
            if key and key not in seen:
                seen.add(key)
                said[key].append(clause)
    ranked = sorted(said, key=lambda k: -len(said[k]))[:limit]
    return "\n".join(f"- ({len(said[k])} of {len(members)}) {clip_middle(_generalize(said[k]), 300)}" for k in ranked)


def _render_failures(
    groups: dict[tuple, list[Trajectory]],
    successes: Sequence[Trajectory],
    limits: tuple[int, int],
    contrasts: int,
) -> str:
    sections, n = [], 0
    for i, (key, members) in enumerate(groups.items(), 1):
        head = f"## Pattern {i}: {describe_confusion(key)} ({len(members)} example{'s' * (len(members) > 1)})"
        parts = [head]
        said = feedback_summary(members)
        if said:
            parts.append("What the feedback says about these failures:\n" + said)
        for item in key:
            if item[0] == "copied":
                parts.append(
                    f"In each of these failures the program answered `{item[1]}` with text it found in the input "
                    f"`{item[2]}` instead of the value the input asks for: a rule for this pattern says which "
                    f"text of `{item[2]}` is not the answer, and how to find the answer instead."
                )
        for t in members:
            n += 1
            parts.append(render_trajectory(t, f"### Failed example {n}", input_limit=limits[0], other_limit=limits[1]))
        contrast = _contrasts(key, successes, limits[0], contrasts)
        if contrast:
            parts.append("Inputs the program got right, for contrast:\n" + "\n".join(contrast))
        sections.append("\n\n".join(parts))
    return "\n\n".join(sections)


def _render_successes(batch: Sequence[Trajectory], limits: tuple[int, int]) -> str:
    return "\n\n".join(
        render_trajectory(t, f"### Solved example {i}", input_limit=limits[0], other_limit=limits[1])
        for i, t in enumerate(batch, 1)
    )


def _fit(render: Any, budget_chars: int) -> str:
    """Render with the largest field limits whose text fits ``budget_chars``: inputs shrink first."""
    input_limit, other_limit = 100_000, 100_000
    text = render((input_limit, other_limit))
    while len(text) > budget_chars and (input_limit > _FLOOR or other_limit > _FLOOR):
        if input_limit > _FLOOR and input_limit >= other_limit // 4:
            input_limit = max(_FLOOR, min(input_limit, len(text)) // 2)
        else:
            other_limit = max(_FLOOR, min(other_limit, len(text)) // 2)
        text = render((input_limit, other_limit))
    return text


def failure_evidence(
    batch: Sequence[Trajectory],
    successes: Sequence[Trajectory],
    budget_chars: int,
    *,
    contrasts: int = 0,
    labels: set[str] | None = None,
) -> str:
    """The failure analyst's evidence: confusion sections (with ``contrasts`` solved inputs per answer),
    fitted to ``budget_chars``; ``labels`` as for :func:`confusion`."""
    groups = failure_groups(batch, labels)  # once: the render below runs again for each cut of the limits
    return _fit(lambda limits: _render_failures(groups, successes, limits, contrasts), budget_chars)


def success_evidence(batch: Sequence[Trajectory], budget_chars: int) -> str:
    """The success analyst's evidence: solved examples, fitted to ``budget_chars``."""
    return _fit(lambda limits: _render_successes(batch, limits), budget_chars)


def one_line(value: Any) -> str:
    """``value`` as text on one line: runs of spaces made one, line breaks shown as `` / ``."""
    return " / ".join(" ".join(ln.split()) for ln in str(value).splitlines() if ln.strip())


def example_line(example: dspy.Example, limit: int) -> str:
    """An example's inputs on one line, line breaks shown as `` / `` (for contrasts and the slow update)."""
    return "; ".join(f"{k}: {clip_middle(one_line(v), limit)}" for k, v in example.inputs().items())
