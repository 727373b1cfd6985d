"""Field extraction metric: soft score = the fraction of the five fields that are right.

The optimizer thresholds the score into a hard pass/fail (all five right). The feedback lists every
wrong field with the expected value and a diagnosis: an amount in the wrong format, an amount taken
from another line of the document (quoted), a vendor with a trailing legal form, a value where the
document states none, day and month swapped, a currency symbol instead of a code.

Example:
    >>> import dspy, json
    >>> gold = {"vendor": "Atlas Freight", "invoice_number": None, "date": "2024-04-03", "total": "12.50",
    ...         "currency": "EUR"}
    >>> ex = dspy.Example(document="Atlas Freight Inc.", invoice=json.dumps(gold)).with_inputs("document")
    >>> metric(ex, dspy.Prediction(invoice={**gold, "vendor": "Atlas Freight Inc."})).score
    0.8
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import dspy

from metrics._common import field
from programs.field_extraction import FIELDS, KEYS

NULLS = {"", "null", "none", "n/a", "na", "-", "unknown"}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NUMBER = re.compile(r"\d[\d.,']*\d|\d")


def as_dict(value: Any) -> dict[str, Any] | None:
    """A JSON object from a pydantic model, a mapping or a JSON string (code fences allowed), else None."""
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return dict(value)
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", str(value).strip())
    try:
        parsed = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def clean(value: Any) -> str | None:
    """The value as stripped text; null-like values are None."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in NULLS else text


def same(key: str, want: str | None, have: str | None) -> bool:
    if want is None or have is None:
        return want is have
    if key == "vendor":  # case and spacing of a name do not matter
        return " ".join(want.split()).casefold() == " ".join(have.split()).casefold()
    if key == "currency":
        return want.upper() == have.upper()
    return want == have


def canonical_amount(text: str) -> str | None:
    """``'€1.234,50'`` / ``"1'234.50"`` / ``'1,234.5'`` -> ``'1234.50'``; None without a number."""
    match = NUMBER.search(text)
    if not match:
        return None
    token = match.group()
    frac = "00"
    decimal = re.search(r"[.,](\d{1,2})$", token)
    if decimal:
        frac, token = decimal.group(1).ljust(2, "0"), token[: decimal.start()]
    digits = re.sub(r"\D", "", token)
    return f"{int(digits)}.{frac}" if digits else None


def source_line(document: str, value: str, key: str) -> str | None:
    """The document line the wrong ``value`` was probably taken from (the last one: totals come last)."""
    found = None
    for line in document.splitlines():
        if key == "total":
            if any(canonical_amount(tok) == canonical_amount(value) for tok in NUMBER.findall(line)):
                found = line.strip()
        elif value.casefold() in line.casefold():
            found = line.strip()
    return found


def diagnose(key: str, want: str | None, have: str | None, document: str) -> str:
    """Why ``have`` is not ``want``, in one clause."""
    if have is None:
        return "the document does state it"
    if want is None:
        return "the document does not state it, so the field must be null"
    if key == "vendor" and have.casefold().startswith(want.casefold()):
        return f"the extra {have[len(want) :].strip()!r} is the company's legal form"
    if key == "invoice_number" and re.sub(r"^(#|no\.?|nr\.?)\s*", "", have, flags=re.I) == want:
        return "without the '#' or 'No.' in front"
    if key == "date":
        if not ISO.match(have):
            return "the date must be YYYY-MM-DD"
        if have[:4] == want[:4] and have[5:7] == want[8:10] and have[8:10] == want[5:7]:
            return "day and month are swapped"
    if key == "total" and canonical_amount(have) == want:
        return "right amount, wrong format: two decimals, a dot, no thousands separator, no currency symbol"
    if key == "currency" and not re.fullmatch(r"[A-Za-z]{3}", have):
        return "the currency must be a three-letter ISO 4217 code"
    line = source_line(document, have, key) if key in ("vendor", "invoice_number", "total") else None
    return f"{have!r} comes from the line {line!r}" if line else ""


def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> dspy.Prediction:
    """Fraction of the five fields right (soft score), with feedback on each wrong field."""
    expected = as_dict(field(example, FIELDS["expected_output"], "expected_output")) or {}
    got = as_dict(field(prediction, FIELDS["expected_output"], "expected_output"))
    if got is None:
        return dspy.Prediction(
            score=0.0,
            feedback=f"The answer is not a JSON object with the keys {', '.join(KEYS)}. "
            f"Expected {json.dumps({k: expected.get(k) for k in KEYS}, ensure_ascii=False)}.",
        )
    document = str(field(example, FIELDS["input"], "input") or "")
    wrong = []
    for key in KEYS:
        want, have = clean(expected.get(key)), clean(got.get(key))
        if not same(key, want, have):
            why = diagnose(key, want, have, document)
            wrong.append(f"{key}: expected {json.dumps(want, ensure_ascii=False)}, got "
                         f"{json.dumps(have, ensure_ascii=False)}" + (f" ({why})" if why else ""))  # fmt: skip
    score = (len(KEYS) - len(wrong)) / len(KEYS)
    if not wrong:
        return dspy.Prediction(score=1.0, feedback="All five fields are correct.")
    missing = [k for k in KEYS if k not in got]
    extra = f" Missing keys: {', '.join(missing)}." if missing else ""
    return dspy.Prediction(score=score, feedback=f"{len(wrong)} of 5 fields wrong. " + "; ".join(wrong) + "." + extra)
