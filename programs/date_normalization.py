"""Normalize the date mentioned in a text. The dataset's conventions are what the skill must learn."""

import dspy

FIELDS = {"input": "text", "expected_output": "date"}


class NormalizeDate(dspy.Signature):
    """Find the date mentioned in the text and write it as YYYY-MM-DD."""

    text: str = dspy.InputField()
    date: str = dspy.OutputField(desc="YYYY-MM-DD")


class DateNormalizer(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.normalize = dspy.Predict(NormalizeDate)

    def forward(self, text: str) -> dspy.Prediction:
        return self.normalize(text=text)
