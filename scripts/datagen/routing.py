"""ticket_routing. Rule book (the first rule that applies decides):
  1. a legal threat or a chargeback / payment dispute          -> escalations (whatever the topic)
  2. a refund request: amount > 100 (any currency)              -> escalations; <= 100 -> billing
  3. an outage (down / 503 / unreachable for everyone)          -> priority_support for ENT- accounts, else technical
  4. login, password, 2FA, SSO, lockout                         -> account_access (even if billing is mentioned)
  5. a feature request or suggestion                            -> general (even about the app or the API)
  6. cancelling a subscription or closing the account           -> billing
  7. otherwise the topic: billing | shipping | technical | general
The web-form "Category" the customer picked is never used.

``route`` is the rule book as code; ``make_ticket`` writes one ticket of a kind and re-checks it: the cues detected
again in its final text (``audit_ticket``) must lead to the same queue.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from .common import MONTHS, NAMES, WEEKDAYS
from .routing_phrases import (
    ACCESS_TEXT,
    APPS,
    BILLING_MENTION,
    CANCEL_TEXT,
    CLOSINGS,
    COMPANIES,
    FEATURE_TEXT,
    FORM_CATEGORIES,
    FRUSTRATION,
    GREETINGS,
    ITEMS,
    LEGAL_TEXT,
    OUTAGE_TEXT,
    REFUND_REASON,
    REFUND_TEXT,
    SUBJECTS,
    TOPIC_TEXT,
    TYPOS,
)

QUEUES = ("billing", "account_access", "technical", "shipping", "escalations", "priority_support", "general")
REFUND_LIMIT = 100


@dataclass(frozen=True)
class Ticket:
    """The facts a ticket states; ``route`` turns them into the gold queue."""

    topic: str
    enterprise: bool = False
    legal: bool = False
    refund: float | None = None
    outage: bool = False
    access: bool = False
    feature: bool = False
    cancel: bool = False


def route(t: Ticket) -> str:
    """The house routing rules, in order of precedence."""
    if t.legal:
        return "escalations"
    if t.refund is not None:
        return "escalations" if t.refund > REFUND_LIMIT else "billing"
    if t.outage:
        return "priority_support" if t.enterprise else "technical"
    if t.access:
        return "account_access"
    if t.feature:
        return "general"
    if t.cancel:
        return "billing"
    return t.topic


# Independent cue detection: every ticket's text must route to its gold queue from these cues alone.
CUE = {
    "legal": re.compile(r"chargeback|lawyer|attorney|\bsue\b|court|legal action|disputed?\b", re.I),
    "refund": re.compile(r"refund|money back|reimburse", re.I),
    "outage": re.compile(r"\bdown\b|outage|\b503\b|unavailable|unreachable|nobody in our|for everyone|all of us", re.I),
    "access": re.compile(r"log ?in|sign[- ]in|password|2fa|two-factor|\bsso\b|\blocked\b|verification code", re.I),
    "feature": re.compile(
        r"feature request|would be great|would love|consider adding|suggestion|idea for|any plans|"
        r"like to request|make it possible",
        re.I,
    ),
    "cancel": re.compile(r"cancel|close our account|terminate|automatic renewal|end my membership", re.I),
}
MONEY_RE = re.compile(
    r"(?:[$€£]|USD |EUR )\s?(\d[\d,]*(?:\.\d\d)?)|(\d[\d.,]*)\s?(?:€|EUR\b|USD\b|dollars|euros)", re.I
)


def money_text(rng: random.Random, amount: float) -> str:
    whole = f"{amount:,.2f}" if rng.random() < 0.6 or amount % 1 else f"{int(amount):,}"
    style = rng.choice(["${a}", "${a}", "€{a}", "£{a}", "{a} EUR", "{a} USD", "EUR {a}", "{a} euros", "{e} €"])
    return style.format(a=whole, e=f"{amount:.2f}".replace(".", ","))


def parse_money(text: str) -> float | None:
    m = MONEY_RE.search(text)
    if not m:
        return None
    raw = m.group(1) or m.group(2)
    if re.search(r",\d\d$", raw):  # 89,90 €: a decimal comma
        raw = raw.replace(".", "").replace(",", ".")
    return float(raw.replace(",", ""))


def audit_ticket(text: str) -> str | None:
    """The queue the cues in ``text`` decide by rules 1-6, or None when only the topic decides."""
    body = re.sub(r"^Category:.*$", "", text, flags=re.M)  # the category the customer picked is no evidence
    refund = parse_money(body) if CUE["refund"].search(body) else None
    facts = Ticket(
        topic="",
        enterprise="ENT-" in text,
        legal=bool(CUE["legal"].search(body)),
        refund=refund,
        outage=bool(CUE["outage"].search(body)),
        access=bool(CUE["access"].search(body)),
        feature=bool(CUE["feature"].search(body)),
        cancel=bool(CUE["cancel"].search(body)),
    )
    return route(facts) or None


def refund_amount(rng: random.Random, big: bool) -> float:
    if big:
        return (
            rng.choice([100.5, 101, 105, 110])
            if rng.random() < 0.15
            else rng.randint(120, 2400) + rng.choice([0, 0.5, 0.99])
        )
    return (
        rng.choice([100, 99.99, 100.0, 95]) if rng.random() < 0.2 else rng.randint(5, 90) + rng.choice([0, 0.5, 0.99])
    )


TICKET_KINDS = {
    "legal": 13, "refund_big": 11, "refund_small": 10, "outage_ent": 11, "outage_other": 6, "ent_bug": 4,
    "access_billing": 9, "access": 4, "feature": 8, "cancel": 6,
    "topic_billing": 4, "topic_shipping": 8, "topic_technical": 3, "topic_general": 3,
}  # fmt: skip


def ticket_body(rng: random.Random, kind: str) -> tuple[Ticket, list[str]]:
    """The facts and the sentences of one ticket of ``kind``."""
    pick = rng.choice
    enterprise = kind in ("outage_ent", "ent_bug") or (kind not in ("outage_other",) and rng.random() < 0.2)
    topic = pick(["billing", "shipping", "technical"]) if kind in ("legal", "refund_big", "refund_small") else "general"
    if kind == "legal":
        first = pick(["topic", "topic", "refund", "access", "outage"])
        sentences, refund = [], None
        if first == "refund":
            refund = refund_amount(rng, big=rng.random() < 0.3)
            reason = pick(REFUND_REASON[topic])
            sentences.append(pick(REFUND_TEXT).replace("{reason}", reason).replace("{Reason}", cap(reason)))
        elif first == "access":
            sentences.append(pick(ACCESS_TEXT))
        elif first == "outage":
            sentences.append(pick(OUTAGE_TEXT))
        else:
            sentences.append(pick([s for s in TOPIC_TEXT[topic] if "{money}" not in s]))
        sentences.append(pick(LEGAL_TEXT))
        facts = Ticket(topic, enterprise, legal=True, refund=refund, outage=first == "outage", access=first == "access")
    elif kind in ("refund_big", "refund_small"):
        amount = refund_amount(rng, big=kind == "refund_big")
        reason = pick(REFUND_REASON[topic])
        sentences = [pick(REFUND_TEXT).replace("{reason}", reason).replace("{Reason}", cap(reason))]
        facts = Ticket(topic, enterprise, refund=amount)
    elif kind in ("outage_ent", "outage_other"):
        sentences = [pick(OUTAGE_TEXT)] + ([pick(BILLING_MENTION)] if rng.random() < 0.25 else [])
        facts = Ticket("technical", kind == "outage_ent", outage=True)
    elif kind == "ent_bug":
        sentences, facts = [pick(TOPIC_TEXT["technical"])], Ticket("technical", True)
    elif kind in ("access", "access_billing"):
        sentences = [pick(ACCESS_TEXT)] + ([pick(BILLING_MENTION)] if kind == "access_billing" else [])
        if kind == "access_billing" and rng.random() < 0.4:
            sentences.reverse()
        facts = Ticket("general", enterprise, access=True)
    elif kind == "feature":
        sentences, facts = [pick(FEATURE_TEXT)], Ticket("general", enterprise, feature=True)
    elif kind == "cancel":
        sentences, facts = [pick(CANCEL_TEXT)], Ticket("billing", enterprise, cancel=True)
    else:
        topic = kind.removeprefix("topic_")
        sentences, facts = [pick(TOPIC_TEXT[topic])], Ticket(topic, enterprise)
    if rng.random() < 0.25:
        sentences.insert(rng.randint(0, len(sentences)), pick(FRUSTRATION))
    slots = {
        "app": pick(APPS), "item": pick(ITEMS), "order": f"{rng.randint(10000, 99999)}", "n": rng.randint(2, 40),
        "month": pick(MONTHS), "weekday": pick(WEEKDAYS), "time": pick(["this morning", "9 am", "midnight", "lunch"]),
        "years": rng.randint(2, 9),
        "money": money_text(rng, refund_amount(rng, big=False) if facts.refund is None else facts.refund),
    }  # fmt: skip
    slots["App"] = cap(slots["app"])
    return facts, [s.format(**slots) for s in sentences]


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def noisy(rng: random.Random, text: str) -> str:
    """Typos in common words (never in a cue word), sometimes an all-lowercase writer."""
    if rng.random() < 0.2:
        for word in rng.sample(sorted(TYPOS), 3):
            text = re.sub(rf"\b{word}\b", TYPOS[word], text, count=1)
    if rng.random() < 0.1:
        text = text.lower()
    return text


def make_ticket(rng: random.Random, kind: str) -> dict[str, str]:
    facts, sentences = ticket_body(rng, kind)
    prefix = "ENT" if facts.enterprise else rng.choice(["PRO", "TEAM", "STD", "FREE"])
    account = f"{prefix}-{rng.randint(1000, 99999)}"
    name = rng.choice(NAMES)
    body = noisy(rng, " ".join(sentences))
    sign = [rng.choice(CLOSINGS), name] + ([rng.choice(COMPANIES)] if rng.random() < 0.3 else [])
    if rng.random() < 0.15:
        sign.append(rng.choice(["Sent from my iPhone", "Sent from my phone, sorry for typos"]))
    style = rng.choice(["email", "email", "chat", "form"])
    if style == "email":
        subject = rng.choice(SUBJECTS).format(order=rng.randint(10000, 99999))
        acct = rng.choice([f"Account: {account}", f"Account ID: {account}", f"Customer ID: {account}"])
        head = [f"Subject: {subject}", "", rng.choice(GREETINGS)]
        parts = [acct, *head] if rng.random() < 0.3 else [*head]
        parts += ["", body, "", *sign] + ([] if parts[0] == acct else ["", acct])
        text = "\n".join(parts)
    elif style == "chat":
        greet = rng.choice(["", "hi", "hello", "hey"])
        text = f"{greet + ' ' if greet else ''}{body} (account {account}) - {name.split()[0]}"
    else:
        category = rng.choice(FORM_CATEGORIES)
        text = f"Account ID: {account}\nName: {name}\nCategory: {category}\nMessage: {body}"
    label = route(facts)
    audited = audit_ticket(text)
    if audited != (route(replace(facts, topic="")) or None):
        raise AssertionError(f"ticket cues decide {audited!r} but the rule book says {label!r}:\n{text}")
    return {"input": text, "expected_output": label}
