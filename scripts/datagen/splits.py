"""The train/valid/test splits of every task, drawn from one seed, and their JSON-lines text.

Every split gets the same mix of kinds (``allocate``); an input already drawn for any split is drawn again, so no
input appears in two splits.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from .common import allocate
from .dates import DATE_KINDS, make_date
from .invoices import DOC_KINDS, make_invoice
from .routing import TICKET_KINDS, make_ticket

SEED = 20241124
SIZES = {"train": 80, "valid": 60, "test": 100}

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
