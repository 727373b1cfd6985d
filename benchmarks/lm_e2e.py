"""One fixed SkillOpt run on the embedded LM under several engine settings: wall time, final skill, history.

Each setting is one ``skillopt-dspy train`` run in a subprocess (seeded, greedy decoding), optionally from
another source tree (``--before-src``: a checkout of the code before the speed work). Runs are compared
by their final skill and their history with the timing fields removed: the same decisions, edit by edit.
Two settings that differ only in speculative decoding must agree exactly; a prompt change (the adapter)
may change answers, so for that the validation scores are what to compare.

``--plain NAME`` runs NAME with DSPy's own JSONAdapter on the embedded LM (the prompts before the prefix
adapter, everything else the same code): ``--run before --plain before --run after`` isolates the adapter.

Usage (under the LM lock; each run is one training run; --set adds a config override to one run):
    python benchmarks/lm_e2e.py --out /tmp/e2e --run before@/path/to/old/checkout --run after \\
        --set "after:model.reflection_lm_kwargs={speculative: draft}"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The fixed run: ticket routing on the 1.5B model as target and reflection LM, 2 steps of 8, 10 validation
# examples, no test split.
OPTIONS = [
    "train.batch_size=8",
    "data.train_limit=16",
    "data.valid_limit=10",
    "train.epochs=1",
    "train.seed=0",
    "run.eval_test=false",
    "run.progress=false",
]
TIMING_KEYS = {"seconds", "usage", "wall_time_s", "latency_per_example_s"}


def strip_timing(value: object) -> object:
    """``value`` without the keys that measure time (they differ between identical runs)."""
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


# Runs the CLI; with DSPy's own JSONAdapter on the embedded LM instead of PrefixJSONAdapter when asked.
LAUNCH = (
    "import sys\n"
    "if {plain}:\n"
    "    import skillopt_dspy.lm.adapter as a\n"
    "    a.is_embedded = lambda lm: False\n"
    "from skillopt_dspy.cli import main\n"
    "sys.exit(main(sys.argv[1:]))"
)


def train(name: str, src: Path, out: Path, lm: str, extra: list[str], *, plain: bool = False) -> dict:
    """One training run; its wall time, peak RSS, final skill and timing-free history.

    ``plain``: the run uses DSPy's ``JSONAdapter`` for every call (the prompts before the prefix adapter).
    """
    log_dir = out / name
    options = [*OPTIONS, *extra]
    cmd = [
        sys.executable,
        "-c",
        LAUNCH.format(plain=plain),
        "train",
        "--config",
        str(ROOT / "configs" / "ticket_routing.yaml"),
        "--lm",
        lm,
        "--log-dir",
        str(log_dir),
        "--restart",
        "--cfg-options",
        *options,
    ]
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    with open(out / f"{name}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, rusage = os.wait4(proc.pid, 0)  # the child's own peak RSS, not the largest child's so far
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"run {name} failed ({code}); see {out / f'{name}.log'}")
    history = [json.loads(line) for line in (log_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    return {
        "wall": wall,
        "peak_rss_mb": rusage.ru_maxrss / 1024,
        "skill": (log_dir / "best_skill.md").read_text(),
        "history": strip_timing(history),
        "val": [h.get("val_score") for h in history],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lm", default="local/qwen2.5-coder-1.5b", help="target and reflection LM")
    parser.add_argument("--run", action="append", required=True, help="NAME[@SRC]: a run, and the code it runs")
    parser.add_argument("--set", action="append", default=[], help="NAME:KEY=VALUE: an override for one run")
    parser.add_argument("--cfg-options", nargs="*", default=[], help="overrides for every run")
    parser.add_argument(
        "--plain", action="append", default=[], help="NAME: this run uses DSPy's JSONAdapter (before issue 14)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for spec in args.run:
        name, _, src = spec.partition("@")
        own = [option.split(":", 1)[1] for option in args.set if option.split(":", 1)[0] == name]
        results[name] = train(
            name, Path(src) if src else ROOT, args.out, args.lm, [*args.cfg_options, *own], plain=name in args.plain
        )
        r = results[name]
        print(f"{name}: {r['wall']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB, val by step {r['val']}", flush=True)
    first_name, first = next(iter(results.items()))
    for name, r in results.items():
        if name == first_name:
            continue
        same_skill = r["skill"] == first["skill"]
        same_history = r["history"] == first["history"]
        print(
            f"{first_name} / {name}: {first['wall'] / r['wall']:.2f}x faster end to end; "
            f"same final skill: {same_skill}; same history (timings removed): {same_history}"
        )
    (args.out / "summary.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
