"""Support-ticket routing with house rules that override the obvious topic.

The rule book, in order of precedence (the first that applies decides):
1. A legal threat or a chargeback / bank dispute -> ``escalations``, whatever the topic.
2. A refund request for more than 100 (any currency) -> ``escalations``; 100 or less -> ``billing``.
3. An Enterprise-plan customer (account id ``ENT-...``) reporting an outage -> ``priority_support``.
4. Login, password, 2FA or SSO trouble -> ``account_access``, even when an invoice or payment is mentioned.
5. A feature request -> ``general``, even when it is about the app or the API.
6. Otherwise by topic: charges/invoices/plans -> ``billing``; delivery -> ``shipping``; bugs/errors ->
   ``technical``; anything else -> ``general``.
"""

from __future__ import annotations

import random

QUEUES = ["billing", "account_access", "technical", "shipping", "escalations", "priority_support", "general"]

NAMES = [
    "Maria",
    "Tom",
    "Aisha",
    "Kenji",
    "Lena",
    "Carlos",
    "Priya",
    "Ben",
    "Sofia",
    "Omar",
    "Yuki",
    "Hannah",
    "Luca",
    "Grace",
    "Mateo",
    "Chloe",
    "Ivan",
    "Fatima",
    "Noah",
    "Elif",
]
PRODUCTS = [
    "the mobile app",
    "the dashboard",
    "the desktop client",
    "the web portal",
    "the reporting module",
    "the sync service",
    "the public API",
    "the browser extension",
]
ITEMS = [
    "standing desk",
    "espresso machine",
    "pair of hiking boots",
    "monitor arm",
    "office chair",
    "label printer",
    "router",
    "set of headphones",
]
GREETINGS = ["Hi,", "Hello team,", "Hey there,", "Good morning,", "Dear support,", "Hi support,", "", "Hello,"]
CLOSINGS = ["Thanks,", "Best,", "Regards,", "Cheers,", "Thank you,", "Kind regards,", ""]
CURRENCY = [("$", ""), ("€", ""), ("£", ""), ("", " USD"), ("", " EUR")]


def _money(rng: random.Random, low: int, high: int) -> tuple[str, float]:
    amount = rng.randint(low, high) + rng.choice([0, 0, 0.5, 0.99, 0.25])
    sym, code = rng.choice(CURRENCY)
    text = f"{sym}{amount:,.2f}{code}" if amount % 1 else f"{sym}{int(amount):,}{code}"
    return text, amount


def _wrap(rng: random.Random, body: str, name: str, account: str) -> str:
    parts = [rng.choice(GREETINGS), body]
    sign = rng.choice(CLOSINGS)
    if sign:
        parts.append(f"{sign} {name}")
    if rng.random() < 0.8:
        parts.append(f"Account: {account}")
    text = " ".join(p for p in parts if p)
    if rng.random() < 0.15:  # a typo or two
        text = text.replace("the ", "teh ", 1)
    return text


def _account(rng: random.Random, enterprise: bool) -> str:
    return (
        f"ENT-{rng.randint(1000, 9999)}"
        if enterprise
        else f"{rng.choice(['PRO', 'STD', 'FREE'])}-{rng.randint(1000, 9999)}"
    )


def _legal(rng: random.Random) -> tuple[str, str]:
    topic = rng.choice(
        [
            f"You charged me twice for {rng.choice(['my subscription', 'the annual plan', 'last month'])}",
            f"My {rng.choice(ITEMS)} arrived broken and nobody answers",
            f"{rng.choice(PRODUCTS).capitalize()} deleted my data",
            "I cannot log in for a week now",
        ]
    )
    threat = rng.choice(
        [
            "If this is not fixed I will file a chargeback with my bank.",
            "I have already disputed the charge with my credit card company.",
            "My lawyer will be in touch.",
            "I am considering legal action.",
            "I will take this to small claims court.",
            "I opened a dispute with PayPal.",
        ]
    )
    return f"{topic}. {threat}", "legal threats and chargebacks or bank disputes always go to escalations"


def _refund(rng: random.Random, big: bool) -> tuple[str, str, str]:
    money, _ = _money(rng, 101, 2400) if big else _money(rng, 5, 99)
    if not big and rng.random() < 0.2:
        money = rng.choice(["$100", "€100.00", "100 USD"])
    reason = rng.choice(
        [
            "I cancelled within the trial",
            "the order never shipped",
            "I was billed after cancelling",
            "the product did not match the description",
            "I upgraded by mistake",
        ]
    )
    body = rng.choice(
        [
            f"I would like a refund of {money}, {reason}.",
            f"Please refund the {money} you charged me; {reason}.",
            f"Requesting my money back ({money}) because {reason}.",
        ]
    )
    if big:
        return body, "escalations", "refund requests over 100 go to escalations"
    return body, "billing", "refund requests of 100 or less go to billing"


def _outage(rng: random.Random) -> str:
    return rng.choice(
        [
            f"{rng.choice(PRODUCTS).capitalize()} is down for our whole team since this morning.",
            f"We are getting 503 errors from {rng.choice(PRODUCTS)} across all our offices.",
            f"Nobody in our company can reach {rng.choice(PRODUCTS)} right now; it times out.",
            f"{rng.choice(PRODUCTS).capitalize()} has been unavailable for two hours, production is blocked.",
        ]
    )


def _access(rng: random.Random) -> str:
    problem = rng.choice(
        [
            "I can't log in, the password reset email never arrives",
            "my 2FA codes are rejected since I changed phones",
            "SSO login loops back to the sign-in page",
            "my account got locked after too many attempts",
            "the login page says my password is wrong although I just reset it",
        ]
    )
    extra = rng.choice(
        [
            "",
            " I need to download last month's invoice urgently.",
            " I need to update my payment card before Friday.",
            " My subscription renews tomorrow.",
            " I want to check a charge on my statement.",
        ]
    )
    return problem[0].upper() + problem[1:] + "." + extra


def _feature(rng: random.Random) -> str:
    return rng.choice(
        [
            f"It would be great if {rng.choice(PRODUCTS)} had a dark mode.",
            f"Could you add CSV export to {rng.choice(PRODUCTS)}?",
            f"Feature request: let {rng.choice(PRODUCTS)} send a webhook when a report is ready.",
            f"Please consider adding keyboard shortcuts to {rng.choice(PRODUCTS)}.",
            f"Suggestion: {rng.choice(PRODUCTS)} should support bulk editing.",
        ]
    )


def _topic(rng: random.Random, label: str) -> str:
    if label == "billing":
        return rng.choice(
            [
                f"Why was I charged {_money(rng, 10, 300)[0]} this month? My plan should be cheaper.",
                "Can you send me an invoice with our VAT number on it?",
                "I want to switch from monthly to annual billing.",
                "My card was declined but the charge still shows as pending.",
                f"The invoice for {rng.choice(['March', 'June', 'October'])} lists the wrong company address.",
            ]
        )
    if label == "shipping":
        return rng.choice(
            [
                f"My {rng.choice(ITEMS)} was supposed to arrive last week; tracking has not moved.",
                f"The courier left my {rng.choice(ITEMS)} at the wrong address.",
                f"Can I change the delivery address for my {rng.choice(ITEMS)} order?",
                f"The box with my {rng.choice(ITEMS)} was crushed in transit.",
            ]
        )
    if label == "technical":
        return rng.choice(
            [
                f"{rng.choice(PRODUCTS).capitalize()} crashes when I open a large file.",
                f"I get 'Error 500' when saving settings in {rng.choice(PRODUCTS)}.",
                f"The export button in {rng.choice(PRODUCTS)} does nothing.",
                f"{rng.choice(PRODUCTS).capitalize()} shows an empty chart since the last update.",
                f"Our integration with {rng.choice(PRODUCTS)} returns a 401 although the token is valid.",
            ]
        )
    return rng.choice(
        [
            "Do you have an office in Berlin?",
            "What are your support hours over the holidays?",
            "I just wanted to say the new onboarding is great.",
            "Is there a discount for non-profits?",
            "Where can I find your privacy policy?",
        ]
    )


def make(rng: random.Random) -> dict[str, str]:
    """One ticket with its gold queue and the house rule that decided it."""
    kind = rng.choices(
        ["legal", "refund_big", "refund_small", "outage_ent", "outage_std", "access", "feature", "topic"],
        weights=[14, 12, 10, 12, 6, 16, 10, 20],
    )[0]
    enterprise = kind == "outage_ent" or rng.random() < 0.2
    account = _account(rng, enterprise)
    if kind == "legal":
        body, why = _legal(rng)
        label = "escalations"
    elif kind in ("refund_big", "refund_small"):
        body, label, why = _refund(rng, kind == "refund_big")
    elif kind == "outage_ent":
        body, label, why = (
            _outage(rng),
            "priority_support",
            "outages reported by Enterprise (ENT-) accounts go to priority_support",
        )
    elif kind == "outage_std":
        account = _account(rng, False)
        body, label, why = _outage(rng), "technical", "outages from non-Enterprise accounts are technical"
    elif kind == "access":
        body, label, why = (
            _access(rng),
            "account_access",
            "login, password, 2FA and SSO problems go to account_access even if billing is mentioned",
        )
    elif kind == "feature":
        body, label, why = _feature(rng), "general", "feature requests go to general, not technical"
    else:
        label = rng.choice(["billing", "shipping", "technical", "general"])
        body, why = _topic(rng, label), f"routed by topic: {label}"
    if kind == "topic" and label == "technical" and enterprise:
        account = _account(rng, False)  # an Enterprise bug report is not an outage, but keep the data unambiguous
    text = _wrap(rng, body, rng.choice(NAMES), account)
    return {"input": text, "expected_output": label, "why": why}
