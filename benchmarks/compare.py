"""SkillOpt next to DSPy's optimizers on one task, at the same budget of metric calls.

Every optimizer gets the same program, target LM, reflection/prompt LM, splits, seed and DSPy cache
settings (off), and a budget of ``--budget`` metric calls: SkillOpt takes it as a ceiling (it stops
before a step that could cross it), GEPA as its own ``max_metric_calls`` (checked between iterations);
MIPROv2 (instructions only, 0 demos) and SIMBA are sized to it from their own call formulas. The calls
each one actually made are counted by wrapping the metric, and reported. Each result is scored on the
test split the same way.

The ``reference`` row is the ceiling: the same program with a hand-written skill of the task's rule book
(``data/<task>/reference_skill.md``), so the table shows how much of the reachable gain each
optimizer found. Every gain over ``none`` comes with a paired test on the same test examples: the exact
one-sided sign (McNemar) test on per-example pass/fail and a 95 % paired bootstrap interval of the accuracy
difference.

While it runs it prints a progress line every ``--progress-every`` seconds (optimizer, elapsed time, metric
and LM calls so far) and SkillOpt's step lines, and rewrites the JSON and Markdown after every optimizer,
so an interrupted comparison keeps its finished rows; ``--resume`` skips the optimizers already there.

Run:
    python benchmarks/compare.py --task ticket_routing --budget 300
    python benchmarks/compare.py --config configs/ticket_routing.yaml --lm openai/gpt-4o-mini --budget 600
Writes ``benchmarks/results/compare-<task>.json`` and ``.md`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import dspy
from dspy.utils.callback import BaseCallback

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from skillopt_dspy import SkillOpt  # noqa: E402
from skillopt_dspy.config import load_config  # noqa: E402
from skillopt_dspy.evaluate import evaluate_skill  # noqa: E402
from skillopt_dspy.scoring import normalize_score  # noqa: E402
from skillopt_dspy.significance import paired_gain  # noqa: E402
from skillopt_dspy.skill import apply_skill  # noqa: E402
from skillopt_dspy.workspace import build  # noqa: E402

OPTIMIZERS = ("none", "reference", "skillopt", "gepa", "miprov2", "simba")


class CountingMetric:
    """Wraps the task metric: counts calls (thread-safe) and adapts the return type per optimizer."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.calls = 0
        self._lock = threading.Lock()

    def _count(self) -> None:
        with self._lock:
            self.calls += 1

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> Any:
        self._count()
        return self.metric(example, prediction, trace)

    def as_float(self, example: Any, prediction: Any, trace: Any = None) -> float:
        self._count()
        return normalize_score(self.metric(example, prediction, trace)).soft

    def as_gepa(self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
        self._count()
        score = normalize_score(self.metric(gold, pred, trace))
        return dspy.Prediction(score=score.soft, feedback=score.feedback)


class LMCounter(BaseCallback):
    """LM calls by model name, through DSPy callbacks (every optimizer's threads copy DSPy's settings)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self._lock = threading.Lock()

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict) -> None:
        with self._lock:
            self.calls[getattr(instance, "model", "?")] += 1

    def add_usage(self, lm: str, usage: dict) -> None:  # DSPy's usage-tracker hook
        total = usage.get("total_tokens") or (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
        with self._lock:
            self.tokens[lm] += int(total or 0)

    def __deepcopy__(self, memo: dict) -> LMCounter:  # dspy.Parallel copies trackers per thread: keep one
        return self


def simba_cost(bsize: int, candidates: int, steps: int, n_train: int) -> int:
    """SIMBA's metric calls (dspy 3.4): per step, ``bsize`` x ``candidates`` sampled trajectories and up to
    ``candidates + 1`` programs scored on the batch; at the end up to ``min(steps, candidates) + 1`` programs
    scored on the whole trainset it was given."""
    return steps * bsize * (2 * candidates + 1) + (min(steps, candidates) + 1) * n_train


def simba_plan(budget: int, n_train: int) -> dict[str, int]:
    """The largest SIMBA run that fits ``budget`` metric calls: the most steps at the DSPy-like batch, then a
    smaller batch and fewer candidates, and the trainset cut (never below one batch) only when nothing else
    fits. The plan is recorded with the result."""
    for bsize, candidates in ((16, 4), (8, 4), (8, 2), (4, 2)):
        bsize = min(bsize, n_train)
        for steps in range(8, 0, -1):
            if simba_cost(bsize, candidates, steps, n_train) <= budget:
                return {"bsize": bsize, "num_candidates": candidates, "max_steps": steps, "trainset": n_train}
    bsize, candidates = min(4, n_train), 2
    room = (budget - bsize * (2 * candidates + 1)) // 2
    return {"bsize": bsize, "num_candidates": candidates, "max_steps": 1, "trainset": max(bsize, min(n_train, room))}


def reference_path(ws: Any, given: str | None = None) -> Path:
    """``--reference-skill``, else the bundled task's hand-written skill of its rule book (the ceiling row)."""
    return Path(given) if given else ROOT / "data" / (ws.config.task.name or "-") / "reference_skill.md"


def reference_skill(ws: Any) -> str:
    path = reference_path(ws, getattr(ws, "reference_skill", None))
    if not path.is_file():
        raise FileNotFoundError(f"no reference skill for this task: expected {path} (or pass --reference-skill)")
    return path.read_text(encoding="utf-8")


class Progress:
    """Prints one line every ``every`` seconds while an optimizer runs: elapsed time, metric and LM calls."""

    def __init__(self, name: str, metric: CountingMetric, counter: LMCounter | None, budget: int, every: float) -> None:
        self.name, self.metric, self.counter, self.budget, self.every = name, metric, counter, budget, every
        self.start = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def line(self) -> str:
        elapsed = (time.perf_counter() - self.start) / 60
        if self.counter is None:  # scoring on the test split
            return f"[{self.name}] {elapsed:.1f} min, test examples scored {self.metric.calls}/{self.budget}"
        calls = sum(self.counter.calls.values())
        return f"[{self.name}] {elapsed:.1f} min, metric calls {self.metric.calls}/{self.budget}, LM calls {calls}"

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            print(self.line(), flush=True)

    def __enter__(self) -> Progress:
        if self.every > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def run_optimizer(
    name: str, ws: Any, budget: int, threads: int, seed: int, metric: CountingMetric, log_dir: Path | None = None
) -> tuple[dspy.Module, CountingMetric]:
    """``name`` compiled on ``ws`` within ``budget`` metric calls (SkillOpt's run kept under ``log_dir``)."""
    train, val = ws.splits["train"], ws.splits["valid"]
    program = ws.program.deepcopy()
    if name == "none":
        return program, metric
    if name == "reference":
        return apply_skill(program, reference_skill(ws), ws.config.task.predictors), metric
    if name == "skillopt":
        opt = SkillOpt(
            metric,
            reflection_lm=ws.reflection_lm,
            max_metric_calls=budget,
            epochs=1000,  # the budget decides when to stop
            num_threads=threads,
            seed=seed,
            progress=False,
            log_dir=None if log_dir is None else log_dir / "skillopt",
            **{
                k: v
                for k, v in ws.config.skillopt_kwargs().items()
                if k not in ("epochs", "max_metric_calls", "num_threads", "seed", "progress", "log_dir")
            },
        )
        # restart: the row counts this run's metric calls, so it never continues an older one
        return opt.compile(program, trainset=train, valset=val, restart=True), metric
    if name == "gepa":
        opt = dspy.GEPA(
            metric=metric.as_gepa,
            max_metric_calls=budget,
            reflection_lm=ws.reflection_lm,
            num_threads=threads,
            seed=seed,
        )
        return opt.compile(program, trainset=train, valset=val), metric
    if name == "miprov2":
        minibatch = min(len(val), 20)
        per_trial = minibatch + len(val) / 5  # a minibatch per trial, a full evaluation every 5 trials
        # the default program's full evaluation, a final one, and a spare (measured: about 3.4 beyond trials)
        trials = max(1, math.floor((budget - 3 * len(val)) / per_trial))
        opt = dspy.MIPROv2(
            metric=metric.as_float,
            prompt_model=ws.reflection_lm,
            auto=None,
            num_candidates=max(2, min(8, trials)),
            max_bootstrapped_demos=0,
            max_labeled_demos=0,
            num_threads=threads,
            seed=seed,
            verbose=False,
        )
        compiled = opt.compile(
            program,
            trainset=train,
            valset=val,
            num_trials=trials,
            minibatch_size=minibatch,
            minibatch_full_eval_steps=5,
        )
        return compiled, metric
    if name == "simba":
        plan = simba_plan(budget, len(train))
        opt = dspy.SIMBA(
            metric=metric.as_float,
            bsize=plan["bsize"],
            num_candidates=plan["num_candidates"],
            max_steps=plan["max_steps"],
            num_threads=threads,
            prompt_model=ws.reflection_lm,
        )
        return opt.compile(program, trainset=train[: plan["trainset"]], seed=seed), metric
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


def compare(
    ws: Any,
    optimizers: list[str],
    budget: int,
    threads: int,
    seed: int,
    *,
    done: list[dict] | None = None,
    on_row: Any = None,
    progress_every: float = 60.0,
    log_dir: Path | None = None,
    rescored: tuple[str, ...] = (),
) -> list[dict]:
    """Run each optimizer in turn, score it on the test split, and call ``on_row(rows)`` after each one.

    ``rescored``: optimizers whose kept rows (from ``done``) are scored on the test split again from their
    saved instructions instead of being skipped."""
    rows = list(done or [])
    test = test_split(ws)
    for name in optimizers:
        kept = next((r for r in rows if r["optimizer"] == name), None)
        if kept is not None and name in rescored:
            print(f"[{name}] scoring {len(test)} test examples again from its saved instructions", flush=True)
            rescore(ws, kept, threads, progress_every)
            pair_with_none(rows, seed)
            if on_row is not None:
                on_row(rows)
            continue
        if kept is not None:
            print(f"[{name}] already in the results, skipped (--resume)", flush=True)
            continue
        counter = LMCounter()
        metric = CountingMetric(ws.metric)
        start = time.perf_counter()
        error = None
        print(f"[{name}] starting", flush=True)
        with (
            dspy.context(lm=ws.lm, adapter=ws.adapter, callbacks=[counter], usage_tracker=counter),
            Progress(name, metric, counter, budget, progress_every),
        ):
            try:
                program, metric = run_optimizer(name, ws, budget, threads, seed, metric, log_dir)
            except Exception as exc:
                logging.getLogger(__name__).exception("%s failed", name)
                program, error = None, f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - start
        row: dict[str, Any] = {"optimizer": name, "wall_time_s": round(wall, 1), "error": error}
        if program is not None:
            print(f"[{name}] scoring {len(test)} test examples", flush=True)
            row.update(
                **test_scores(ws, program, threads, name, progress_every),
                metric_calls=metric.calls,
                lm_calls=sum(counter.calls.values()),
                tokens=sum(counter.tokens.values()),
                # what each optimizer produced, to read next to its score
                instructions={n: p.signature.instructions for n, p in program.named_predictors()},
            )
            if name == "none":
                row["gain"] = 0.0
        rows.append(row)
        pair_with_none(rows, seed)
        hidden = ("test_hard", "test_soft_scores", "instructions")
        print(json.dumps({k: v for k, v in row.items() if k not in hidden}), flush=True)
        if on_row is not None:
            on_row(rows)
    return rows


def pair_with_none(rows: list[dict], seed: int = 0) -> None:
    """Every row's gain and paired tests against the ``none`` row now in ``rows`` (in place): a row kept by
    --resume is compared with a rerun baseline, never with the one it was first measured against."""
    base = next((r for r in rows if r["optimizer"] == "none" and not r.get("error")), None)
    for row in rows:
        if row.get("error") or row["optimizer"] == "none":
            continue
        for key in ("gain", "paired_vs_none", "paired_soft_vs_none"):
            row.pop(key, None)
        if base is None:
            continue
        row["gain"] = round(row["test_accuracy"] - base["test_accuracy"], 4)
        if base.get("test_hard") and row.get("test_hard"):
            row["paired_vs_none"] = paired_gain(base["test_hard"], row["test_hard"], seed=seed)
        soft, base_soft = row.get("test_soft_scores"), base.get("test_soft_scores")
        if soft and base_soft and base_soft != base["test_hard"]:  # partial credit: test it too
            row["paired_soft_vs_none"] = paired_gain(base_soft, soft, seed=seed)


def test_split(ws: Any) -> list:
    """The examples every row is scored on: the test split, else the validation split."""
    return ws.splits.get("test") or ws.splits["valid"]


def test_scores(ws: Any, program: Any, threads: int, name: str, progress_every: float) -> dict[str, Any]:
    """A row's test fields: ``program`` as it is, scored on :func:`test_split` with progress lines."""
    scored = CountingMetric(ws.metric)
    test = test_split(ws)
    with Progress(name, scored, None, len(test), progress_every):
        report = evaluate_skill(
            program,
            test,
            skill=None,
            metric=scored,
            lm=ws.lm,
            adapter=ws.adapter,
            num_threads=threads,
            pass_threshold=ws.config.optimizer.pass_threshold,
        )
    return {
        "test_accuracy": round(report["accuracy"], 4),
        "test_hard": report["hard_scores"],
        "test_soft_scores": report["soft_scores"],
        "test_soft": round(report["soft_score"], 4),
    }


def rescore(ws: Any, row: dict, threads: int, progress_every: float = 60.0) -> None:
    """Score a kept row's program again on the test split, from the instructions it saved (in place): for
    per-example scores the row lacks; its previous scores stay under ``rescored``."""
    program = ws.program.deepcopy()
    for name, predictor in program.named_predictors():
        predictor.signature = predictor.signature.with_instructions(row["instructions"][name])
    previous = {k: row.get(k) for k in ("test_accuracy", "test_soft")}
    row.update(
        **test_scores(ws, program, threads, row["optimizer"], progress_every),
        rescored={"on": time.strftime("%Y-%m-%d"), "previous": previous},
    )


def markdown(rows: list[dict], title: str) -> str:
    head = (
        "| optimizer | test accuracy | gain over no skill | sign test p (one-sided) | 95 % CI of the gain "
        "| test soft | metric calls | LM calls | tokens | wall s |"
    )
    lines = [f"### {title}", "", head, "|---|---|---|---|---|---|---|---|---|---|"]
    rows = sorted(rows, key=lambda r: OPTIMIZERS.index(r["optimizer"]))  # a rerun row keeps its place
    for r in rows:
        if r.get("error"):
            error = " ".join(r["error"].split())[:80].replace("|", "/")
            lines.append(f"| {r['optimizer']} | failed: {error} | | | | | | | | {r['wall_time_s']} |")
            continue
        gain = "" if r.get("gain") is None else f"{r['gain'] + 0.0:+.3f}"  # + 0.0: no "-0.000"
        test = r.get("paired_vs_none")
        p = f"{test['p_sign']:.3g} ({test['wins']} won, {test['losses']} lost)" if test else ""
        ci = f"[{test['ci95'][0] + 0.0:+.3f}, {test['ci95'][1] + 0.0:+.3f}]" if test else ""
        lines.append(
            f"| {r['optimizer']} | {r['test_accuracy']:.3f} | {gain} | {p} | {ci} | {r['test_soft']:.3f} | "
            f"{r['metric_calls']} | {r['lm_calls']} | {r['tokens']} | {r['wall_time_s']} |"
        )
    soft = [(r["optimizer"], r["paired_soft_vs_none"]) for r in rows if r.get("paired_soft_vs_none")]
    if soft:
        lines += ["", "Soft score (partial credit) against no skill, same test examples:", ""]
        for name, t in soft:
            lines.append(
                f"- {name}: sign test p = {t['p_sign']:.3g} ({t['wins']} rose, {t['losses']} fell), "
                f"95 % CI of the soft gain [{t['ci95'][0] + 0.0:+.3f}, {t['ci95'][1] + 0.0:+.3f}]"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--task", help="a bundled task name (uses configs/<task>.yaml)")
    where.add_argument("--config", help="any skillopt-dspy config")
    parser.add_argument("--budget", type=int, required=True, help="metric calls per optimizer")
    parser.add_argument("--lm", help="target LM (default: the config's)")
    parser.add_argument("--reflection-lm", help="reflection / prompt LM (default: the target LM)")
    parser.add_argument("--optimizers", help=f"comma-separated, from {', '.join(OPTIMIZERS)} (default: all)")
    parser.add_argument("--reference-skill", help="the ceiling's hand-written skill (default: the bundled task's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cfg-options", nargs="*", default=[])
    parser.add_argument("--out", help="output path without extension (default benchmarks/results/compare-<task>)")
    parser.add_argument("--log-dir", type=Path, help="keep SkillOpt's run (history, skills, evals) under DIR/skillopt")
    parser.add_argument("--resume", action="store_true", help="keep the rows already in --out; run the others")
    parser.add_argument(
        "--rescore",
        help="with --resume: comma-separated optimizers whose kept rows are scored on the test split again "
        "from their saved instructions (for per-example scores an older row lacks)",
    )
    parser.add_argument("--progress-every", type=float, default=60.0, help="seconds between progress lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("dspy", "gepa", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for steps in ("skillopt_dspy.trainer", "skillopt_dspy.stages.step"):  # one line per SkillOpt step
        logging.getLogger(steps).setLevel(logging.INFO)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    config_path = args.config or str(ROOT / "configs" / f"{args.task}.yaml")
    overrides = list(args.cfg_options)
    if args.lm:
        overrides.append(f"model.lm={args.lm}")
    if args.reflection_lm:
        overrides.append(f"model.reflection_lm={args.reflection_lm}")
    ws = build(load_config(config_path, overrides=overrides))
    ws.reference_skill = args.reference_skill
    rescored = tuple(o.strip() for o in (args.rescore or "").split(",") if o.strip())
    if args.optimizers:
        optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    else:  # every optimizer; the ceiling only where a reference skill exists
        optimizers = [o for o in OPTIMIZERS if o != "reference" or reference_path(ws, args.reference_skill).is_file()]
    optimizers += [o for o in rescored if o not in optimizers]
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown:
        parser.error(f"unknown optimizer(s) {unknown}; choose from {', '.join(OPTIMIZERS)}")
    name = args.task or Path(config_path).stem
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"compare-{name}"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "task": name,
        "budget": args.budget,
        "lm": ws.config.model.lm,
        "reflection_lm": ws.config.model.reflection_lm,
        "seed": args.seed,
        "threads": args.threads,
        "command": " ".join(sys.argv),
        "splits": {k: len(v) for k, v in ws.splits.items()},
    }
    title = f"{name}: budget {args.budget} metric calls, LM {ws.config.model.lm}"
    done: list[dict] = []
    # not with_suffix: an --out like compare-1.5b-routing has a dot that is not an extension
    json_path, md_path = Path(f"{out}.json"), Path(f"{out}.md")
    if args.resume and json_path.exists():
        old = json.loads(json_path.read_text())
        same = all(old.get(k) == meta[k] for k in ("task", "budget", "lm", "reflection_lm", "seed", "splits"))
        if not same:
            parser.error(f"--resume: {json_path} was written with other settings; use another --out")
        done = [r for r in old.get("results", []) if not r.get("error")]
        if old.get("superseded"):  # rows replaced by reruns, kept for the record
            meta["superseded"] = old["superseded"]
    if rescored and not args.resume:
        parser.error("--rescore scores rows kept by --resume: add --resume")
    missing = [o for o in rescored if not any(r["optimizer"] == o for r in done)]
    if missing:
        parser.error(f"--rescore: no row of {', '.join(missing)} in {json_path} to score again")

    def write(rows: list[dict]) -> None:
        json_path.write_text(json.dumps({**meta, "results": rows}, indent=2) + "\n")
        md_path.write_text(markdown(rows, title))

    rows = compare(
        ws,
        optimizers,
        args.budget,
        args.threads,
        args.seed,
        done=done,
        on_row=write,
        progress_every=args.progress_every,
        log_dir=args.log_dir,
        rescored=rescored,
    )
    write(rows)
    print(markdown(rows, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
