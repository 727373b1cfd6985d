"""Date normalization: a text with one date expression (and its reference date) in, ``YYYY-MM-DD`` out.

The output is a plain ``str``: the format is stated in the task, while the dataset's conventions
(day-first numeric dates, the two-digit-year pivot, what "next Friday" means...) are what the skill
has to teach. No schema pattern either, so an answer in the wrong format reaches the metric, which
says what was wrong, instead of failing in the adapter.

Example:
    >>> program = DateNormalizer()
    >>> sorted(program.normalize.signature.input_fields)
    ['text']
"""

from __future__ import annotations

import dspy

# Split-dir keys -> this program's field names.
FIELDS = {"input": "text", "expected_output": "date"}


class NormalizeDate(dspy.Signature):
    """Find the calendar date the text refers to and write it as YYYY-MM-DD."""

    text: str = dspy.InputField()
    date: str = dspy.OutputField()


class DateNormalizer(dspy.Module):
    """One ``dspy.Predict``: ``text -> date``."""

    def __init__(self) -> None:
        super().__init__()
        self.normalize = dspy.Predict(NormalizeDate)

    def forward(self, text: str) -> dspy.Prediction:
        return self.normalize(text=text)
