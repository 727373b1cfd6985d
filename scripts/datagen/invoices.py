"""field_extraction. Always the five keys; a field the document does not state is null.
  vendor: the issuer's name without its legal form (GmbH, Inc., Ltd, LLC, S.A., ...); never the customer.
  invoice_number: the document's own number (invoice / bill / receipt / folio no.) without "#" or "No.";
    order, PO, customer, booking and VAT numbers are never it.
  date: the issue date as YYYY-MM-DD (numeric dates are day-first); not the due, delivery or stay dates.
  total: the amount still to pay after discounts, credits and deposits (on a receipt: the total paid),
    two decimals, dot decimal separator, no thousands separator, no currency symbol.
  currency: ISO 4217: € EUR, £ GBP, Fr./CHF CHF; $ is USD unless the document says CAD or AUD (C$, A$).

``make_invoice`` draws a document's figures (vendor, items, discount, tax, shipping, deposit, currency and styles),
has ``invoice_layouts.render_doc`` write it, and checks that the text states the gold values.
"""

from __future__ import annotations

import datetime as dt
import json
import random

from .common import MONTHS, bank, ordinal
from .invoice_layouts import Doc, render_doc

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
