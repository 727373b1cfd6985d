"""How much time SkillOpt spends outside LM calls, and how well it uses threads.

A scripted LM sleeps ``--latency`` seconds per call (50 ms by default), so wall time is LM time plus
everything else (DSPy's adapters, our stages, bookkeeping). Printed as ratios measured in this one run:

- SkillOpt's own overhead: (wall − time inside DSPy module calls) / wall, for a whole ``compile`` on one
  thread (goal ≤ 2 %): our stages, gate, bookkeeping and checkpointing;
- the same including DSPy's adapter work: (wall − time inside the LM engine) / wall, for reference;
- parallel efficiency at N threads: T(1 thread) / (N · T(N threads)) for a rollout of a batch (goal ≥ 0.85),
  and the whole-compile speed-up at N threads for reference (reflection waits on rollouts, so a step is
  never fully parallel).

Run: ``python benchmarks/overhead.py [--latency 0.05] [--threads 8]``
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
import time

import dspy
from dspy.utils.callback import BaseCallback

from skillopt_dspy import SkillOpt
from skillopt_dspy.budget import Usage
from skillopt_dspy.parallel import Runner
from skillopt_dspy.stages.rollout import rollout
from skillopt_dspy.testing import Call, engine_of, fake_lm

RULE = re.compile(r'"(\w)" means (\w+)')
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def label(word: str) -> str:
    return "vowel" if word[0] in "aeiou" else "consonant"


def target(call: Call) -> dict:
    rules = dict(RULE.findall(call.skill))
    return {"label": rules.get(call.inputs.get("word", "")[:1], "unknown")}


def reflector(call: Call) -> dict:
    if "proposals" in call.inputs:
        n = len(re.findall(r"^\[\d+\]", call.inputs["proposals"], re.M))
        items = re.findall(r"content='(.*?)'", call.inputs["proposals"])
        return {
            "edits": [
                {"op": "add", "target": "Rules", "content": c, "merged_from": [i + 1]} for i, c in enumerate(items[:n])
            ]
        }
    words = re.findall(r"word: (\w+)", call.inputs.get("trajectories", ""))
    return {
        "failure_summary": "missing rules",
        "edits": [{"op": "add", "target": "Rules", "content": f'- "{w[0]}" means {label(w)}'} for w in words[:4]],
    }


def metric(example, prediction, trace=None):
    return float(prediction.label == example.label)


class Classify(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.predict = dspy.Predict("word -> label")

    def forward(self, word: str):
        return self.predict(word=word)


def examples(n: int, offset: int) -> list[dspy.Example]:
    words = [LETTERS[(i + offset) % 26] + "x" * (1 + (i + offset) // 26) for i in range(n)]
    return [dspy.Example(word=w, label=label(w)).with_inputs("word") for w in words]


class ModuleTimer(BaseCallback):
    """Adds up wall time inside outermost DSPy module calls (single-threaded use)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._local = threading.local()

    def on_module_start(self, call_id, instance, inputs) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.start = time.perf_counter()
        self._local.depth = depth + 1

    def on_module_end(self, call_id, outputs, exception=None) -> None:
        self._local.depth -= 1
        if self._local.depth == 0:
            self.total += time.perf_counter() - self._local.start


def timed_compile(threads: int, latency: float) -> tuple[float, float, float, int]:
    target_lm, reflect_lm = fake_lm(target, latency), fake_lm(reflector, latency)
    timer = ModuleTimer()
    opt = SkillOpt(
        metric=metric,
        reflection_lm=reflect_lm,
        batch_size=16,
        epochs=1,
        learning_rate=4,
        num_threads=threads,
        progress=False,
        use_slow_update=False,
        use_meta_skill=False,
    )
    start = time.perf_counter()
    with dspy.context(lm=target_lm, callbacks=[timer]):
        opt.compile(Classify(), trainset=examples(48, 0), valset=examples(24, 7))
    wall = time.perf_counter() - start
    busy = engine_of(target_lm).busy_s + engine_of(reflect_lm).busy_s
    return wall, busy, timer.total, len(engine_of(target_lm).calls) + len(engine_of(reflect_lm).calls)


def timed_rollout(threads: int, latency: float, n: int = 64) -> float:
    lm = fake_lm(target, latency)
    batch = examples(n, 3)
    with Runner(threads, Usage()) as runner:
        start = time.perf_counter()
        rollout(Classify(), batch, metric=metric, runner=runner, lm=lm)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)

    wall1, busy1, in_modules, calls = timed_compile(1, args.latency)
    walln, _, _, _ = timed_compile(args.threads, args.latency)
    r1 = timed_rollout(1, args.latency)
    rn = timed_rollout(args.threads, args.latency)
    result = {
        "latency_s": args.latency,
        "threads": args.threads,
        "compile_lm_calls": calls,
        "compile_wall_1_thread_s": round(wall1, 3),
        "skillopt_overhead_share": round((wall1 - in_modules) / wall1, 4),
        "skillopt_plus_dspy_overhead_share": round((wall1 - busy1) / wall1, 4),
        "rollout_parallel_efficiency": round(r1 / (args.threads * rn), 3),
        "compile_speedup": round(wall1 / walln, 2),
    }
    print(json.dumps(result, indent=2))
    print(
        f"SkillOpt overhead: {result['skillopt_overhead_share']:.2%} of wall time (goal <= 2%); "
        f"with DSPy's adapters: {result['skillopt_plus_dspy_overhead_share']:.1%} | "
        f"rollout parallel efficiency at {args.threads} threads: {result['rollout_parallel_efficiency']:.2f} "
        f"(goal >= 0.85) | whole compile speed-up: {result['compile_speedup']:.1f}x"
    )


if __name__ == "__main__":
    main()
