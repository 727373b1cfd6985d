"""field_extraction: the figures of one document (``Doc``) and how each kind of document states them (``render_doc``).

Kinds: an invoice (English or bilingual German), a shop or cafe receipt, a payment reminder, an e-mail with the
invoice attached, a hotel folio, a subscription renewal. Each kind has its own lines, labels and distractors
(subtotals, due dates, order / PO / VAT / booking numbers) next to the values the rule book asks for.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from .common import NAMES, bank

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
    """The document's lines, and which number/date it states (``make_invoice`` fills the rest)."""
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
