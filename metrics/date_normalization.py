"""Exact YYYY-MM-DD match, with feedback that names the convention behind the gold date."""

import re

import dspy

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> dspy.Prediction:
    expected = str(example.date).strip()
    got = str(getattr(prediction, "date", None) or "").strip()
    if got == expected:
        return dspy.Prediction(score=1.0, feedback=f"Correct: {expected}.")
    why = example.get("why") or ""
    rule = f" Convention: {why}." if why else ""
    form = "" if ISO.match(got) else " The answer must be exactly YYYY-MM-DD."
    return dspy.Prediction(score=0.0, feedback=f"Expected {expected} but got '{got or 'nothing'}'.{form}{rule}")
