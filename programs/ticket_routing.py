"""Ticket routing: a customer support ticket in, one queue label out.

The output is typed as a ``Literal`` of the queues: the label set is part of the task (a model cannot
answer without it), and under ``dspy.JSONAdapter`` it becomes an ``enum`` in the JSON schema, so a
small model's constrained decoding can only produce a valid queue. Which queue the house rules pick is
what the skill has to teach; the signature states no rule.

Example:
    >>> program = TicketRouter()
    >>> sorted(program.route.signature.output_fields)
    ['queue']
"""

from __future__ import annotations

from typing import Literal, get_args

import dspy

Queue = Literal["billing", "account_access", "technical", "shipping", "escalations", "priority_support", "general"]
QUEUES: tuple[str, ...] = get_args(Queue)
# Split-dir keys -> this program's field names.
FIELDS = {"input": "ticket", "expected_output": "queue"}


class RouteTicket(dspy.Signature):
    """Route the customer support ticket to the queue that should handle it."""

    ticket: str = dspy.InputField()
    queue: Queue = dspy.OutputField()


class TicketRouter(dspy.Module):
    """One ``dspy.Predict``: ``ticket -> queue``."""

    def __init__(self) -> None:
        super().__init__()
        self.route = dspy.Predict(RouteTicket)

    def forward(self, ticket: str) -> dspy.Prediction:
        return self.route(ticket=ticket)
