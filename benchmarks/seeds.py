"""An optimizer's test gain over several runs (seeds) of ``benchmarks/compare.py`` on the same test split.

One run's gain on 60 test examples is noisy twice over: the test examples are few, and the run itself (its
training batches, its seed) is one draw. A run that wins by +8 points may be a lucky seed, and one that loses
may be an unlucky one. This pools runs: for each optimizer, each test example's score is averaged over that
optimizer's runs, and the mean of those per-example averages minus ``none``'s is the optimizer's expected
gain on this test split for a run with a random seed. Its uncertainty comes from the examples: a 95 % paired
bootstrap interval over them (:func:`skillopt_dspy.significance.paired_gain`), and the one-sided paired
sign-flip test of "the gain is above 0" (:func:`skillopt_dspy.significance.sign_flip_p`, exact in its
level), both on the per-example differences. The seeds are the ones run, not a sample of all seeds: with
three runs, read it as "these runs, on these examples".

``--versus skillopt,gepa`` compares two optimizers head to head on the same footing: each one's per-example
mean over its own runs, the difference (first minus second) with its 95 % paired bootstrap interval, and the
one-sided sign-flip p-values of "the first is ahead" and of "the second is ahead". Two runs of one seed are
not paired with each other: the runs' seeds are the optimizers' own draws, and each side is pooled first.

A file named as ``PATH:skillopt`` (or ``PATH:skillopt,gepa``) lends only those rows to the pool (its ``none``
row is always read), for a file whose other rows came from other code.

Every run must hold a ``none`` row on the same test examples (same split sizes, same task, the same
``none`` scores), so that all optimizers are compared on one footing.

Run: ``python benchmarks/seeds.py results/compare-1.5b-date_normalization-wb4*.json
results/compare-1.5b-date_normalization-v60.json:gepa --optimizers skillopt,gepa [--versus skillopt,gepa]
[--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skillopt_dspy.significance import paired_gain, sign_flip_p


def load_runs(paths: Sequence[str]) -> list[dict]:
    """The compare.py results at ``paths`` (``PATH`` or ``PATH:opt,opt``); one clear error when they do not
    share a task and test split."""
    runs = []
    for spec in paths:
        path, _, only = str(spec).partition(":")
        data = json.loads(Path(path).read_text())
        keep = set(only.split(",")) | {"none"} if only else None
        rows = {r["optimizer"]: r for r in data["results"] if not r.get("error")}
        rows = {k: v for k, v in rows.items() if keep is None or k in keep}
        if "none" not in rows:
            raise ValueError(f"{path}: no 'none' row to pair with; run compare.py with --optimizers none,...")
        runs.append(
            {"path": str(path), "task": data["task"], "splits": data["splits"], "seed": data["seed"], "rows": rows}
        )
    first = runs[0]
    for run in runs[1:]:
        if (run["task"], run["splits"]["test"]) != (first["task"], first["splits"]["test"]):
            raise ValueError(f"{run['path']} is not on {first['path']}'s task and test split: pool one task at a time")
        if run["rows"]["none"]["test_hard"] != first["rows"]["none"]["test_hard"]:
            raise ValueError(f"{run['path']}: 'none' scored other test examples than in {first['path']}")
    return runs


def pooled_gain(baseline: Sequence[float], runs: Sequence[Sequence[float]], *, seed: int = 0) -> dict:
    """The mean over ``runs`` of each example's score, compared with ``baseline`` on the same examples.

    Example:
        >>> g = pooled_gain([0, 0, 1, 0], [[1, 0, 1, 0], [1, 1, 1, 0]])
        >>> g["gain"], g["per_run"], g["examples_up"], g["examples_down"]
        (0.375, [0.25, 0.5], 2, 0)
    """
    before = np.asarray(baseline, dtype=float)
    scores = np.asarray(runs, dtype=float)
    if scores.ndim != 2 or scores.shape[1] != len(before):
        raise ValueError(f"every run needs a score for each of the {len(before)} test examples")
    mean = scores.mean(axis=0)
    g = paired_gain(before, mean, seed=seed)  # the per-example means against the baseline: gain, counts, CI
    return {
        "runs": len(scores),
        "examples": g["examples"],
        "per_run": [round(float(x), 4) for x in (scores - before).mean(axis=1)],
        "gain": g["gain"],
        "examples_up": g["wins"],
        "examples_down": g["losses"],
        "p_sign_flip": round(sign_flip_p((mean - before).tolist(), seed=seed), 4),
        "ci95": g["ci95"],
    }


def head_to_head(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], *, seed: int = 0) -> dict:
    """Two optimizers' pooled scores on the same examples: ``first``'s per-example mean over its runs minus
    ``second``'s, with :func:`paired_gain`'s counts and interval and a one-sided sign-flip p each way.

    Example:
        >>> h = head_to_head([[1, 1, 0, 0], [1, 0, 0, 0]], [[1, 0, 0, 0]])
        >>> h["difference"], h["examples_ahead"], h["examples_behind"], h["p_first_ahead"] > 0.05
        (0.125, 1, 0, True)
    """
    a = np.asarray(first, dtype=float).mean(axis=0)
    b = np.asarray(second, dtype=float).mean(axis=0)
    g = paired_gain(b, a, seed=seed)
    diffs = (a - b).tolist()
    return {
        "difference": g["gain"],
        "examples_ahead": g["wins"],
        "examples_behind": g["losses"],
        "p_first_ahead": round(sign_flip_p(diffs, seed=seed), 4),
        "p_second_ahead": round(sign_flip_p([-d for d in diffs], seed=seed), 4),
        "ci95": g["ci95"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="compare.py JSON files of one task and test split [:opt,opt]")
    parser.add_argument("--optimizers", default="skillopt", help="comma-separated optimizer rows to pool")
    parser.add_argument(
        "--versus", default=None, metavar="A,B", help="also compare two pooled optimizers head to head (A minus B)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    versus = args.versus.split(",") if args.versus else []
    if args.versus and (len(versus) != 2 or len(set(versus)) != 2):
        parser.error(f"--versus takes two different optimizers, as A,B (got {args.versus!r})")
    try:
        runs = load_runs(args.results)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    baseline = runs[0]["rows"]["none"]["test_hard"]
    out = {"task": runs[0]["task"], "splits": runs[0]["splits"], "rows": {}}
    print(f"{out['task']}: {len(baseline)} test examples, none = {np.mean(baseline):.3f}")
    print("| optimizer | runs (seeds) | gain per run | pooled gain | examples up / down | sign-flip p | 95 % CI |")
    print("|---|---|---|---|---|---|---|")
    for name in args.optimizers.split(","):
        mine = [r for r in runs if name in r["rows"]]
        if not mine:
            print(f"| {name} | 0 | — | — | — | — | — |")
            continue
        g = pooled_gain(baseline, [r["rows"][name]["test_hard"] for r in mine])
        g["seeds"] = [r["seed"] for r in mine]
        out["rows"][name] = g
        per_run = ", ".join(f"{x * 100:+.1f}" for x in g["per_run"])
        lo, hi = g["ci95"]
        print(
            f"| {name} | {g['runs']} ({', '.join(map(str, g['seeds']))}) | {per_run} | {g['gain'] * 100:+.1f} | "
            f"{g['examples_up']} / {g['examples_down']} | {g['p_sign_flip']:.3g} | [{lo * 100:+.1f}, {hi * 100:+.1f}] |"
        )
    if versus:
        first, second = ([r["rows"][name]["test_hard"] for r in runs if name in r["rows"]] for name in versus)
        if not first or not second:
            missing = versus[0] if not first else versus[1]
            print(f"error: --versus: no run holds a {missing!r} row", file=sys.stderr)
            return 2
        h = head_to_head(first, second)
        out["versus"] = {"first": versus[0], "second": versus[1], **h}
        lo, hi = h["ci95"]
        print(
            f"{versus[0]} - {versus[1]}: {h['difference'] * 100:+.1f} points pooled "
            f"({h['examples_ahead']} examples ahead, {h['examples_behind']} behind; "
            f"sign-flip p = {h['p_first_ahead']:.3g} that {versus[0]} is ahead, "
            f"{h['p_second_ahead']:.3g} that {versus[1]} is; 95 % CI [{lo * 100:+.1f}, {hi * 100:+.1f}])"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
