"""Ticket routing metric: 1.0 for the gold queue, else 0.0 with feedback naming the cues in the ticket.

The feedback states what the ticket contains (a chargeback, a refund amount, an ``ENT-`` account, an
outage, a login problem...), never the routing rule: finding the rule is the optimizer's job.

Example:
    >>> import dspy
    >>> gold = dspy.Example(ticket="I will file a chargeback.", queue="escalations").with_inputs("ticket")
    >>> metric(gold, dspy.Prediction(queue="billing")).feedback
    "Expected queue 'escalations' but got 'billing'. The ticket mentions a chargeback."
"""

from __future__ import annotations

import re

import dspy

from metrics._common import field
from programs.ticket_routing import FIELDS, QUEUES

_MONEY = r"(?:[$€£]\s?\d[\d,.]*|\d[\d,.]*\s?(?:€|EUR|USD|GBP|dollars|euros))"
CUES = [
    (re.compile(r"chargeback", re.I), "The ticket mentions a chargeback."),
    (re.compile(r"\bdisputed?\b", re.I), "The ticket mentions a payment dispute."),
    (re.compile(r"lawyer|attorney|\bsue\b|court\b|legal action", re.I), "The ticket threatens legal action."),
    (re.compile(rf"(?:refund|reimburse|money back)\D{{0,40}}?({_MONEY})", re.I), "The ticket asks for a refund of {}."),
    (re.compile(rf"({_MONEY})\D{{0,60}}?(?:refund|money back)", re.I), "The ticket asks for a refund of {}."),
    (re.compile(r"\b(ENT-\d+)"), "The account id {} starts with ENT-."),
    (
        re.compile(r"\bdown\b|outage|\b503\b|unavailable|unreachable|nobody in our|for everyone|all of us", re.I),
        "The ticket reports an outage that affects everyone.",
    ),
    (
        re.compile(r"log ?in|sign[- ]in|password|2fa|two-factor|\bsso\b|\blocked\b|verification code", re.I),
        "The ticket is about signing in (login, password, 2FA, SSO or a locked account).",
    ),
    (
        re.compile(r"feature request|would be great|would love|consider adding|suggestion|idea for|any plans", re.I),
        "The ticket is a feature request or suggestion.",
    ),
    (
        re.compile(r"cancel|close our account|terminate|automatic renewal|end my membership", re.I),
        "The ticket asks to cancel a subscription or close the account.",
    ),
]


def normalize_queue(value: object) -> str:
    """``' Account Access '`` -> ``'account_access'``: case, spaces, quotes and hyphens do not matter."""
    text = str(value if value is not None else "").strip().strip("'\"`.").strip().lower()
    return re.sub(r"[\s-]+", "_", text)


def cues(ticket: str) -> list[str]:
    """What the ticket contains that a routing rule may depend on, as sentences."""
    found: list[str] = []
    for pattern, sentence in CUES:
        match = pattern.search(ticket)
        line = sentence.format(*match.groups()) if match else ""
        if line and not any(f.split(" of ")[0] == line.split(" of ")[0] for f in found):  # one refund amount
            found.append(line)
    return found


def metric(example: dspy.Example, prediction: dspy.Prediction, trace: object = None) -> dspy.Prediction:
    """Exact queue match (after case/whitespace normalization), with feedback."""
    expected = normalize_queue(field(example, FIELDS["expected_output"], "expected_output"))
    raw = field(prediction, FIELDS["expected_output"], "expected_output")
    got = normalize_queue(raw)
    if got == expected:
        return dspy.Prediction(score=1.0, feedback=f"Correct: the ticket belongs in '{expected}'.")
    if not got:
        head = f"No queue was given. Expected queue '{expected}'."
    elif got not in QUEUES:
        head = f"'{raw}' is not a queue; answer with exactly one of {', '.join(QUEUES)}. Expected '{expected}'."
    else:
        head = f"Expected queue '{expected}' but got '{got}'."
    ticket = str(field(example, FIELDS["input"], "input") or "")
    return dspy.Prediction(score=0.0, feedback=" ".join([head, *cues(ticket)]))
