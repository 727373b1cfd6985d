"""What ``carry_ahead`` costs in honesty and buys in power: a simulation of whole epochs, no LM.

An epoch is ``steps`` steps. Each step adds ``edits`` new edits to its base (the accepted skill, or with
``carry_ahead`` a carried candidate); a candidate is a set of edits. An edit touches each example with
probability ``touch`` (most edits change few answers) and sets a touched example to a pass with probability
``BASE + effect / touch``, so on its own it moves the pass rate by ``effect`` in expectation; a later edit that
touches the same example decides it. Every step draws a fresh training batch of ``batch`` examples and applies
the batch check (strictly more passes than the base there), then the library's own racing gate
(:class:`~skillopt_dspy.stages.racing.RacingGate`, hard mode, paired sign test at ``alpha``) on a fixed valset
of ``n`` examples against the accepted skill, and with ``carry_ahead`` the step's own rule
(:func:`skillopt_dspy.stages.step._carries`' test: :func:`~skillopt_dspy.stages.gate.estimated_delta` > 0).
Each world is run twice on the same draws, carrying on and off:

Each edit's own effect is ``effect`` plus a uniform draw in ``[-spread, spread]``: some help, some harm.

- ``effect = 0`` (edits help as often as they harm): the share of epochs that accept anything, and the true
  change of the final skill (its expected pass rate on fresh examples, computed exactly from the model, minus
  the starting one), which an honest gate keeps at 0 or above by turning the harmful ones down;
- ``effect > 0`` (small real gains, below what one gate on ``n`` examples can tell from noise): the same;
- ``effect < 0``: most edits harm; the share of epochs that end worse than they started;
- the validation calls per epoch.

Run: ``python benchmarks/carry.py [--reps 1000] [--n 60] [--steps 10] [--effects 0 0.02 0.04 -0.02]``
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from skillopt_dspy.scoring import Score
from skillopt_dspy.stages.gate import GateRule, ValidationCache, estimated_delta
from skillopt_dspy.stages.racing import RacingGate, validation_order

BASE = 0.45  # the starting skill's pass rate (the 1.5B dates and routing programs: 0.25 to 0.45)
PASS, FAIL = Score(1.0, 1.0), Score(0.0, 0.0)


class World:
    """Examples and edits drawn from one seed: an edit's effect on an example, and an example's starting outcome,
    are fixed by (seed, edit, example), so carrying on and off meet the same draws wherever they look."""

    def __init__(self, seed: str, *, effect: float, spread: float, touch: float) -> None:
        self.seed, self.effect, self.spread, self.touch = seed, effect, spread, touch
        self.memo: dict[tuple[int, int], bool | None] = {}
        self.effects: dict[int, float] = {}

    def pass_rate(self, edit: int) -> float:
        """Where ``edit`` sends the examples it touches: its effect (``effect`` +- ``spread``) over ``touch``."""
        if edit not in self.effects:
            u = random.Random(f"{self.seed}-effect-{edit}").random()
            self.effects[edit] = self.effect + self.spread * (2 * u - 1)
        return min(1.0, max(0.0, BASE + self.effects[edit] / self.touch))

    def _draw(self, edit: int, example: int) -> bool | None:
        key = (edit, example)
        if key not in self.memo:
            rng = random.Random(f"{self.seed}-{edit}-{example}")
            if edit < 0:  # the starting skill
                self.memo[key] = rng.random() < BASE
            else:
                touched = rng.random() < self.touch
                self.memo[key] = (rng.random() < self.pass_rate(edit)) if touched else None
        return self.memo[key]

    def outcome(self, edits: tuple[int, ...], example: int) -> bool:
        value = self._draw(-1, example)
        for e in edits:
            hit = self._draw(e, example)
            if hit is not None:
                value = hit
        return bool(value)

    def true_rate(self, edits: tuple[int, ...]) -> float:
        """The expected pass rate on a fresh example: each edit applies independently; the last touch decides."""
        rate = BASE
        for e in edits:
            rate = (1 - self.touch) * rate + self.touch * self.pass_rate(e)
        return rate


def epoch(world: World, *, carry: bool, n: int, steps: int, edits: int, batch: int, alpha: float, seed: int) -> dict:
    rule = GateRule(mode="hard", test="paired", alpha=alpha)
    calls = [0]
    val = list(range(n))  # valset examples 0..n-1; training examples are drawn above them

    def evaluate(skill: str, indices: list[int]) -> list[Score]:
        calls[0] += len(indices)
        key = tuple(int(x) for x in skill.split(",") if x)
        return [PASS if world.outcome(key, val[i]) else FAIL for i in indices]

    def text(edit_ids: tuple[int, ...]) -> str:  # a skill's cache key: its edits' ids
        return ",".join(map(str, edit_ids))

    cache = ValidationCache(evaluate, size=n)
    gate = RacingGate(cache, rule, order=validation_order(n, seed=seed), chunk_size=8)
    skill: tuple[int, ...] = ()
    base: tuple[int, ...] | None = None
    cache.scores("")  # the starting skill, scored in full (not counted as the epoch's cost below)
    calls[0] = 0
    next_edit, next_example, accepted = 0, n, 0
    for _ in range(steps):
        parent = base if base is not None else skill
        new = tuple(range(next_edit, next_edit + edits))
        next_edit += edits
        candidate = parent + new
        examples = range(next_example, next_example + batch)
        next_example += batch
        before = sum(world.outcome(parent, x) for x in examples)
        after = sum(world.outcome(candidate, x) for x in examples)
        if after <= before:  # the batch check
            continue
        decision = gate(text(skill), text(candidate))
        if decision.accepted:
            skill, base, accepted = candidate, None, accepted + 1
        elif carry:
            delta = estimated_delta(cache.scores(text(skill)), cache.known(text(candidate)), rule)
            if delta is not None and delta > 0:
                base = candidate
    return {"accepted": accepted, "gain": world.true_rate(skill) - BASE, "calls": calls[0]}


def run(args: argparse.Namespace) -> dict:
    out = {}
    for effect in args.effects:
        rows = {"on": [], "off": []}
        for rep in range(args.reps):
            for mode in rows:
                world = World(f"{args.seed}-{effect}-{rep}", effect=effect, spread=args.spread, touch=args.touch)
                rows[mode].append(
                    epoch(
                        world,
                        carry=mode == "on",
                        n=args.n,
                        steps=args.steps,
                        edits=args.edits,
                        batch=args.batch,
                        alpha=args.alpha,
                        seed=rep,
                    )
                )
        out[effect] = {
            mode: {
                "epochs_accepting": sum(r["accepted"] > 0 for r in rs) / len(rs),
                "mean_true_gain": sum(r["gain"] for r in rs) / len(rs),
                "epochs_worse": sum(r["gain"] < -1e-12 for r in rs) / len(rs),
                "validation_calls": sum(r["calls"] for r in rs) / len(rs),
            }
            for mode, rs in rows.items()
        }
        print(f"effect {effect:+.3f}: " + json.dumps(out[effect]), flush=True)
    return out


def table(results: dict, args: argparse.Namespace) -> str:
    lines = [
        f"{args.reps} epochs per row; {args.steps} steps of {args.edits} edits, batch {args.batch}, valset {args.n}, "
        f"paired sign test at alpha {args.alpha}, each edit touches {args.touch:.0%} of the examples. Effect: what one "
        f"edit alone moves the pass rate by, on average (each edit's own: that +- {args.spread:g}, uniform). "
        "Carrying off / on: share of epochs that accept a candidate, the final skill's true gain in points (mean), "
        "share of epochs that end worse than they started, validation calls.",
        "",
        "| effect per edit | epochs accepting (off / on) | true gain, points (off / on) | ended worse (off / on) "
        "| validation calls (off / on) |",
        "|---|---|---|---|---|",
    ]
    for effect, row in results.items():
        off, on = row["off"], row["on"]
        lines.append(
            f"| {effect:+.3f} | {off['epochs_accepting']:.3f} / {on['epochs_accepting']:.3f} "
            f"| {100 * off['mean_true_gain']:+.2f} / {100 * on['mean_true_gain']:+.2f} "
            f"| {off['epochs_worse']:.3f} / {on['epochs_worse']:.3f} "
            f"| {off['validation_calls']:.0f} / {on['validation_calls']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=1000)
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--edits", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--touch", type=float, default=0.1)
    p.add_argument("--spread", type=float, default=0.03)
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--effects", type=float, nargs="+", default=[0.0, 0.01, 0.02, 0.04, -0.02])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    t0 = time.perf_counter()
    results = run(args)
    text = table(results, args)
    print(text)
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.out:
        args.out.write_text(json.dumps({"settings": vars(args) | {"out": str(args.out)}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
