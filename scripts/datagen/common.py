"""What the task generators share: phrase banks, the per-split mix of kinds, ordinals, names, calendar words."""

from __future__ import annotations

import calendar
import random


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
MONTHS = list(calendar.month_name)[1:]
WEEKDAYS = list(calendar.day_name)
