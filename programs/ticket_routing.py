"""Route a support ticket to one queue. The house rules are what the skill must learn."""

from typing import Literal

import dspy

QUEUES = ("billing", "account_access", "technical", "shipping", "escalations", "priority_support", "general")
# Split-dir keys -> this program's field names.
FIELDS = {"input": "ticket", "expected_output": "queue"}


class RouteTicket(dspy.Signature):
    """Route the customer support ticket to the right queue."""

    ticket: str = dspy.InputField()
    queue: Literal[QUEUES] = dspy.OutputField()


class TicketRouter(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.route = dspy.Predict(RouteTicket)

    def forward(self, ticket: str) -> dspy.Prediction:
        return self.route(ticket=ticket)
