"""Field extraction from invoices, receipts and payment e-mails into strict JSON with house conventions.

Keys, always all five: ``vendor``, ``invoice_number``, ``date``, ``total``, ``currency``; a field the
document does not state is ``null``. Conventions:
- ``vendor``: the seller's name without its legal form (GmbH, Inc., Ltd, LLC, AG, S.A., B.V., SARL).
- ``invoice_number``: as printed, without ``#`` or ``No.``.
- ``date``: the document's date as ``YYYY-MM-DD``; numeric dates are day-first.
- ``total``: the amount due after discounts and credits (never the subtotal), two decimals, no thousands
  separator and no currency symbol; ``1.234,50`` is ``1234.50``.
- ``currency``: ISO 4217: ``€`` EUR, ``£`` GBP, ``CHF``/``Fr.`` CHF, ``$`` USD unless the document says
  CAD/AUD (or ``C$``/``A$``).
"""

from __future__ import annotations

import datetime as dt
import json
import random

VENDORS = [
    "Nordlicht",
    "Bluebird Supplies",
    "Kaffeehaus Meier",
    "Atlas Freight",
    "Greenleaf Organics",
    "Pixel Forge",
    "Harbor & Finch",
    "Alpenblick Hotels",
    "Redwood Analytics",
    "Solaris Energy",
    "Brightside Print",
    "Vega Logistics",
    "Oakmont Legal",
    "Tidewater Marine",
    "Copperline Tools",
    "Lumen Optics",
    "Fjord Software",
    "Maple Street Bakery",
]
SUFFIXES = ["GmbH", "Inc.", "Ltd", "LLC", "AG", "S.A.", "B.V.", "SARL", "Ltd.", "Inc"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
CURRENCIES = [
    ("EUR", "€", "{s}{a}"),
    ("EUR", "EUR", "{a} {s}"),
    ("GBP", "£", "{s}{a}"),
    ("USD", "$", "{s}{a}"),
    ("CAD", "C$", "{s}{a}"),
    ("AUD", "AUD", "{a} {s}"),
    ("CHF", "CHF", "{s} {a}"),
    ("CHF", "Fr.", "{s} {a}"),
    ("USD", "USD", "{a} {s}"),
]


def _amount_text(rng: random.Random, value: float, european: bool) -> str:
    whole, cents = f"{value:.2f}".split(".")
    if european:
        grouped = f"{int(whole):,}".replace(",", ".")
        return f"{grouped},{cents}"
    return f"{int(whole):,}.{cents}" if rng.random() < 0.7 else f"{whole}.{cents}"


def _date_text(rng: random.Random, d: dt.date) -> str:
    return rng.choice(
        [
            f"{d.day:02d}.{d.month:02d}.{d.year}",
            f"{d.day:02d}/{d.month:02d}/{d.year}",
            f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
            f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
            d.isoformat(),
        ]
    )


def make(rng: random.Random) -> dict[str, str]:
    """One document and its five fields as a JSON string."""
    vendor = rng.choice(VENDORS)
    legal = rng.choice(SUFFIXES) if rng.random() < 0.75 else ""
    code, symbol, pattern = rng.choice(CURRENCIES)
    european = code in ("EUR", "CHF") and rng.random() < 0.6
    subtotal = round(rng.uniform(20, 4800), 2)
    discount = round(subtotal * rng.choice([0, 0, 0.05, 0.1, 0.15]), 2)
    tax = round((subtotal - discount) * rng.choice([0, 0.07, 0.19, 0.2]), 2)
    total = round(subtotal - discount + tax, 2)
    d = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 900))
    number = rng.choice(
        [
            f"INV-{rng.randint(1000, 99999)}",
            f"{d.year}-{rng.randint(100, 9999)}",
            f"R{rng.randint(100000, 999999)}",
            None,
        ]
    )

    def money(value: float) -> str:
        return pattern.format(s=symbol, a=_amount_text(rng, value, european))

    name = f"{vendor} {legal}".strip()
    lines = []
    style = rng.choice(["invoice", "receipt", "email"])
    if style == "invoice":
        lines.append(name.upper() if rng.random() < 0.3 else name)
        lines.append(
            rng.choice(["Invoice", "INVOICE", "Rechnung / Invoice"])
            + (f" #{number}" if number and rng.random() < 0.5 else "")
        )
        if number and "#" not in lines[-1]:
            lines.append(f"Invoice No. {number}")
        lines.append(f"Date: {_date_text(rng, d)}")
        lines.append(f"Subtotal: {money(subtotal)}")
        if discount:
            lines.append(f"Discount: -{money(discount)}")
        if tax:
            lines.append(f"VAT: {money(tax)}")
        lines.append(f"{rng.choice(['Total due', 'Amount due', 'TOTAL'])}: {money(total)}")
    elif style == "receipt":
        number = None if rng.random() < 0.6 else number
        lines.append(f"Thank you for shopping at {name}!")
        lines.append(_date_text(rng, d) + rng.choice(["", " 14:32", " 09:05"]))
        if number:
            lines.append(f"Receipt {number}")
        lines.append(f"Items: {money(subtotal)}")
        if discount:
            lines.append(f"Member discount {money(discount)}")
        lines.append(f"Paid: {money(total)}")
    else:
        lines.append(f"Hello, this is a payment reminder from {name}" + ("" if name.endswith(".") else "."))
        ref = f" for invoice {number}" if number else ""
        lines.append(f"An amount of {money(total)} is still open{ref}, issued on {_date_text(rng, d)}.")
        if discount:
            lines.append(f"(This already includes your credit of {money(discount)}.)")
        lines.append("Please pay within 14 days.")
    fields = {
        "vendor": vendor,
        "invoice_number": number,
        "date": d.isoformat(),
        "total": f"{total:.2f}",
        "currency": code,
    }
    return {"input": "\n".join(lines), "expected_output": json.dumps(fields), "why": ""}
