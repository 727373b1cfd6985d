"""Extract invoice fields into a fixed JSON object. The house conventions are what the skill must learn.

The output is typed (a pydantic model), so under ``dspy.JSONAdapter`` a small model's decoding is
constrained to exactly these five keys; a string holding JSON would be JSON inside JSON.
"""

import dspy
from pydantic import BaseModel

FIELDS = {"input": "document", "expected_output": "invoice"}


class Invoice(BaseModel):
    vendor: str | None
    invoice_number: str | None
    date: str | None
    total: str | None
    currency: str | None


class ExtractInvoice(dspy.Signature):
    """Extract the invoice fields from the document."""

    document: str = dspy.InputField()
    invoice: Invoice = dspy.OutputField()


class InvoiceExtractor(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.extract = dspy.Predict(ExtractInvoice)

    def forward(self, document: str) -> dspy.Prediction:
        return self.extract(document=document)
