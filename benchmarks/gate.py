"""How often each validation gate accepts noise or a real gain, and what racing saves: a simulation, no LM.

Each replication draws per-example Bernoulli outcomes on a valset of ``n`` examples: the incumbent skill
passes each example with probability 0.60, the candidate with 0.60 + delta. ``--overlap r`` makes the two
skills agree by construction on a share ``r`` of the examples (a candidate differs from the incumbent by a
few edits, so most examples go the same way for both); on the rest the candidate's outcome is drawn on its
own with the probability that keeps its accuracy at 0.60 + delta. The candidate is then judged by the
library's own gate (:class:`skillopt_dspy.stages.racing.RacingGate` over a
:class:`~skillopt_dspy.stages.gate.ValidationCache`, the code a run uses) with racing on and off:

- delta = 0: the false-accept rate (a candidate no better than the incumbent passes the gate);
- delta = +0.05, +0.10: the accept rate of a real gain (power);
- delta = -0.15, -0.30: a harmful edit (what most rejected candidates of a real run are);
- validation calls per candidate with and without racing, on all candidates and on the rejected ones;
- decisions that differ between racing on and off (must be 0: racing only stops a candidate that cannot
  win).

Run: ``python benchmarks/gate.py [--reps 2000] [--chunk 8] [--overlap 0.0 0.5] [--deltas ...] [--out F.json]``
(a delta that an overlap cannot reach is skipped: at overlap 0.9 a candidate is within 0.04 of 0.60)

``--real CONFIG [--cfg-options k=v ...]`` instead trains the config twice in one process on its LM (the
embedded one for the bundled configs: run it under ``flock /tmp/skillopt-lm.lock``), racing on then off,
same seed, DSPy's caches off, and prints the target calls, metric calls and the best skill of each (and,
unless ``run.eval_test=false``, the test accuracy without a skill and with each run's best skill).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

from skillopt_dspy.scoring import Score
from skillopt_dspy.stages.gate import GateRule, ValidationCache
from skillopt_dspy.stages.racing import RacingGate, validation_order

BASE = 0.60
SIZES = (20, 40, 100)
DELTAS = (-0.30, -0.15, 0.0, 0.05, 0.10)
GATES = {
    "strict": GateRule(mode="hard", test="strict"),
    "paired a=0.01": GateRule(mode="hard", test="paired", alpha=0.01),
    "paired a=0.05": GateRule(mode="hard", test="paired", alpha=0.05),
    "paired a=0.10": GateRule(mode="hard", test="paired", alpha=0.10),
    "paired a=0.20": GateRule(mode="hard", test="paired", alpha=0.20),
}
PASS, FAIL = Score(1.0, 1.0), Score(0.0, 0.0)


def own_rate(delta: float, overlap: float) -> float:
    """The candidate's pass rate off the shared share, so that its accuracy is BASE + delta."""
    return (BASE + delta - overlap * BASE) / (1.0 - overlap)


def feasible(delta: float, overlap: float) -> bool:
    """Whether a candidate agreeing on a share ``overlap`` can be ``delta`` away (overlap 0.9: |delta| <= 0.04)."""
    return 0.0 <= own_rate(delta, overlap) <= 1.0


def draw(rng: random.Random, n: int, delta: float, overlap: float) -> tuple[list[Score], list[Score]]:
    """Incumbent and candidate outcomes on ``n`` examples (see the module docstring)."""
    own = own_rate(delta, overlap)
    if not feasible(delta, overlap):
        raise ValueError(f"overlap {overlap} cannot give a candidate accuracy of {BASE + delta:.2f}")
    incumbent = [rng.random() < BASE for _ in range(n)]
    candidate = [x if rng.random() < overlap else rng.random() < own for x in incumbent]
    return [PASS if x else FAIL for x in incumbent], [PASS if x else FAIL for x in candidate]


def judge(
    rule: GateRule, incumbent: list[Score], candidate: list[Score], *, racing: bool, chunk: int, seed: int
) -> tuple[bool, int]:
    """One gate decision by the library's racing gate; returns (accepted, validation calls on the candidate)."""
    table = {"incumbent": incumbent, "candidate": candidate}
    calls = {"candidate": 0, "incumbent": 0}

    def evaluate(skill: str, indices: list[int]) -> list[Score]:
        calls[skill] += len(indices)
        return [table[skill][i] for i in indices]

    cache = ValidationCache(evaluate, size=len(incumbent))
    order = validation_order(len(incumbent), seed=seed)
    gate = RacingGate(cache, rule, order=order, chunk_size=chunk, racing=racing)
    return gate("incumbent", "candidate").accepted, calls["candidate"]


def simulate(n: int, delta: float, *, reps: int, chunk: int, overlap: float, seed: int) -> dict[str, dict]:
    rng = random.Random(f"{seed}-{n}-{delta}-{overlap}")
    stats = {
        name: {"accepted": 0, "calls_on": 0, "calls_off": 0, "lost": 0, "lost_on": 0, "lost_off": 0, "differ": 0}
        for name in GATES
    }
    for rep in range(reps):
        incumbent, candidate = draw(rng, n, delta, overlap)
        for name, rule in GATES.items():
            on, calls_on = judge(rule, incumbent, candidate, racing=True, chunk=chunk, seed=rep)
            off, calls_off = judge(rule, incumbent, candidate, racing=False, chunk=chunk, seed=rep)
            s = stats[name]
            s["accepted"] += off
            s["differ"] += on != off
            s["calls_on"] += calls_on
            s["calls_off"] += calls_off
            if not off:
                s["lost"] += 1
                s["lost_on"] += calls_on
                s["lost_off"] += calls_off
    out = {}
    for name, s in stats.items():
        lost = max(1, s["lost"])
        out[name] = {
            "accept_rate": s["accepted"] / reps,
            "calls_racing": s["calls_on"] / reps,
            "calls_full": s["calls_off"] / reps,
            "calls_rejected_racing": s["lost_on"] / lost,
            "calls_rejected_full": s["lost_off"] / lost,
            "saved_on_rejected": 1.0 - s["lost_on"] / max(1, s["lost_off"]),
            "decisions_differ": s["differ"],
        }
    return out


def table(results: dict, overlap: float, reps: int, chunk: int) -> str:
    lines = [
        f"overlap {overlap:.1f}, {reps} replications per row, racing chunk {chunk}. Accept rates per gate (at "
        "delta 0 the false-accept rate); validation calls per candidate with racing / without; the share of "
        "calls racing saves on rejected candidates; decisions that differ between racing on and off.",
        "",
        "| n | delta | " + " | ".join(GATES) + " | calls strict | calls paired a=0.05 "
        "| saved on rejected: strict | paired a=0.05 | decisions differ |",
        "|---|---|" + "---|" * len(GATES) + "---|---|---|---|---|",
    ]
    for (n, delta), row in results.items():
        s, p = row["strict"], row["paired a=0.05"]
        rates = " | ".join(f"{row[g]['accept_rate']:.3f}" for g in GATES)
        differ = sum(row[g]["decisions_differ"] for g in GATES)
        lines.append(
            f"| {n} | {delta:+.2f} | {rates} | {s['calls_racing']:.1f} / {s['calls_full']:.0f} "
            f"| {p['calls_racing']:.1f} / {p['calls_full']:.0f} "
            f"| {s['saved_on_rejected']:.0%} | {p['saved_on_rejected']:.0%} | {differ} |"
        )
    return "\n".join(lines)


def real_run(config_path: str, overrides: list[str], out: str | None, log_dir: str | None = None) -> None:
    """Train ``config_path`` with racing on, then off (same seed, one LM load); print calls and best skills."""
    import dspy

    from skillopt_dspy import SkillOpt
    from skillopt_dspy.config import load_config
    from skillopt_dspy.skill import skill_hash
    from skillopt_dspy.workspace import build

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # one line per step
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    config = load_config(config_path, overrides=["run.progress=false", *overrides])
    ws = build(config)
    rows = {}
    for racing in (True, False):
        kwargs = {**ws.skillopt_kwargs(), "racing": racing}
        if log_dir:  # the runs' history, evals and skills, readable while they run
            kwargs["log_dir"] = Path(log_dir) / ("racing-on" if racing else "racing-off")
        started = time.perf_counter()
        with dspy.context(lm=ws.lm, adapter=ws.adapter):
            compiled = SkillOpt(ws.metric, reflection_lm=ws.reflection_lm, **kwargs).compile(
                ws.program, trainset=ws.splits["train"], valset=ws.splits["valid"], restart=True
            )
        res = compiled.detailed_results
        gates = [s.gate for s in res.history if s.gate] + [
            e.slow_update["gate"] for e in res.epochs if e.slow_update and e.slow_update.get("gate")
        ]
        rows["racing on" if racing else "racing off"] = {
            "target_calls": res.lm_calls.get("target", 0),
            "reflection_calls": res.lm_calls.get("reflection", 0),
            "metric_calls": res.metric_calls,
            "candidates": len(gates),
            "accepted": sum(g["accepted"] for g in gates),
            "stopped_early": sum(g["stopped_early"] for g in gates),
            "validation_calls_on_candidates": sum(g["evaluated"] for g in gates),
            "gate_evaluated": [g["evaluated"] for g in gates],
            "baseline_val": res.baseline_val_score,
            "best_val": res.best_val_score,
            "best_skill_hash": skill_hash(res.best_skill),
            "best_skill": res.best_skill,
            "wall_s": round(time.perf_counter() - started, 1),
        }
        print(json.dumps({k: v for k, v in rows[list(rows)[-1]].items() if k != "best_skill"}), flush=True)
    if config.run.eval_test and "test" in ws.splits:  # the quickstart's test scores, once per distinct skill
        from skillopt_dspy.cli import _evaluate

        tested: dict[str, float] = {}
        for row in [{"best_skill": ""}, *rows.values()]:
            if row["best_skill"] not in tested:
                tested[row["best_skill"]] = _evaluate(ws, "test", row["best_skill"])["accuracy"]
        for row in rows.values():
            row["test_without_skill"], row["test_with_best_skill"] = tested[""], tested[row["best_skill"]]
        print(
            f"test accuracy without a skill {tested['']:.3f}; with each run's best skill: "
            + ", ".join(f"{name} {row['test_with_best_skill']:.3f}" for name, row in rows.items()),
            flush=True,
        )
    on, off = rows["racing on"], rows["racing off"]
    print(
        f"target calls {on['target_calls']} vs {off['target_calls']} "
        f"({1 - on['target_calls'] / max(1, off['target_calls']):.0%} fewer with racing); validation calls on "
        f"candidates {on['validation_calls_on_candidates']} vs {off['validation_calls_on_candidates']}; "
        f"same best skill: {on['best_skill_hash'] == off['best_skill_hash']}"
    )
    if out:
        meta = {"config": config_path, "overrides": overrides}
        Path(out).write_text(json.dumps({"settings": meta, "runs": rows}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=8, help="racing chunk (num_threads); default 8")
    parser.add_argument("--overlap", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deltas", type=float, nargs="+", default=list(DELTAS), help="candidate minus incumbent")
    parser.add_argument("--out", default=None, help="write every number as JSON here")
    parser.add_argument("--real", default=None, metavar="CONFIG", help="a real run on CONFIG's LM instead")
    parser.add_argument("--cfg-options", nargs="*", default=[], help="overrides for --real (section.key=value)")
    parser.add_argument("--log-dir", default=None, help="--real: keep each run's directory under this one")
    args = parser.parse_args()
    if args.real:
        real_run(args.real, args.cfg_options, args.out, args.log_dir)
        return
    started = time.perf_counter()
    everything = {}
    for overlap in args.overlap:
        skipped = [d for d in args.deltas if not feasible(d, overlap)]
        if skipped:  # a candidate that agrees on most examples cannot be far from the incumbent
            print(f"overlap {overlap}: deltas {skipped} cannot be reached, skipped")
        results = {
            (n, d): simulate(n, d, reps=args.reps, chunk=args.chunk, overlap=overlap, seed=args.seed)
            for n in SIZES
            for d in args.deltas
            if feasible(d, overlap)
        }
        print(table(results, overlap, args.reps, args.chunk), end="\n\n", flush=True)
        everything[str(overlap)] = {f"n={n} delta={d}": row for (n, d), row in results.items()}
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.out:
        meta = {"reps": args.reps, "chunk": args.chunk, "seed": args.seed, "base_accuracy": BASE}
        Path(args.out).write_text(json.dumps({"settings": meta, "results": everything}, indent=2) + "\n")


if __name__ == "__main__":
    main()
