"""Exact queue match, with feedback that quotes the house rule behind the gold label."""

import dspy


def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> dspy.Prediction:
    expected = str(example.queue).strip().lower()
    got = str(getattr(prediction, "queue", None) or "").strip().lower()
    if got == expected:
        return dspy.Prediction(score=1.0, feedback=f"Correct: {expected}.")
    why = example.get("why") or ""
    rule = f" House rule: {why}." if why else ""
    return dspy.Prediction(score=0.0, feedback=f"Expected queue '{expected}' but got '{got or 'nothing'}'.{rule}")
