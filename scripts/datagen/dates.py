"""date_normalization. The answer is always YYYY-MM-DD. Conventions:
  numeric dates (/ . -) are day-first; YYYY/MM/DD and ISO are year-first; two-digit years 00-30 -> 20xx,
  31-99 -> 19xx; no year -> the first such date on or after the reference date (the same for "the 21st");
  month and year only -> the 1st; Qn YYYY -> the quarter's first day; mid-<month> -> the 15th, beginning or
  start of -> the 1st, end of -> the last day (of the reference month for "the end of the month");
  next <weekday> -> first one strictly after the reference date, last <weekday> -> latest strictly before,
  this <weekday> -> the one in the reference date's Monday-Sunday week, on <weekday> -> on or after;
  tomorrow, in N days/weeks, N days ago, a fortnight: plain arithmetic from the reference date.

``date_expression`` draws an expression of a kind with its value under these conventions; ``make_date`` puts it in
a sentence or after a label, behind the reference date.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from dataclasses import dataclass

from .common import MONTHS, NAMES, WEEKDAYS, bank, ordinal

ABBR = {m: [m[:3], m[:3] + "."] for m in MONTHS} | {"May": ["May"], "September": ["Sep", "Sep.", "Sept", "Sept."]}
_ORDINALS = bank("""
    first second third fourth fifth sixth seventh eighth ninth tenth
    eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth
""")
ORDINAL_WORDS = [w for line in _ORDINALS for w in line.split()]
ORDINAL_WORDS += [f"twenty-{w}" for w in ORDINAL_WORDS[:9]] + ["thirtieth", "thirty-first"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 10: "ten"}
PIVOT = 30  # two-digit years 00..30 are 20xx, 31..99 are 19xx


@dataclass(frozen=True)
class DateExpr:
    """A date expression: ``when`` reads in a sentence ("on 3 April"), ``bare`` after a label ("Date: ...")."""

    when: str
    value: dt.date
    tense: str = "any"  # "past" | "future" | "any": which sentence templates fit
    bare: str | None = None


def add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return dt.date(y, m + 1, 1)


def last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def next_on_or_after(ref: dt.date, month: int, day: int) -> dt.date:
    """A day and month without a year: the first such date on or after ``ref``."""
    d = dt.date(ref.year, month, day)
    return d if d >= ref else dt.date(ref.year + 1, month, day)


def weekday_date(ref: dt.date, weekday: int, mode: str) -> dt.date:
    if mode == "next":  # strictly after
        return ref + dt.timedelta(days=(weekday - ref.weekday()) % 7 or 7)
    if mode == "last":  # strictly before
        return ref - dt.timedelta(days=(ref.weekday() - weekday) % 7 or 7)
    if mode == "this":  # the reference date's Monday-to-Sunday week
        return ref + dt.timedelta(days=weekday - ref.weekday())
    return ref + dt.timedelta(days=(weekday - ref.weekday()) % 7)  # "on Friday": on or after


def two_digit_year(yy: int) -> int:
    return 2000 + yy if yy <= PIVOT else 1900 + yy


def random_date(rng: random.Random, lo: int = 1985, hi: int = 2030, ambiguous: bool = False) -> dt.date:
    """A date; ``ambiguous`` keeps the day <= 12 so a month-first reading is also a valid date."""
    year, month = rng.randint(lo, hi), rng.randint(1, 12)
    day = rng.randint(1, 12) if ambiguous else rng.randint(1, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def month_name(rng: random.Random, month: int) -> str:
    name = MONTHS[month - 1]
    return rng.choice([name, name, *ABBR[name]])


def named(rng: random.Random, d: dt.date, year: str | None) -> str:
    m, day, o = month_name(rng, d.month), d.day, ordinal(d.day)
    forms = [f"{m} {day}", f"{m} {o}", f"{day} {m}", f"{o} {m}", f"the {o} of {m}", f"{m} the {o}"]
    if year is None:
        return rng.choice(forms)
    forms = [f"{m} {day}, {year}", f"{m} {o}, {year}", f"{day} {m} {year}", f"{o} {m} {year}"]
    forms += [f"the {o} of {m} {year}", f"{d.day:02d}-{m[:3]}-{year}", f"{m.upper()} {day} {year}"]
    form = rng.choice(forms)
    if rng.random() < 0.2 and "the" not in form:
        form = f"{rng.choice([WEEKDAYS[d.weekday()], WEEKDAYS[d.weekday()][:3]])}, {form}"
    return form


def date_expression(rng: random.Random, kind: str, ref: dt.date) -> DateExpr:
    """One expression of ``kind`` and its value under the dataset's conventions."""
    pick = rng.choice
    if kind == "iso":
        d = random_date(rng)
        text = d.isoformat() if rng.random() < 0.7 else f"{d.year}/{d.month:02d}/{d.day:02d}"
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "numeric":  # day-first
        d = random_date(rng, ambiguous=rng.random() < 0.65)
        sep = pick("/./-" if rng.random() < 0.8 else "/")
        day, month = (f"{d.day:02d}", f"{d.month:02d}") if rng.random() < 0.7 else (str(d.day), str(d.month))
        text = f"{day}{sep}{month}{sep}{d.year}"
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "numeric_yy":  # day-first, two-digit year around the pivot
        yy = pick([rng.randint(0, PIVOT), rng.randint(PIVOT + 1, 68), rng.randint(69, 99)])
        d = random_date(rng, two_digit_year(yy), two_digit_year(yy), ambiguous=rng.random() < 0.6)
        sep = pick("/.")
        text = f"{d.day:02d}{sep}{d.month:02d}{sep}{yy:02d}"
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "named":
        d = random_date(rng)
        text = named(rng, d, str(d.year))
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "named_yy":
        yy = pick([rng.randint(0, PIVOT), rng.randint(PIVOT + 1, 99)])
        d = random_date(rng, two_digit_year(yy), two_digit_year(yy))
        m = month_name(rng, d.month)
        text = pick([f"{d.day} {m} '{yy:02d}", f"{m} {d.day}, '{yy:02d}", f"{d.day:02d}-{m[:3]}-{yy:02d}"])
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "ordinal_words":
        d = random_date(rng)
        word, m = ORDINAL_WORDS[d.day - 1], MONTHS[d.month - 1]
        text = pick([f"the {word} of {m} {d.year}", f"{m} the {word}, {d.year}", f"the {word} of {m}, {d.year}"])
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "no_year":
        month = rng.randint(1, 12)
        day = rng.randint(1, 28 if month == 2 else calendar.monthrange(2001, month)[1])
        shape = dt.date(2001, month, day)
        text = named(rng, shape, None) if rng.random() < 0.75 else f"{day:02d}/{month:02d}"
        return DateExpr(f"on {text}", next_on_or_after(ref, month, day), "future", bare=text)
    if kind == "day_only":
        day = rng.randint(1, 28)
        d = dt.date(ref.year, ref.month, day)
        d = d if d >= ref else add_months(d, 1).replace(day=day)
        return DateExpr(f"on the {ordinal(day)}", d, tense="future")
    if kind == "month_year":
        year, month = rng.randint(1990, 2030), rng.randint(1, 12)
        text = pick([f"{MONTHS[month - 1]} {year}", f"{month_name(rng, month)} {year}", f"{month:02d}/{year}"])
        return DateExpr(f"in {text}", dt.date(year, month, 1), bare=text)
    if kind == "quarter":
        q, year = rng.randint(1, 4), rng.randint(1995, 2030)
        text = pick([f"Q{q} {year}", f"Q{q}/{year}", f"{year}-Q{q}", f"Q{q} of {year}"])
        text = pick([text, text, f"the {ORDINAL_WORDS[q - 1]} quarter of {year}"])
        return DateExpr(f"in {text}", dt.date(year, 3 * q - 2, 1), bare=text)
    if kind == "part_of_month":
        part = pick(["mid", "mid", "end", "end", "begin"])
        month = rng.randint(1, 12)
        m = month_name(rng, month)
        year = rng.randint(1995, 2030) if rng.random() < 0.7 else None
        if part == "mid":
            text, when = pick([(f"mid-{m}", "in mid-{m}"), (f"mid {m}", "in mid {m}"), (None, "in the middle of {m}")])
            day = 15
        elif part == "end":
            text, when = None, pick(["at the end of {m}", "by the end of {m}"])
            day = 0
        else:
            text, when = None, pick(["at the beginning of {m}", "at the start of {m}", "by the beginning of {m}"])
            day = 1
        suffix = f" {year}" if year else ""
        when, bare = when.format(m=m) + suffix, (text + suffix if text else None)

        def value_in(y: int) -> dt.date:
            return dt.date(y, month, day) if day else last_day(y, month)

        value = value_in(year or ref.year)
        if not year and value < ref:  # no year: the first such date on or after the reference date
            value = value_in(ref.year + 1)
        return DateExpr(when, value, "any" if year else "future", bare=bare)
    if kind == "month_relative":
        which, shift = pick([("the month", 0), ("this month", 0), ("next month", 1)])
        part = pick(["end", "end", "begin", "mid"]) if shift else "end"
        first = add_months(ref, shift)
        if part == "end":
            return DateExpr(f"{pick(['by', 'at'])} the end of {which}", last_day(first.year, first.month), "future")
        if part == "begin":
            return DateExpr(f"at the beginning of {which}", first, "future")
        return DateExpr(f"in the middle of {which}", first.replace(day=15), "future")
    if kind == "weekday":
        wd, mode = rng.randrange(7), pick(["next", "next", "last", "this", "on"])
        name = WEEKDAYS[wd] if rng.random() < 0.85 else WEEKDAYS[wd][:3]
        text = f"on {name}" if mode == "on" else f"{mode} {name}"
        tense = {"next": "future", "on": "future", "last": "past"}.get(mode, "any")
        return DateExpr(text, weekday_date(ref, wd, mode), tense)
    n = rng.choice([2, 3, 4, 5, 6, 10, 12, 21])
    word = NUMBER_WORDS.get(n, str(n)) if rng.random() < 0.5 else str(n)
    text, days, tense = pick(
        [
            ("tomorrow", 1, "future"), ("yesterday", -1, "past"), ("the day after tomorrow", 2, "future"),
            ("today", 0, "any"), (f"in {word} days", n, "future"), (f"{word} days ago", -n, "past"),
            (f"in {NUMBER_WORDS[min(n, 3)]} weeks", 7 * min(n, 3), "future"), ("a week from today", 7, "future"),
            ("in a fortnight", 14, "future"), ("the day before yesterday", -2, "past"),
        ]
    )  # fmt: skip
    return DateExpr(text, ref + dt.timedelta(days=days), tense)


DATE_KINDS = {
    "iso": 4, "numeric": 16, "numeric_yy": 9, "named": 10, "named_yy": 4, "ordinal_words": 5, "no_year": 10,
    "day_only": 3, "month_year": 4, "quarter": 7, "part_of_month": 8, "month_relative": 4, "weekday": 11,
    "relative": 5,
}  # fmt: skip
# Sentences: (tense, template); {w} takes DateExpr.when. Labels: {d} takes DateExpr.bare.
DATE_SENTENCES = [
    ({"f": "future", "p": "past", "a": "any"}[line[0]], line[1:].strip())
    for line in bank("""
    f  Can we do the call {w} instead?
    f  The package should arrive {w}.
    f  Please send the signed contract back {w} at the latest.
    f  Our new office opens {w}.
    f  The technician will come by {w} between 8 and 12.
    f  Reminder: the team offsite is {w}.
    f  Payment is due {w}.
    f  The new price list applies {w}.
    f  Could you confirm the dentist appointment {w}?
    f  We plan to launch the beta {w}.
    f  Your subscription will renew {w}.
    f  I'd like to book the meeting room for 6 people {w}.
    f  The movers are scheduled {w}, starting at 7:30.
    p  The patient was admitted {w} with mild symptoms.
    p  I ordered the spare parts {w} and still have nothing.
    p  We received your letter {w}.
    p  The server crashed {w} around 14:30.
    p  The contract was signed {w} by both parties.
    p  The incident happened {w}, shortly after lunch.
    p  She started in the finance team {w}.
    p  I paid the deposit of 250 EUR {w}.
    p  The water leak in flat 12 was reported {w}.
    a  Note to self: dentist {w}.
    a  FYI the audit is {w}, room 4B.
    a  Tenancy change for unit 7: handover {w}.
    a  The quarterly report covers the period starting {w}.
    """)
]
DATE_LABELS = bank("""
    Date: {d}
    Invoice date: {d}
    Deadline: {d}
    Date of birth: {d}
    Valid until {d}.
    Expiry: {d}
    Shipped {d} via DHL, 3 parcels.
    Start date: {d} | Ref: 88213 | Pages: 3
    Order 4471 - delivery {d}
    Signed: {d}, Lyon
""")
DATE_OPENERS = bank("""
    Hi {name},
    Hello {name}, quick update:
    Dear {name},
    FYI:
    Hey {name}!
""")
DATE_CLOSERS = bank("""
    Thanks!
    Let me know if that works.
    Best, {name}
    Cheers
    Regards, {name}
""")


def make_date(rng: random.Random, kind: str) -> dict[str, str]:
    ref = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 4 * 365))
    expr = date_expression(rng, kind, ref)
    if expr.bare is not None and rng.random() < 0.35:
        text = rng.choice(DATE_LABELS).format(d=expr.bare)
    else:
        fits = [t for tense, t in DATE_SENTENCES if expr.tense == "any" or tense in ("any", expr.tense)]
        text = rng.choice(fits).format(w=expr.when)
        if rng.random() < 0.3:
            opener = rng.choice(DATE_OPENERS).format(name=rng.choice(NAMES).split()[0])
            first = text.split()[0]
            keep = opener.endswith("!") or first in ("I", "I'd") or first[1:2].isupper()  # I, FYI
            text = f"{opener} {text if keep else text[:1].lower() + text[1:]}"
        if rng.random() < 0.3:
            text = f"{text} {rng.choice(DATE_CLOSERS).format(name=rng.choice(NAMES).split()[0])}"
    return {
        "input": f"Reference date: {ref.isoformat()} ({WEEKDAYS[ref.weekday()]}). Text: {text}",
        "expected_output": expr.value.isoformat(),
    }
