"""The built-in generic program and exact-match metric, for data in the SkillOpt split-dir format.

A SkillOpt user brings ``{"input": ..., "expected_output": ...}`` lines unchanged: one predictor maps
``input`` to ``expected_output``, and the skill is what teaches it the task's conventions.

Example:
    >>> program = GenericProgram()
    >>> exact_match(dspy.Example(expected_output="Paris"), dspy.Prediction(expected_output=" paris ")).score
    1.0
"""

from __future__ import annotations

import dspy


class SolveTask(dspy.Signature):
    """Solve the task for the given input. Answer with the expected output only."""

    input: str = dspy.InputField()
    expected_output: str = dspy.OutputField()


class GenericProgram(dspy.Module):
    """One ``dspy.Predict``: ``input -> expected_output``."""

    def __init__(self) -> None:
        super().__init__()
        self.solve = dspy.Predict(SolveTask)

    def forward(self, input: str) -> dspy.Prediction:
        return self.solve(input=input)


def _norm(value: object) -> str:
    return " ".join(str(value if value is not None else "").split()).lower()


def exact_match(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> dspy.Prediction:
    """1.0 when the output equals the expected output up to whitespace and case, with feedback otherwise."""
    expected = example.get("expected_output")
    got = prediction.get("expected_output") if hasattr(prediction, "get") else None
    if _norm(got) == _norm(expected):
        return dspy.Prediction(score=1.0, feedback="Correct.")
    return dspy.Prediction(score=0.0, feedback=f"Expected {str(expected)!r} but got {str(got)!r}.")
