"""Generate the bundled tasks as SkillOpt split dirs: ``data/<task>/{train,valid,test}.jsonl``.

Each line is ``{"id": "<task>-<split>-NNN", "input": ..., "expected_output": ...}``. The gold outputs
come from each task's rule book, written as code in the ``datagen`` package next to this script (one module per
task: ``routing.route``, ``dates.date_expression``, ``invoices.make_invoice``), so they are right by construction,
and each example is re-checked against the text it ended up with (the routing cues are detected again
independently; an invoice must state its gold values). No input appears in two splits. Seeded ``random.Random``
and stdlib only: running it again writes byte-identical files.

Usage:
    python scripts/make_data.py            # (re)write data/
    python scripts/make_data.py --check    # exit 1 if the files in data/ differ from what would be written
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from datagen.splits import SIZES, TASKS, build, render

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


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
