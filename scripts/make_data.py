"""Generate the bundled tasks: ``data/<task>/{train,valid,test}.jsonl`` in the SkillOpt split-dir format.

Seeded and deterministic: running it again writes byte-identical files, and ``--check`` verifies that the
committed files match. Each line is ``{"id", "input", "expected_output", "why"}``; ``why`` names the house
rule behind the label (the metrics quote it in their feedback; it is never an input).

Usage: ``python scripts/make_data.py [--check] [--out data]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_dates
import gen_invoices
import gen_routing

SEED = 20261124
SIZES = {"train": 80, "valid": 60, "test": 100}
TASKS = {
    "ticket_routing": gen_routing.make,
    "date_normalization": gen_dates.make,
    "field_extraction": gen_invoices.make,
}


def build(task: str) -> dict[str, list[dict]]:
    """All splits of one task; inputs are unique across splits by construction (duplicates are redrawn)."""
    rng = random.Random(f"{SEED}:{task}")
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {}
    for split, n in SIZES.items():
        rows = []
        while len(rows) < n:
            row = TASKS[task](rng)
            key = " ".join(row["input"].lower().split())
            if key in seen:
                continue
            seen.add(key)
            rows.append({"id": f"{task}-{split}-{len(rows):03d}", **row})
        splits[split] = rows
    return splits


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the files instead of writing them")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "data"))
    args = parser.parse_args()
    stale = []
    for task in TASKS:
        for split, rows in build(task).items():
            path = Path(args.out) / task / f"{split}.jsonl"
            text = render(rows)
            if args.check:
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    stale.append(str(path))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python scripts/make_data.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
