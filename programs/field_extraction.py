"""Field extraction: an invoice, receipt or payment e-mail in, five fields out.

The output is one field typed as a pydantic model rather than a ``str`` holding JSON: under
``dspy.JSONAdapter`` its schema (exactly these five keys, each a string or null, with a ``maxLength``
so a tiny model cannot loop inside a string) constrains decoding, and the model never has to escape
JSON inside JSON. One output field also keeps the split-dir mapping simple: the gold is the JSON
object in ``expected_output``, renamed to ``invoice``. The house conventions (vendor without its legal
form, the amount due, ISO currency codes...) are what the skill has to teach.

Example:
    >>> Invoice(vendor="Atlas Freight", invoice_number=None, date=None, total="12.50", currency="EUR").total
    '12.50'
"""

from __future__ import annotations

import dspy
from pydantic import BaseModel, ConfigDict, Field

# Split-dir keys -> this program's field names.
FIELDS = {"input": "document", "expected_output": "invoice"}
KEYS = ("vendor", "invoice_number", "date", "total", "currency")


class Invoice(BaseModel):
    """The five fields; a field the document does not state is null."""

    model_config = ConfigDict(extra="forbid")

    vendor: str | None = Field(max_length=120)
    invoice_number: str | None = Field(max_length=40)
    date: str | None = Field(max_length=32)
    total: str | None = Field(max_length=32)
    currency: str | None = Field(max_length=16)


class ExtractInvoice(dspy.Signature):
    """Extract the invoice fields from the document."""

    document: str = dspy.InputField()
    invoice: Invoice = dspy.OutputField()


class InvoiceExtractor(dspy.Module):
    """One ``dspy.Predict``: ``document -> invoice``."""

    def __init__(self) -> None:
        super().__init__()
        self.extract = dspy.Predict(ExtractInvoice)

    def forward(self, document: str) -> dspy.Prediction:
        return self.extract(document=document)
