"""Field-by-field comparison: soft score = fraction of the five fields right; feedback lists each mistake."""

import json
from typing import Any

import dspy

KEYS = ("vendor", "invoice_number", "date", "total", "currency")
HINTS = {
    "vendor": "the vendor name without its legal form (GmbH, Inc., Ltd, LLC, AG, S.A., B.V., SARL)",
    "invoice_number": "the number as printed, without '#' or 'No.', or null when there is none",
    "date": "YYYY-MM-DD; numeric dates are day-first",
    "total": "the amount due after discounts, two decimals, no thousands separator, no symbol",
    "currency": "the ISO 4217 code; $ is USD unless CAD/AUD is stated",
}


def _as_dict(value: Any) -> dict | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in ("", "null", "none") else text


def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> dspy.Prediction:
    expected = _as_dict(example.invoice) or {}
    got = _as_dict(getattr(prediction, "invoice", None))
    if got is None:
        return dspy.Prediction(score=0.0, feedback="The output is not a JSON object with the five invoice fields.")
    wrong = []
    for key in KEYS:
        want, have = _norm(expected.get(key)), _norm(got.get(key))
        same = (want or "").lower() == (have or "").lower() if key in ("vendor", "currency") else want == have
        if not same:
            wrong.append(f"{key}: expected {json.dumps(want)}, got {json.dumps(have)} ({HINTS[key]})")
    score = (len(KEYS) - len(wrong)) / len(KEYS)
    if not wrong:
        return dspy.Prediction(score=1.0, feedback="All five fields are correct.")
    return dspy.Prediction(score=score, feedback="Wrong fields: " + "; ".join(wrong) + ".")
