"""Date normalization metric: 1.0 for the exact gold ``YYYY-MM-DD``, else 0.0 with a diagnosis.

The feedback compares the answer with the gold date: wrong format, not a real date, day and month
swapped, only the year wrong (and by how much), only the day wrong, or off by N days (with weekdays and
the distance from the reference date, which is what relative expressions depend on).

Example:
    >>> import dspy
    >>> gold = dspy.Example(text="Reference date: 2024-03-15 (Friday). Text: on 03/04/2021", date="2021-04-03")
    >>> metric(gold, dspy.Prediction(date="2021-03-04")).feedback
    'Expected 2021-04-03 but got 2021-03-04. Day and month are swapped: the expected date is day 3 of month 4.'
"""

from __future__ import annotations

import datetime as dt
import re

import dspy

from metrics._common import field
from programs.date_normalization import FIELDS

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REFERENCE = re.compile(r"Reference date:\s*(\d{4}-\d{2}-\d{2})")


def parse_iso(text: str) -> dt.date | None:
    """The date of a strict ``YYYY-MM-DD`` string, else None."""
    if not ISO.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _day(d: dt.date) -> str:
    return f"{d.isoformat()} ({d.strftime('%A')})"


def diagnose(gold: dt.date, got: dt.date, reference: dt.date | None) -> str:
    """One sentence on how ``got`` differs from ``gold``."""
    if (got.year, got.month, got.day) == (gold.year, gold.day, gold.month):
        return f"Day and month are swapped: the expected date is day {gold.day} of month {gold.month}."
    if (got.month, got.day) == (gold.month, gold.day):
        return f"Only the year is wrong: expected {gold.year}, got {got.year} ({got.year - gold.year:+d} years)."
    text = f"Expected {_day(gold)}, got {_day(got)}: off by {(got - gold).days:+d} days."
    if (got.year, got.month) == (gold.year, gold.month):
        text = f"Year and month are right but the day is wrong: expected day {gold.day}, got day {got.day}."
    if reference is not None and abs((gold - reference).days) <= 62:
        delta = (gold - reference).days
        side = "after" if delta > 0 else "before"
        where = "the reference date itself" if delta == 0 else f"{abs(delta)} days {side} the reference date"
        text += f" The expected date is {where}, {_day(reference)}."
    return text


def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> dspy.Prediction:
    """Exact match on the normalized date, with feedback."""
    expected = str(field(example, FIELDS["expected_output"], "expected_output") or "").strip()
    raw = field(prediction, FIELDS["expected_output"], "expected_output")
    got = str(raw if raw is not None else "").strip().strip("'\"`").strip()
    if got == expected:
        return dspy.Prediction(score=1.0, feedback=f"Correct: {expected}.")
    if not got:
        return dspy.Prediction(score=0.0, feedback=f"No date was given. Expected {expected}.")
    head = f"Expected {expected} but got {got if ISO.match(got) else repr(got)}."
    if not ISO.match(got):
        return dspy.Prediction(
            score=0.0,
            feedback=f"{head} The answer must be exactly YYYY-MM-DD (four-digit year, two-digit month and day), "
            "with nothing else.",
        )
    answer, gold = parse_iso(got), parse_iso(expected)
    if answer is None:
        return dspy.Prediction(score=0.0, feedback=f"{head} {got} is not a real calendar date.")
    if gold is None:  # a malformed gold label: say so rather than guess
        return dspy.Prediction(score=0.0, feedback=f"{head} (The gold label is not a valid YYYY-MM-DD date.)")
    ref_match = REFERENCE.search(str(field(example, FIELDS["input"], "input") or ""))
    reference = parse_iso(ref_match.group(1)) if ref_match else None
    return dspy.Prediction(score=0.0, feedback=f"{head} {diagnose(gold, answer, reference)}")
