"""Date normalization with this dataset's conventions; the answer is always ``YYYY-MM-DD``.

Conventions (the ones a model cannot guess are starred):
- ISO dates stay as they are.
- * Slash and dot dates are day-first: ``03/04/2021`` and ``03.04.2021`` are 3 April 2021.
- * Two-digit years: 00-30 are 20xx, 31-99 are 19xx.
- Month names in any form (``March 3rd, 2022``, ``3 Mar. 2022``, ``the 3rd of March 2022``).
- * A day and month without a year is the next such date on or after the reference date.
- * ``Q1``..``Q4 YYYY`` is the first day of the quarter.
- * ``mid-<Month> YYYY`` is the 15th; ``end of <Month> YYYY`` the last day; ``beginning of <Month> YYYY`` the 1st.
- * ``next <weekday>`` is the first such weekday strictly after the reference date; ``last <weekday>`` the
  latest strictly before it; ``this <weekday>`` the one in the reference date's Monday-to-Sunday week.
- ``tomorrow``, ``yesterday``, ``in N days``, ``N days ago``, ``in N weeks``: plain arithmetic.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random

MONTHS = list(calendar.month_name)[1:]
ABBR = [m[:3] for m in MONTHS]
WEEKDAYS = list(calendar.day_name)
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 10: "ten"}

CONTEXTS = [
    "Please ship the order by {d}.",
    "The meeting was moved to {d}.",
    "Invoice dated {d}, payable in 30 days.",
    "Our lease starts {d}.",
    "The patient was admitted on {d} with mild symptoms.",
    "Reminder: the workshop is on {d}, room 4B.",
    "We received your letter of {d} and will reply shortly.",
    "Contract signed {d} by both parties.",
    "The flight departs {d} at 07:40.",
    "Deadline for submissions: {d}.",
    "Can we do the call {d}?",
    "The package was delivered {d}, according to the courier.",
]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _random_date(rng: random.Random, start: int = 1985, end: int = 2029) -> dt.date:
    return dt.date(rng.randint(start, end), rng.randint(1, 12), rng.randint(1, 28))


def _two_digit_ok(d: dt.date) -> bool:
    return (2000 <= d.year <= 2030) or (1931 <= d.year <= 1999)


def _expression(rng: random.Random, ref: dt.date) -> tuple[str, dt.date, str]:
    kind = rng.choices(
        ["iso", "slash", "slash2", "dots", "named", "noyear", "quarter", "mid", "end", "begin", "weekday", "relative"],
        weights=[4, 12, 8, 6, 10, 10, 8, 6, 6, 4, 16, 10],
    )[0]
    d = _random_date(rng)
    if kind == "iso":
        return d.isoformat(), d, "ISO dates stay as they are"
    if kind in ("slash", "dots"):
        sep = "/" if kind == "slash" else "."
        day = f"{d.day:02d}" if rng.random() < 0.7 else str(d.day)
        return f"{day}{sep}{d.month:02d}{sep}{d.year}", d, "slash and dot dates are day-first (DD/MM/YYYY)"
    if kind == "slash2":
        while not _two_digit_ok(d):
            d = _random_date(rng, 1960, 2030)
        return (
            f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
            d,
            "day-first; two-digit years 00-30 are 20xx, 31-99 are 19xx",
        )
    if kind == "named":
        m = d.month - 1
        form = rng.choice(
            [
                f"{MONTHS[m]} {_ordinal(d.day)}, {d.year}",
                f"{d.day} {MONTHS[m]} {d.year}",
                f"{ABBR[m]}. {d.day} {d.year}",
                f"the {_ordinal(d.day)} of {MONTHS[m]} {d.year}",
                f"{d.day} {ABBR[m]} {d.year}",
            ]
        )
        return form, d, "month names are read as written"
    if kind == "noyear":
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        cand = dt.date(ref.year, month, day)
        if cand < ref:
            cand = dt.date(ref.year + 1, month, day)
        form = rng.choice(
            [f"{day} {MONTHS[month - 1]}", f"{MONTHS[month - 1]} {_ordinal(day)}", f"{ABBR[month - 1]} {day}"]
        )
        return form, cand, "a date without a year is the next such date on or after the reference date"
    if kind == "quarter":
        q, year = rng.randint(1, 4), rng.randint(1995, 2029)
        form = rng.choice(
            [f"Q{q} {year}", f"Q{q}/{year}", f"the {['first', 'second', 'third', 'fourth'][q - 1]} quarter of {year}"]
        )
        return form, dt.date(year, 3 * q - 2, 1), "a quarter means the first day of the quarter"
    if kind in ("mid", "end", "begin"):
        year, month = rng.randint(1995, 2029), rng.randint(1, 12)
        name = rng.choice([MONTHS[month - 1], ABBR[month - 1]])
        if kind == "mid":
            return f"mid-{name} {year}", dt.date(year, month, 15), "mid-month is the 15th"
        if kind == "end":
            last = calendar.monthrange(year, month)[1]
            return f"the end of {name} {year}", dt.date(year, month, last), "end of a month is its last day"
        return f"the beginning of {name} {year}", dt.date(year, month, 1), "beginning of a month is the 1st"
    if kind == "weekday":
        wd = rng.randrange(7)
        mode = rng.choice(["next", "last", "this"])
        if mode == "next":
            delta = (wd - ref.weekday()) % 7 or 7
            return (
                f"next {WEEKDAYS[wd]}",
                ref + dt.timedelta(days=delta),
                "next <weekday> is the first one strictly after the reference date",
            )
        if mode == "last":
            delta = (ref.weekday() - wd) % 7 or 7
            return (
                f"last {WEEKDAYS[wd]}",
                ref - dt.timedelta(days=delta),
                "last <weekday> is the latest one strictly before the reference date",
            )
        monday = ref - dt.timedelta(days=ref.weekday())
        return (
            f"this {WEEKDAYS[wd]}",
            monday + dt.timedelta(days=wd),
            "this <weekday> is in the reference date's Monday-Sunday week",
        )
    n = rng.choice([1, 2, 3, 4, 5, 10, 14])
    form, delta = rng.choice(
        [
            ("tomorrow", 1),
            ("yesterday", -1),
            (f"in {NUMBERS.get(n, n)} days", n),
            (f"{NUMBERS.get(n, n)} days ago", -n),
            (f"in {NUMBERS.get(min(n, 3), min(n, 3))} weeks", 7 * min(n, 3)),
        ]
    )
    return form, ref + dt.timedelta(days=delta), "relative dates count from the reference date"


def make(rng: random.Random) -> dict[str, str]:
    """One text with a date expression, the reference date, and the normalized answer."""
    ref = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 700))
    expr, answer, why = _expression(rng, ref)
    sentence = rng.choice(CONTEXTS).format(d=expr)
    text = f"Reference date: {ref.isoformat()} ({WEEKDAYS[ref.weekday()]}). Text: {sentence}"
    return {"input": text, "expected_output": answer.isoformat(), "why": why}
