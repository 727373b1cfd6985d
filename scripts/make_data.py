"""Generate the bundled tasks as SkillOpt split dirs: ``data/<task>/{train,valid,test}.jsonl``.

Each line is ``{"id": "<task>-<split>-NNN", "input": ..., "expected_output": ...}``. The gold outputs
come from each task's rule book, written below as code (``route``, ``date_expression``, ``make_invoice``), so
they are right by construction, and each example is re-checked against the text it ended up with (the
routing cues are detected again independently; an invoice must state its gold values). No input appears
in two splits. Seeded ``random.Random`` and stdlib only: running it again writes byte-identical files.

Usage:
    python scripts/make_data.py            # (re)write data/
    python scripts/make_data.py --check    # exit 1 if the files in data/ differ from what would be written
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

SEED = 20241124
SIZES = {"train": 80, "valid": 60, "test": 100}
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def bank(text: str) -> list[str]:
    """One phrase per non-empty line (keeps the phrase banks compact and readable)."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def allocate(weights: dict[str, int], n: int, rng: random.Random) -> list[str]:
    """``n`` kinds in proportion to ``weights`` (largest remainder), shuffled: every split gets the same mix."""
    total = sum(weights.values())
    quotas = {k: n * w // total for k, w in weights.items()}
    by_remainder = sorted(weights, key=lambda k: (-(n * weights[k] % total), list(weights).index(k)))
    for k in by_remainder[: n - sum(quotas.values())]:
        quotas[k] += 1
    kinds = [k for k in weights for _ in range(quotas[k])]
    rng.shuffle(kinds)
    return kinds


def ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


NAMES = bank("""
Maria Lopez
Tom Becker
Aisha Khan
Kenji Watanabe
Lena Fischer
Carlos Mendes
Priya Nair
Ben O'Connor
Sofia Rossi
Omar Haddad
Yuki Tanaka
Hannah Schmidt
Luca Bianchi
Grace Mensah
Mateo García
Chloe Martin
Ivan Petrov
Fatima Zahra
Noah Williams
Elif Yilmaz
Sam
Jo
Dmitri
Anneke de Vries
Olu Adeyemi
Rachel Cohen
Mei Lin
Pedro Alves
Ingrid Larsen
Tariq
""")

# ----------------------------------------------------------------------------------------------------------
# ticket_routing. Rule book (the first rule that applies decides):
#   1. a legal threat or a chargeback / payment dispute          -> escalations (whatever the topic)
#   2. a refund request: amount > 100 (any currency)              -> escalations; <= 100 -> billing
#   3. an outage (down / 503 / unreachable for everyone)          -> priority_support for ENT- accounts, else technical
#   4. login, password, 2FA, SSO, lockout                         -> account_access (even if billing is mentioned)
#   5. a feature request or suggestion                            -> general (even about the app or the API)
#   6. cancelling a subscription or closing the account           -> billing
#   7. otherwise the topic: billing | shipping | technical | general
# The web-form "Category" the customer picked is never used.
# ----------------------------------------------------------------------------------------------------------

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


APPS = bank("""
the mobile app
the web dashboard
the admin console
the REST API
the iOS app
the Android app
the desktop app
the reporting module
the automation builder
the device portal
""")
ITEMS = bank("""
smart thermostat
doorbell camera
Lumio hub
motion sensor pack
smart plug set
starter kit
indoor camera
water leak sensor
smart lock
range extender
""")
COMPANIES = bank("""
Harbor Properties
Kestrel Hotels
Brightwater Clinic
Northgate Logistics
Greenfield Schools
Alder & Moss Architects
Summit Coworking
Bluewave Marinas
""")
MONTHS = list(calendar.month_name)[1:]
WEEKDAYS = list(calendar.day_name)

TOPIC_TEXT = {
    "billing": bank("""
        Why was I charged {money} this month? My plan is supposed to be cheaper.
        Can you resend the invoice for {month} with our VAT number on it?
        I'd like to switch from monthly to annual billing.
        My card was declined but the payment still shows as pending.
        The invoice for {month} lists our old company address.
        How do I change the credit card on file?
        We upgraded to the Team plan mid-cycle, how is the prorated amount calculated?
        Our purchase order number has to appear on future invoices, where do I enter it?
        The renewal notice shows a higher price than last year. Is that correct?
        Can we pay by bank transfer instead of card from now on?
        The sales tax on my last invoice looks wrong to me.
        I was charged {money} twice for the same order, please check.
        Who do I talk to about moving our {n} licences to one invoice?
    """),
    "shipping": bank("""
        My {item} was supposed to arrive on {weekday} and tracking hasn't moved in {n} days.
        The courier left my {item} at the wrong address.
        Can I change the delivery address for order {order}?
        The box with my {item} arrived crushed. The {item} itself seems to work though.
        Tracking says delivered but there is nothing at my door.
        Do you ship to Norway? I couldn't select it at checkout.
        Order {order} only contained half of the items.
        I need the {item} before {weekday}, can you upgrade it to express shipping?
        My parcel has been stuck in customs for a week.
        The carrier keeps rescheduling the delivery of my {item}.
        I got someone else's {item} in my package, order {order}.
        Is it possible to pick up order {order} at a store instead?
    """),
    "technical": bank("""
        {App} crashes every time I open the schedules screen.
        I get 'Error 500' when I save a scene in {app}.
        My {item} keeps disconnecting from Wi-Fi since the firmware update.
        The export button in {app} does nothing.
        All charts in {app} are empty since the last update.
        Our integration gets a 401 from the REST API although the token is valid.
        Notifications arrive twice on my phone.
        The {item} shows the wrong temperature, off by about {n} degrees.
        Webhooks stopped firing for some of our events.
        Motion alerts from the {item} are delayed by several minutes.
        The firmware update for the {item} fails at 80%.
        Pairing a new {item} with the hub never finishes.
        {App} shows my devices twice after I renamed a room.
    """),
    "general": bank("""
        Do you have an office in Berlin?
        What are your support hours over the holidays?
        Just wanted to say the new onboarding is great, well done.
        Where can I find your privacy policy?
        Do you have a recycling program for old devices?
        Who should I send a press inquiry to?
        Can I get a copy of your sustainability report?
        Thanks for the quick help last week, great service!
        Are you hiring support staff in Lisbon?
        Is there a partner program for electricians and installers?
        Can I visit a showroom to see the {item} before buying?
        I'm writing a review of the {item} for my blog, who can I contact?
    """),
}
OUTAGE_TEXT = bank("""
    {App} is down for our whole team since {time}.
    We are getting 503 errors from {app} in all our offices.
    Nobody in our company can reach {app} right now.
    {App} has been unavailable for two hours and our operations are blocked.
    Is there an outage? {App} won't load for any of our {n} users.
    All our hubs went offline at once and {app} is unreachable.
    Complete outage on our side: {app} shows a blank page for everyone.
    Your status page says everything is fine but {app} is down for all of us.
    {App} has been unreachable since {time}, none of our sites can control their devices.
""")
ACCESS_TEXT = bank("""
    I can't log in, the password reset email never arrives.
    My 2FA codes are rejected since I got a new phone.
    SSO login loops back to the sign-in page.
    My account got locked after too many login attempts.
    The login page says my password is wrong although I just reset it.
    I lost my authenticator app and can't get past two-factor.
    The verification code never arrives when I try to sign in.
    A colleague left and we need to reset the admin password for our workspace.
    Since I changed my email address I can no longer sign in.
    Our SSO stopped working for new employees, they get 'access denied' at login.
    I'm locked out of my account and the unlock link has expired.
""")
BILLING_MENTION = bank("""
    I need to download last month's invoice urgently.
    I need to update my payment card before {weekday}.
    My subscription renews tomorrow.
    I want to check a charge of {money} on my statement.
    Our accountant is waiting for the {month} invoice.
    I'm worried my next payment won't go through.
""")
FEATURE_TEXT = bank("""
    It would be great if {app} had a dark mode.
    Feature request: the REST API should report errors with a code and a message for every device.
    Could you make it possible to export the event log as CSV?
    Please consider adding keyboard shortcuts to {app}.
    Suggestion: allow bulk editing of schedules in {app}, the current screen is slow to use.
    Would love to see a widget for the {item} on the home screen.
    Any plans to support more than {n} devices per hub? That would help us a lot.
    Idea for the REST API: an endpoint that returns battery levels of all devices.
    We'd like to request multi-language support in {app}.
    Feature request: let the {item} send a webhook when its battery is low.
""")
CANCEL_TEXT = bank("""
    Please cancel my subscription at the end of this month.
    We want to close our account, how do we do that?
    I'd like to terminate our contract when it runs out in {month}.
    How do I stop the automatic renewal of my plan?
    Please end my membership, I'm moving abroad.
    We are switching providers, please cancel all {n} of our licences.
""")
LEGAL_TEXT = bank("""
    If this isn't fixed by {weekday} I will file a chargeback with my bank.
    I have already disputed the charge with my credit card company.
    My lawyer will be in touch.
    I am considering legal action.
    I will take this to small claims court.
    I opened a dispute with PayPal.
    Expect to hear from my attorney.
    I've contacted the consumer protection agency and I'm ready to sue.
    My bank is reversing the payment as a chargeback.
""")
REFUND_TEXT = bank("""
    I'd like a refund of {money}, {reason}.
    Please refund the {money} I paid, {reason}.
    Requesting a refund of {money} because {reason}.
    Could you reimburse the {money}? {Reason}.
    {Reason}. I want my money back ({money}).
    {Reason}, so I expect a full refund of {money}.
""")
REFUND_REASON = {
    "shipping": bank("""
        the {item} arrived broken
        the parcel never arrived
        the courier lost my order
        the {item} came three weeks late and I had to buy another one
    """),
    "technical": bank("""
        the {item} stopped working after a week
        {app} never worked on my phone
        the {item} overheats and shuts off
    """),
    "billing": bank("""
        I was billed for a plan I never chose
        I was charged for a seat we removed
        the annual renewal went through without any notice
    """),
    "general": bank("""
        I changed my mind
        the {item} is not what the website described
    """),
}
FRUSTRATION = bank("""
    This is the third time I'm writing about this.
    Honestly, I'm really disappointed.
    Please fix this ASAP!!
    I've been a customer for {years} years.
    Very unhappy right now.
    Nobody answered my last email.
""")
GREETINGS = bank("""
    Hi,
    Hello team,
    Hey there,
    Good morning,
    Dear support,
    Hi support,
    Hello,
    To whom it may concern,
    Hi all,
""")
CLOSINGS = bank("""
    Thanks,
    Best,
    Regards,
    Cheers,
    Thank you,
    Kind regards,
    Thx,
""")
SUBJECTS = bank("""
    Help needed
    Question
    URGENT
    Problem
    Re: Ticket #{order}
    Please read
    Follow-up
    (no subject)
    Issue with my account
    Need help asap
""")
FORM_CATEGORIES = ("Billing", "Technical issue", "Shipping", "Account", "Other", "Feedback")
TYPOS = {"the": "teh", "receive": "recieve", "because": "becuase", "please": "pls", "really": "realy"}
TYPOS |= {"address": "adress", "again": "agian", "since": "sinse", "working": "workin", "which": "wich"}

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


# ----------------------------------------------------------------------------------------------------------
# date_normalization. The answer is always YYYY-MM-DD. Conventions:
#   numeric dates (/ . -) are day-first; YYYY/MM/DD and ISO are year-first; two-digit years 00-30 -> 20xx,
#   31-99 -> 19xx; no year -> the first such date on or after the reference date (the same for "the 21st");
#   month and year only -> the 1st; Qn YYYY -> the quarter's first day; mid-<month> -> the 15th, beginning or
#   start of -> the 1st, end of -> the last day (of the reference month for "the end of the month");
#   next <weekday> -> first one strictly after the reference date, last <weekday> -> latest strictly before,
#   this <weekday> -> the one in the reference date's Monday-Sunday week, on <weekday> -> on or after;
#   tomorrow, in N days/weeks, N days ago, a fortnight: plain arithmetic from the reference date.
# ----------------------------------------------------------------------------------------------------------

ABBR = {m: [m[:3], m[:3] + "."] for m in MONTHS} | {"May": ["May"], "September": ["Sep", "Sep.", "Sept", "Sept."]}
_ORDINALS = bank("""
    first second third fourth fifth sixth seventh eighth ninth tenth
    eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth
""")
ORDINAL_WORDS = [w for line in _ORDINALS for w in line.split()]
ORDINAL_WORDS += [f"twenty-{w}" for w in ORDINAL_WORDS[:9]] + ["thirtieth", "thirty-first"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 10: "ten"}
PIVOT = 30  # two-digit years 00..30 are 20xx, 31..99 are 19xx


@dataclass(frozen=True)
class DateExpr:
    """A date expression: ``when`` reads in a sentence ("on 3 April"), ``bare`` after a label ("Date: ...")."""

    when: str
    value: dt.date
    tense: str = "any"  # "past" | "future" | "any": which sentence templates fit
    bare: str | None = None


def add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return dt.date(y, m + 1, 1)


def last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def next_on_or_after(ref: dt.date, month: int, day: int) -> dt.date:
    """A day and month without a year: the first such date on or after ``ref``."""
    d = dt.date(ref.year, month, day)
    return d if d >= ref else dt.date(ref.year + 1, month, day)


def weekday_date(ref: dt.date, weekday: int, mode: str) -> dt.date:
    if mode == "next":  # strictly after
        return ref + dt.timedelta(days=(weekday - ref.weekday()) % 7 or 7)
    if mode == "last":  # strictly before
        return ref - dt.timedelta(days=(ref.weekday() - weekday) % 7 or 7)
    if mode == "this":  # the reference date's Monday-to-Sunday week
        return ref + dt.timedelta(days=weekday - ref.weekday())
    return ref + dt.timedelta(days=(weekday - ref.weekday()) % 7)  # "on Friday": on or after


def two_digit_year(yy: int) -> int:
    return 2000 + yy if yy <= PIVOT else 1900 + yy


def random_date(rng: random.Random, lo: int = 1985, hi: int = 2030, ambiguous: bool = False) -> dt.date:
    """A date; ``ambiguous`` keeps the day <= 12 so a month-first reading is also a valid date."""
    year, month = rng.randint(lo, hi), rng.randint(1, 12)
    day = rng.randint(1, 12) if ambiguous else rng.randint(1, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def month_name(rng: random.Random, month: int) -> str:
    name = MONTHS[month - 1]
    return rng.choice([name, name, *ABBR[name]])


def named(rng: random.Random, d: dt.date, year: str | None) -> str:
    m, day, o = month_name(rng, d.month), d.day, ordinal(d.day)
    forms = [f"{m} {day}", f"{m} {o}", f"{day} {m}", f"{o} {m}", f"the {o} of {m}", f"{m} the {o}"]
    if year is None:
        return rng.choice(forms)
    forms = [f"{m} {day}, {year}", f"{m} {o}, {year}", f"{day} {m} {year}", f"{o} {m} {year}"]
    forms += [f"the {o} of {m} {year}", f"{d.day:02d}-{m[:3]}-{year}", f"{m.upper()} {day} {year}"]
    form = rng.choice(forms)
    if rng.random() < 0.2 and "the" not in form:
        form = f"{rng.choice([WEEKDAYS[d.weekday()], WEEKDAYS[d.weekday()][:3]])}, {form}"
    return form


def date_expression(rng: random.Random, kind: str, ref: dt.date) -> DateExpr:
    """One expression of ``kind`` and its value under the dataset's conventions."""
    pick = rng.choice
    if kind == "iso":
        d = random_date(rng)
        text = d.isoformat() if rng.random() < 0.7 else f"{d.year}/{d.month:02d}/{d.day:02d}"
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "numeric":  # day-first
        d = random_date(rng, ambiguous=rng.random() < 0.65)
        sep = pick("/./-" if rng.random() < 0.8 else "/")
        day, month = (f"{d.day:02d}", f"{d.month:02d}") if rng.random() < 0.7 else (str(d.day), str(d.month))
        text = f"{day}{sep}{month}{sep}{d.year}"
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "numeric_yy":  # day-first, two-digit year around the pivot
        yy = pick([rng.randint(0, PIVOT), rng.randint(PIVOT + 1, 68), rng.randint(69, 99)])
        d = random_date(rng, two_digit_year(yy), two_digit_year(yy), ambiguous=rng.random() < 0.6)
        sep = pick("/.")
        text = f"{d.day:02d}{sep}{d.month:02d}{sep}{yy:02d}"
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "named":
        d = random_date(rng)
        text = named(rng, d, str(d.year))
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "named_yy":
        yy = pick([rng.randint(0, PIVOT), rng.randint(PIVOT + 1, 99)])
        d = random_date(rng, two_digit_year(yy), two_digit_year(yy))
        m = month_name(rng, d.month)
        text = pick([f"{d.day} {m} '{yy:02d}", f"{m} {d.day}, '{yy:02d}", f"{d.day:02d}-{m[:3]}-{yy:02d}"])
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "ordinal_words":
        d = random_date(rng)
        word, m = ORDINAL_WORDS[d.day - 1], MONTHS[d.month - 1]
        text = pick([f"the {word} of {m} {d.year}", f"{m} the {word}, {d.year}", f"the {word} of {m}, {d.year}"])
        return DateExpr(f"on {text}", d, bare=text)
    if kind == "no_year":
        month = rng.randint(1, 12)
        day = rng.randint(1, 28 if month == 2 else calendar.monthrange(2001, month)[1])
        shape = dt.date(2001, month, day)
        text = named(rng, shape, None) if rng.random() < 0.75 else f"{day:02d}/{month:02d}"
        return DateExpr(f"on {text}", next_on_or_after(ref, month, day), "future", bare=text)
    if kind == "day_only":
        day = rng.randint(1, 28)
        d = dt.date(ref.year, ref.month, day)
        d = d if d >= ref else add_months(d, 1).replace(day=day)
        return DateExpr(f"on the {ordinal(day)}", d, tense="future")
    if kind == "month_year":
        year, month = rng.randint(1990, 2030), rng.randint(1, 12)
        text = pick([f"{MONTHS[month - 1]} {year}", f"{month_name(rng, month)} {year}", f"{month:02d}/{year}"])
        return DateExpr(f"in {text}", dt.date(year, month, 1), bare=text)
    if kind == "quarter":
        q, year = rng.randint(1, 4), rng.randint(1995, 2030)
        text = pick([f"Q{q} {year}", f"Q{q}/{year}", f"{year}-Q{q}", f"Q{q} of {year}"])
        text = pick([text, text, f"the {ORDINAL_WORDS[q - 1]} quarter of {year}"])
        return DateExpr(f"in {text}", dt.date(year, 3 * q - 2, 1), bare=text)
    if kind == "part_of_month":
        part = pick(["mid", "mid", "end", "end", "begin"])
        month = rng.randint(1, 12)
        m = month_name(rng, month)
        year = rng.randint(1995, 2030) if rng.random() < 0.7 else None
        if part == "mid":
            text, when = pick([(f"mid-{m}", "in mid-{m}"), (f"mid {m}", "in mid {m}"), (None, "in the middle of {m}")])
            day = 15
        elif part == "end":
            text, when = None, pick(["at the end of {m}", "by the end of {m}"])
            day = 0
        else:
            text, when = None, pick(["at the beginning of {m}", "at the start of {m}", "by the beginning of {m}"])
            day = 1
        suffix = f" {year}" if year else ""
        when, bare = when.format(m=m) + suffix, (text + suffix if text else None)

        def value_in(y: int) -> dt.date:
            return dt.date(y, month, day) if day else last_day(y, month)

        value = value_in(year or ref.year)
        if not year and value < ref:  # no year: the first such date on or after the reference date
            value = value_in(ref.year + 1)
        return DateExpr(when, value, "any" if year else "future", bare=bare)
    if kind == "month_relative":
        which, shift = pick([("the month", 0), ("this month", 0), ("next month", 1)])
        part = pick(["end", "end", "begin", "mid"]) if shift else "end"
        first = add_months(ref, shift)
        if part == "end":
            return DateExpr(f"{pick(['by', 'at'])} the end of {which}", last_day(first.year, first.month), "future")
        if part == "begin":
            return DateExpr(f"at the beginning of {which}", first, "future")
        return DateExpr(f"in the middle of {which}", first.replace(day=15), "future")
    if kind == "weekday":
        wd, mode = rng.randrange(7), pick(["next", "next", "last", "this", "on"])
        name = WEEKDAYS[wd] if rng.random() < 0.85 else WEEKDAYS[wd][:3]
        text = f"on {name}" if mode == "on" else f"{mode} {name}"
        tense = {"next": "future", "on": "future", "last": "past"}.get(mode, "any")
        return DateExpr(text, weekday_date(ref, wd, mode), tense)
    n = rng.choice([2, 3, 4, 5, 6, 10, 12, 21])
    word = NUMBER_WORDS.get(n, str(n)) if rng.random() < 0.5 else str(n)
    text, days, tense = pick(
        [
            ("tomorrow", 1, "future"), ("yesterday", -1, "past"), ("the day after tomorrow", 2, "future"),
            ("today", 0, "any"), (f"in {word} days", n, "future"), (f"{word} days ago", -n, "past"),
            (f"in {NUMBER_WORDS[min(n, 3)]} weeks", 7 * min(n, 3), "future"), ("a week from today", 7, "future"),
            ("in a fortnight", 14, "future"), ("the day before yesterday", -2, "past"),
        ]
    )  # fmt: skip
    return DateExpr(text, ref + dt.timedelta(days=days), tense)


DATE_KINDS = {
    "iso": 4, "numeric": 16, "numeric_yy": 9, "named": 10, "named_yy": 4, "ordinal_words": 5, "no_year": 10,
    "day_only": 3, "month_year": 4, "quarter": 7, "part_of_month": 8, "month_relative": 4, "weekday": 11,
    "relative": 5,
}  # fmt: skip
# Sentences: (tense, template); {w} takes DateExpr.when. Labels: {d} takes DateExpr.bare.
DATE_SENTENCES = [
    ({"f": "future", "p": "past", "a": "any"}[line[0]], line[1:].strip())
    for line in bank("""
    f  Can we do the call {w} instead?
    f  The package should arrive {w}.
    f  Please send the signed contract back {w} at the latest.
    f  Our new office opens {w}.
    f  The technician will come by {w} between 8 and 12.
    f  Reminder: the team offsite is {w}.
    f  Payment is due {w}.
    f  The new price list applies {w}.
    f  Could you confirm the dentist appointment {w}?
    f  We plan to launch the beta {w}.
    f  Your subscription will renew {w}.
    f  I'd like to book the meeting room for 6 people {w}.
    f  The movers are scheduled {w}, starting at 7:30.
    p  The patient was admitted {w} with mild symptoms.
    p  I ordered the spare parts {w} and still have nothing.
    p  We received your letter {w}.
    p  The server crashed {w} around 14:30.
    p  The contract was signed {w} by both parties.
    p  The incident happened {w}, shortly after lunch.
    p  She started in the finance team {w}.
    p  I paid the deposit of 250 EUR {w}.
    p  The water leak in flat 12 was reported {w}.
    a  Note to self: dentist {w}.
    a  FYI the audit is {w}, room 4B.
    a  Tenancy change for unit 7: handover {w}.
    a  The quarterly report covers the period starting {w}.
    """)
]
DATE_LABELS = bank("""
    Date: {d}
    Invoice date: {d}
    Deadline: {d}
    Date of birth: {d}
    Valid until {d}.
    Expiry: {d}
    Shipped {d} via DHL, 3 parcels.
    Start date: {d} | Ref: 88213 | Pages: 3
    Order 4471 - delivery {d}
    Signed: {d}, Lyon
""")
DATE_OPENERS = bank("""
    Hi {name},
    Hello {name}, quick update:
    Dear {name},
    FYI:
    Hey {name}!
""")
DATE_CLOSERS = bank("""
    Thanks!
    Let me know if that works.
    Best, {name}
    Cheers
    Regards, {name}
""")


def make_date(rng: random.Random, kind: str) -> dict[str, str]:
    ref = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 4 * 365))
    expr = date_expression(rng, kind, ref)
    if expr.bare is not None and rng.random() < 0.35:
        text = rng.choice(DATE_LABELS).format(d=expr.bare)
    else:
        fits = [t for tense, t in DATE_SENTENCES if expr.tense == "any" or tense in ("any", expr.tense)]
        text = rng.choice(fits).format(w=expr.when)
        if rng.random() < 0.3:
            opener = rng.choice(DATE_OPENERS).format(name=rng.choice(NAMES).split()[0])
            first = text.split()[0]
            keep = opener.endswith("!") or first in ("I", "I'd") or first[1:2].isupper()  # I, FYI
            text = f"{opener} {text if keep else text[:1].lower() + text[1:]}"
        if rng.random() < 0.3:
            text = f"{text} {rng.choice(DATE_CLOSERS).format(name=rng.choice(NAMES).split()[0])}"
    return {
        "input": f"Reference date: {ref.isoformat()} ({WEEKDAYS[ref.weekday()]}). Text: {text}",
        "expected_output": expr.value.isoformat(),
    }


# ----------------------------------------------------------------------------------------------------------
# field_extraction. Always the five keys; a field the document does not state is null.
#   vendor: the issuer's name without its legal form (GmbH, Inc., Ltd, LLC, S.A., ...); never the customer.
#   invoice_number: the document's own number (invoice / bill / receipt / folio no.) without "#" or "No.";
#     order, PO, customer, booking and VAT numbers are never it.
#   date: the issue date as YYYY-MM-DD (numeric dates are day-first); not the due, delivery or stay dates.
#   total: the amount still to pay after discounts, credits and deposits (on a receipt: the total paid),
#     two decimals, dot decimal separator, no thousands separator, no currency symbol.
#   currency: ISO 4217: € EUR, £ GBP, Fr./CHF CHF; $ is USD unless the document says CAD or AUD (C$, A$).
# ----------------------------------------------------------------------------------------------------------

VENDORS = [
    tuple(line.split(" | "))
    for line in bank("""
    Nordlicht Software | software
    Bluebird Supplies | hardware
    Kaffeehaus Meier | cafe
    Atlas Freight | logistics
    Greenleaf Organics | cafe
    Pixel Forge | print
    Harbor & Finch | consulting
    Alpenblick Hotels | hotel
    Redwood Analytics | software
    Solaris Energy | energy
    Brightside Print | print
    Vega Logistics | logistics
    Oakmont Advisory | consulting
    Tidewater Marine | hardware
    Copperline Tools | hardware
    Lumen Optics | hardware
    Fjord Cloud | software
    Maple Street Bakery | cafe
    O'Malley Plumbing | hardware
    Café Lumière | cafe
    Seaview Lodge | hotel
    Castell Energie | energy
    Quillon Legal Services | consulting
    Ironbark Couriers | logistics
    Hotel Stadtgarten | hotel
    Northwind Traders | hardware
    Mailvine | software
    Cloudberry Backup | software
    Taskly Apps | software
""")
]
LEGAL_FORMS = bank("""
    GmbH
    AG
    Inc.
    Inc
    LLC
    Ltd
    Ltd.
    Limited
    Corp.
    S.A.
    SAS
    SARL
    S.r.l.
    B.V.
    Pty Ltd
    plc
    GmbH & Co. KG
    Oy
""")
CUSTOMERS = bank("""
    Greenway Properties Ltd
    Kessler Dental GmbH
    Blue Harbor Schools Inc.
    Mira Okafor
    Dunmore Farms LLC
    Studio Vela S.r.l.
    J. Hartmann
    Rivergate Clinic AG
""")
PRODUCTS = {
    "software": ("Pro plan, 12 months|120000|480000", "Additional seats|2000|9000", "Onboarding workshop|30000|90000"),
    "hardware": ("Cordless drill set|8900|24900", "Brass fittings (box)|1200|4500", "Replacement pump|15000|62000"),
    "cafe": ("Cappuccino|320|480", "Sourdough loaf|450|690", "Catering platter|4500|12000", "Croissant|220|350"),
    "logistics": ("Pallet transport|18000|95000", "Express parcel|1500|4900", "Customs handling|4500|12000"),
    "print": ("Flyers A5 (1000 pcs)|6900|14900", "Business cards|2900|7900", "Roll-up banner|8900|19900"),
    "consulting": ("Consulting hours|9500|22000", "Contract review|40000|150000", "Travel expenses|5000|40000"),
    "hotel": ("Double room|9900|24000", "Breakfast|1500|2800", "Parking|1200|2500"),
    "subscription": ("Pro plan, monthly|1500|4900", "Team plan, 12 months|29000|89000", "Storage add-on 1 TB|900|2900"),
    "energy": ("Electricity, base fee|900|2500", "Electricity consumption|4000|32000", "Meter service|500|1500"),
}
CURRENCY_STYLES = [  # (ISO code or None, how an amount is written, amount styles, weight)
    ("EUR", "€{a}", "eu us plain", 3), ("EUR", "{a} €", "eu", 3), ("EUR", "EUR {a}", "eu plain", 2),
    ("EUR", "{a} EUR", "eu plain", 2), ("GBP", "£{a}", "us plain", 3), ("GBP", "GBP {a}", "us", 1),
    ("USD", "${a}", "us plain", 5), ("USD", "US${a}", "us", 1), ("USD", "USD {a}", "us plain", 1),
    ("CAD", "${a}", "us plain", 3), ("CAD", "C${a}", "us", 1), ("CAD", "CAD {a}", "us", 1),
    ("AUD", "${a}", "us plain", 3), ("AUD", "A${a}", "us", 1), ("AUD", "{a} AUD", "us", 1),
    ("CHF", "CHF {a}", "ch us plain", 3), ("CHF", "Fr. {a}", "ch plain", 2), (None, "{a}", "us plain", 3),
]  # fmt: skip
DOLLAR_NOTES = {
    "CAD": bank("""
        All amounts in CAD.
        Prices are in Canadian dollars (CAD).
        Currency: CAD
        Amounts shown in CAD incl. GST/HST.
    """),
    "AUD": bank("""
        All prices in AUD incl. GST.
        Amounts are in Australian dollars (AUD).
        Currency: AUD
    """),
}
TAXES = {  # (rate in %, label) per currency
    "EUR": [(19, "MwSt. 19%"), (7, "MwSt. 7%"), (20, "VAT 20%"), (21, "BTW 21%")], "GBP": [(20, "VAT 20%")],
    "USD": [(8.25, "Sales tax 8.25%"), (6, "Sales tax 6%")], "CAD": [(5, "GST 5%"), (13, "HST 13%")],
    "AUD": [(10, "GST 10%")], "CHF": [(8.1, "MWST 8.1%")], None: [(20, "VAT 20%"), (19, "VAT 19%")],
}  # fmt: skip
KIND_VENDORS = {"receipt": ("cafe", "hardware", "print"), "folio": ("hotel",), "renewal": ("software",)}
DOC_KINDS = {"invoice": 26, "invoice_de": 10, "receipt": 18, "reminder": 14, "email": 12, "folio": 8, "renewal": 12}


def amount_text(cents: int, style: str) -> str:
    whole, frac = divmod(cents, 100)
    if style == "eu":
        return f"{whole:,}".replace(",", ".") + f",{frac:02d}"
    if style == "ch":
        return f"{whole:,}".replace(",", "'") + f".{frac:02d}"
    return f"{whole:,}.{frac:02d}" if style == "us" else f"{whole}.{frac:02d}"


def doc_date(d: dt.date, style: int) -> str:
    """``d`` in one of the date styles of invoices (one style per document)."""
    m = MONTHS[d.month - 1]
    return (
        [
            f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day:02d}/{d.month:02d}/{d.year}", d.isoformat(),
            f"{m} {d.day}, {d.year}", f"{d.day} {m[:3]} {d.year}", f"{ordinal(d.day)} {m} {d.year}",
            f"{d.day}-{m[:3]}-{d.year}", f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day}/{d.month}/{d.year}",
        ][style]
    )  # fmt: skip


def invoice_number(rng: random.Random, year: int) -> str:
    n = rng.randint(1, 99999)
    return rng.choice(
        [
            f"INV-{year}-{n % 10000:04d}", f"{year}-{n % 1000 + 100}", f"R{n + 100000}", f"A{n:05d}", f"FAC-{n:05d}",
            f"RE-{year}-{n % 1000:03d}", f"{n % 9000 + 1000}/{year % 100:02d}", f"BL{n + 200000}",
        ]
    )  # fmt: skip


@dataclass
class Doc:
    """The figures of one document; the renderers decide which of them the text states."""

    vendor: str
    printed_vendor: str
    kind: str
    category: str
    number: str
    issued: dt.date
    items: list[tuple[str, int, int]]  # (description, quantity, unit price in cents)
    discount: int
    tax: int
    tax_label: str
    shipping: int
    paid: int  # deposit, credit or partial payment already settled
    money: Callable[[int], str]
    date: Callable[[dt.date], str]
    included_tax: int = 0  # on a receipt: the tax share already inside the total

    @property
    def subtotal(self) -> int:
        return sum(q * p for _, q, p in self.items)

    @property
    def gross(self) -> int:
        return self.subtotal - self.discount + self.tax + self.shipping

    @property
    def due(self) -> int:
        return self.gross - self.paid


def render_doc(rng: random.Random, doc: Doc) -> tuple[list[str], dict[str, str | None]]:
    """The document's lines, and which number/date it states (``invoice_fields`` fills the rest)."""
    pick, m = rng.choice, doc.money
    number, date = doc.number, doc.issued
    customer = pick(CUSTOMERS)
    lines: list[str] = []
    item_lines = [f"{q} x {name} @ {m(p)} = {m(q * p)}" if q > 1 else f"{name}  {m(p)}" for name, q, p in doc.items]
    due_date = doc.date(date + dt.timedelta(days=pick([14, 30, 30, 45])))
    if doc.kind in ("invoice", "invoice_de"):
        de = doc.kind == "invoice_de"
        head = doc.printed_vendor.upper() if rng.random() < 0.3 else doc.printed_vendor
        lines += [head, pick(["12 Harbour Road, Leeds", "Industriestr. 7, 80331 München", "4 Rue du Port, Lyon"])]
        lines.append("Rechnung / Invoice" if de else pick(["INVOICE", "Invoice", "TAX INVOICE"]))
        label = (
            "Rechnungsnr. / Invoice no.:" if de else pick(["Invoice No.:", "Invoice #", "Invoice number:", "Inv. no."])
        )
        lines.append(f"{label} {number}" if label.endswith((":", ".")) else f"{label}{number}")
        lines.append(f"{'Datum / Date:' if de else pick(['Date:', 'Invoice date:', 'Issued:'])} {doc.date(date)}")
        if rng.random() < 0.6:
            lines.append(f"{'Fällig / Due:' if de else 'Due date:'} {due_date}")
        if rng.random() < 0.5:
            lines.append(pick([f"Order #{rng.randint(10000, 99999)}", f"PO number: 45000{rng.randint(10000, 99999)}"]))
        lines += [
            f"Bill to: {customer}",
            "",
            *item_lines,
            f"{'Zwischensumme / Subtotal' if de else 'Subtotal'}: {m(doc.subtotal)}",
        ]
        if doc.discount:
            lines.append(f"{pick(['Discount', 'Rabatt / Discount', 'Loyalty discount'])}: -{m(doc.discount)}")
        if doc.shipping:
            lines.append(f"Shipping: {m(doc.shipping)}")
        if doc.tax:
            lines.append(f"{doc.tax_label}: {m(doc.tax)}")
        if doc.paid:
            lines += [
                f"Total: {m(doc.gross)}",
                f"{pick(['Less deposit paid', 'Credit note applied', 'Paid on account'])}: -{m(doc.paid)}",
            ]
            lines.append(f"{pick(['Balance due', 'Amount due', 'Remaining balance'])}: {m(doc.due)}")
        else:
            final = "Gesamtbetrag / Total" if de else pick(["Total due", "Amount due", "TOTAL", "Grand total"])
            lines.append(f"{final}: {m(doc.due)}")
        if rng.random() < 0.5:
            vat_id, customer_no = f"DE{rng.randint(100000000, 999999999)}", f"C-{rng.randint(1000, 9999)}"
            lines.append(f"{doc.printed_vendor} · VAT ID {vat_id} · Customer no. {customer_no}")
    elif doc.kind == "receipt":
        number = number if rng.random() < 0.35 else None
        date = date if rng.random() < 0.9 else None
        lines += [
            pick([doc.printed_vendor, doc.printed_vendor.upper(), f"Thank you for shopping at {doc.printed_vendor}!"])
        ]
        if date:
            lines.append(f"{doc.date(date)}  {rng.randint(7, 20)}:{rng.randint(0, 59):02d}")
        if number:
            lines.append(pick([f"Receipt #{number}", f"Receipt no. {number}"]))
        till = f"Table {rng.randint(1, 30)}" if doc.category == "cafe" else f"Till {rng.randint(1, 9)}"
        lines += [till, *item_lines]
        if doc.discount:
            lines += [f"Subtotal {m(doc.subtotal)}", f"Member discount -{m(doc.discount)}"]
        if doc.shipping:  # a tip on a receipt
            lines.append(f"Tip {m(doc.shipping)}")
        lines.append(f"{pick(['TOTAL', 'Total paid', 'TOTAL PAID'])} {m(doc.due)}")
        if doc.included_tax:
            lines.append(f"incl. {doc.tax_label} {m(doc.included_tax)}")
        lines.append(pick([f"Card **** {rng.randint(1000, 9999)}", "Paid by card", "Contactless payment"]))
    elif doc.kind == "reminder":
        number = number if rng.random() < 0.85 else None
        ref = f"invoice {number}" if number else "our invoice"
        lines += [
            f"From: accounts@{re.sub(r'[^a-z]', '', doc.vendor.lower())}.com",
            f"Subject: Payment reminder{f' - {number}' if number else ''}",
            "",
        ]
        lines.append(pick(["Dear customer,", f"Dear {customer},", "Hello,"]))
        state = "is not fully paid" if doc.paid else "is still unpaid"
        lines.append(f"according to our records, {ref} dated {doc.date(date)} for {m(doc.gross)} {state}.")
        if doc.paid:
            lines.append(f"We received your partial payment of {m(doc.paid)}, thank you.")
        lines.append(f"The outstanding balance is {m(doc.due)}. Please pay by {due_date}.")
        lines += ["", "Kind regards,", pick(["Accounts team", "Billing department", pick(NAMES)]), doc.printed_vendor]
    elif doc.kind == "email":
        number = number if rng.random() < 0.8 else None
        date = date if rng.random() < 0.85 else None
        what = f"invoice {number}" if number else "our invoice"
        dated = f" dated {doc.date(date)}" if date else ""
        lines += [pick(["Hello,", "Dear customer,", f"Dear {customer},", "Hi there,"])]
        lines.append(f"please find attached {what}{dated} for your order #{rng.randint(10000, 99999)}.")
        if doc.discount:
            lines.append(
                f"The amount to pay is {m(doc.due)}, which already includes your discount of {m(doc.discount)}."
            )
        else:
            extra = " plus tax and delivery" if doc.tax and doc.shipping else " plus tax" if doc.tax else ""
            extra = " plus delivery" if doc.shipping and not doc.tax else extra
            lines.append(
                f"The amount to pay is {m(doc.due)}" + (f" (subtotal {m(doc.subtotal)}{extra})." if extra else ".")
            )
        lines += ["", pick(["Best regards,", "Kind regards,", "Thanks,"]), pick(NAMES), doc.printed_vendor]
    elif doc.kind == "folio":
        arrival = date - dt.timedelta(days=doc.items[0][1])
        lines += [
            doc.printed_vendor,
            f"Folio No. {number}",
            f"Guest: {pick(NAMES)}",
            f"Booking ref: {rng.choice('ABCDEFGHJK')}{rng.randint(1000, 9999)}",
        ]
        lines += [
            f"Arrival: {doc.date(arrival)}   Departure: {doc.date(date)}",
            f"Invoice date: {doc.date(date)}",
            *item_lines,
        ]
        if doc.shipping:
            lines.append(f"City tax: {m(doc.shipping)}")
        if doc.tax:
            lines.append(f"{doc.tax_label}: {m(doc.tax)}")
        if doc.paid:
            lines += [f"Total: {m(doc.gross)}", f"Deposit paid: -{m(doc.paid)}", f"Balance: {m(doc.due)}"]
        else:
            lines.append(f"Total: {m(doc.due)}")
    else:  # a subscription renewal e-mail
        number = number if rng.random() < 0.7 else None
        lines += [f"Your {doc.printed_vendor} subscription has been renewed.", ""]
        lines.append(f"Date: {doc.date(date)}")
        if number:
            lines.append(f"Receipt number: {number}")
        lines.append(f"Plan: {doc.items[0][0]}")
        if doc.discount or doc.tax:
            lines.append(f"Price: {m(doc.subtotal)}")
        if doc.discount:
            lines.append(f"Promo code SAVE{rng.randint(5, 30)}: -{m(doc.discount)}")
        if doc.tax:
            lines.append(f"{doc.tax_label}: {m(doc.tax)}")
        lines.append(f"Amount charged: {m(doc.due)}")
        lines.append(f"Questions? Write to billing@{re.sub(r'[^a-z]', '', doc.vendor.lower())}.io")
    return lines, {"invoice_number": number, "date": date.isoformat() if date else None}


def make_invoice(rng: random.Random, kind: str) -> dict[str, str]:
    vendor, category = rng.choice([v for v in VENDORS if v[1] in KIND_VENDORS.get(kind, v[1])])
    date_style = rng.randrange(9)
    form = rng.choice(LEGAL_FORMS) if rng.random() < 0.85 else ""
    currencies = [c for c in CURRENCY_STYLES if kind != "invoice_de" or c[0] in ("EUR", "CHF", None)]
    code, pattern, styles, _ = rng.choices(currencies, weights=[w for *_, w in currencies])[0]
    style = rng.choice(styles.split())
    issued = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randint(0, 3 * 365))
    products = PRODUCTS["subscription" if kind == "renewal" else category]
    items = []
    for name, lo, hi in (p.split("|") for p in rng.sample(products, 1 if kind == "renewal" else rng.randint(1, 3))):
        qty = 1 if kind == "renewal" or rng.random() < 0.5 else rng.randint(2, 12)
        items.append((name, qty, rng.randint(int(lo), int(hi)) // 10 * 10 + rng.choice([0, 0, 5, 9])))
    if kind == "folio":  # the room for every night, then the extras
        nights = rng.randint(1, 6)
        items = [
            (f"{name}{'' if name.startswith('Double') else ' per night'}", nights, price) for name, _, price in items
        ]
        items.sort(key=lambda item: not item[0].startswith("Double"))
        if not items[0][0].startswith("Double"):
            items.insert(0, ("Double room per night", nights, rng.randint(9900, 24000) // 10 * 10))
    subtotal = sum(q * p for _, q, p in items)
    discount = rng.choice([0, 0, subtotal * rng.choice([5, 10, 15, 20]) // 100, rng.randint(5, 40) * 100])
    discount = min(discount, subtotal // 2)
    rate, tax_label = rng.choice(TAXES[code]) if rng.random() < 0.7 else (0, "")
    tax = round((subtotal - discount) * rate / 100)
    included_tax = 0
    if kind == "receipt":  # shop prices include tax: the receipt only states the tax share of the total
        tax, included_tax = 0, round((subtotal - discount) * rate / (100 + rate))
    shipping = rng.choice([0, 0, 0, rng.randint(5, 30) * 100 - rng.choice([0, 10, 1])])
    # What each document can state: shipping only for goods; a folio has no discount and its "shipping" is
    # a city tax (an invoice from a hotel has none); on a receipt "shipping" is a tip, and only in a cafe.
    discount = 0 if kind == "folio" else discount
    shipping = shipping if category in ("hardware", "print", "cafe") or kind == "folio" else 0
    shipping = 0 if kind == "receipt" and category != "cafe" else shipping
    if kind == "receipt" and shipping:
        shipping = max(50, (subtotal - discount) * rng.choice([5, 10, 15]) // 100)
    doc = Doc(
        vendor=vendor,
        printed_vendor=f"{vendor} {form}".strip(),
        kind=kind,
        category=category,
        number=invoice_number(rng, issued.year),
        issued=issued,
        items=items,
        discount=discount,
        tax=tax,
        tax_label=tax_label,
        shipping=shipping,
        paid=0,
        money=lambda cents: pattern.format(a=amount_text(cents, style)),
        date=lambda d: doc_date(d, date_style),
        included_tax=included_tax,
    )
    if kind in ("invoice", "invoice_de", "folio", "reminder") and rng.random() < (0.6 if kind == "reminder" else 0.25):
        doc.paid = doc.gross * rng.choice([10, 20, 25, 30, 50]) // 100
    lines, stated = render_doc(rng, doc)
    if code in ("CAD", "AUD") and pattern == "${a}":  # a bare $ means USD unless the document says otherwise
        lines.insert(rng.randint(len(lines) - 2, len(lines)), rng.choice(DOLLAR_NOTES[code]))
    text = "\n".join(lines)
    fields = {"vendor": vendor, **stated, "total": f"{doc.due / 100:.2f}", "currency": code}
    fields = {k: fields[k] for k in ("vendor", "invoice_number", "date", "total", "currency")}
    total_text = doc.money(doc.due)
    if total_text not in text or vendor.lower() not in text.lower() or (fields["invoice_number"] or "") not in text:
        raise AssertionError(f"the document does not state its gold fields {fields}:\n{text}")
    return {"input": text, "expected_output": json.dumps(fields, ensure_ascii=False)}


# ----------------------------------------------------------------------------------------------------------
# Splits, files, --check
# ----------------------------------------------------------------------------------------------------------

TASKS: dict[str, tuple[dict[str, int], Callable[[random.Random, str], dict[str, str]]]] = {
    "ticket_routing": (TICKET_KINDS, make_ticket),
    "date_normalization": (DATE_KINDS, make_date),
    "field_extraction": (DOC_KINDS, make_invoice),
}


def dedupe_key(text: str) -> str:
    return " ".join(text.lower().split())


def build(task: str, seed: int = SEED) -> dict[str, list[dict[str, str]]]:
    """Every split of ``task``; an input already drawn for any split is drawn again."""
    kinds, make = TASKS[task]
    rng = random.Random(f"{seed}:{task}")
    seen: set[str] = set()
    splits: dict[str, list[dict[str, str]]] = {}
    for split, n in SIZES.items():
        rows = []
        for kind in allocate(kinds, n, rng):
            for _ in range(100):
                row = make(rng, kind)
                if dedupe_key(row["input"]) not in seen:
                    break
            else:
                raise RuntimeError(f"{task}: cannot draw a new {kind!r} example")
            seen.add(dedupe_key(row["input"]))
            rows.append({"id": f"{task}-{split}-{len(rows):03d}", **row})
        splits[split] = rows
    inputs = [dedupe_key(r["input"]) for rows in splits.values() for r in rows]
    assert len(inputs) == len(set(inputs)), f"{task}: an input is shared between splits"
    return splits


def render(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate (or --check) the bundled tasks' split dirs.")
    parser.add_argument("--check", action="store_true", help="verify the files instead of writing them")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="the data directory (default: data/)")
    args = parser.parse_args(argv)
    stale = []
    for task in TASKS:
        for split, rows in build(task).items():
            path = args.out / task / f"{split}.jsonl"
            text = render(rows)
            if args.check:
                if not path.exists() or path.read_bytes() != text.encode("utf-8"):
                    stale.append(str(path))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(text.encode("utf-8"))
    if stale:
        print("out of date, run python scripts/make_data.py:\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'wrote'} {len(TASKS) * len(SIZES)} files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
