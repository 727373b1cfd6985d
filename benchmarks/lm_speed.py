"""Where an embedded-LM call spends its time, before and after the speed work (parts of ``local_lm.py``).

Every number comes from llama.cpp's own timings, per call: ``prompt_n`` (prompt tokens computed, i.e. not
found in the prefix cache), ``cache_n`` (reused), ``prompt_ms``, ``predicted_n``, ``predicted_ms`` and, with
speculative decoding, ``draft_n`` / ``draft_n_accepted``. Configurations alternate inside one process, in
blocks, so a machine whose load drifts slows them alike; the first call of a block (the prefix cache moving
between configurations) is left out of the timing means, never out of the scores.

Parts:

- ``rollout``: the ticket-routing program with its reference skill on the valid split, under DSPy's
  ``JSONAdapter`` (before) and :class:`~skillopt_dspy.lm.adapter.PrefixJSONAdapter` (after): per-call
  numbers, and the accuracy of each (the prompt changed, so answers may differ: parity is what counts).
- ``reflection``: reflection calls (``ReflectFailures`` on routing failures), speculative decoding off vs on
  (same adapter): per-call numbers and whether the text is identical (greedy decoding: it must be).
- ``slots``: ``n_parallel`` 1 vs 2 with two callers at once, short (rollout) and long (reflection) answers.
- ``memory``: peak resident memory of a process that loads the model and answers one call, with speculative
  decoding off and with the draft model loaded beside it (each in a fresh subprocess).
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import dspy

TIMING_KEYS = ("prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms", "draft_n", "draft_n_accepted")


def timings(lm: dspy.LM) -> dict[str, float]:
    """llama.cpp's timings of ``lm``'s last call (zeros for what it did not report)."""
    data = getattr(lm.history[-1]["response"], "provider_data", None) or {}
    t = data.get("timings") or {}
    return {k: float(t.get(k) or 0) for k in TIMING_KEYS}


def score_of(result: Any) -> float:
    """A metric's result as a number (a float, a bool, or a ``dspy.Prediction`` with ``score``)."""
    return float(getattr(result, "score", result))


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    """Means of per-call rows (``wall`` and the timing keys)."""
    if not rows:
        return {}
    return {k: statistics.mean(r[k] for r in rows) for k in rows[0]}


def table(title: str, results: dict[str, list[dict[str, float]]]) -> None:
    """A Markdown table of per-call means by configuration, and each one's time relative to the first."""
    print(f"\n{title}")
    columns = "calls | uncached prompt tok | cached tok | prompt s | gen tok | gen s | drafted/accepted | s/call"
    print(f"| config | {columns} |")
    print("|---|---|---|---|---|---|---|---|---|")
    first = None
    for name, rows in results.items():
        m = summary(rows)
        if not m:
            continue
        first = first or m
        drafts = f"{m['draft_n']:.0f}/{m['draft_n_accepted']:.0f}" if m["draft_n"] else "-"
        print(
            f"| {name} | {len(rows)} | {m['prompt_n']:.1f} | {m['cache_n']:.0f} | {m['prompt_ms'] / 1000:.2f} | "
            f"{m['predicted_n']:.1f} | {m['predicted_ms'] / 1000:.2f} | {drafts} | {m['wall']:.2f} |"
        )
    names = list(results)
    if len(names) > 1 and first:
        for name in names[1:]:
            m = summary(results[name])
            if m:
                print(
                    f"{names[0]} / {name}: {first['wall'] / m['wall']:.2f}x per call, "
                    f"prompt {first['prompt_ms'] / max(m['prompt_ms'], 1e-9):.2f}x, "
                    f"generation {first['predicted_ms'] / max(m['predicted_ms'], 1e-9):.2f}x"
                )


def alternate(
    configs: dict[str, Callable[[Any], tuple[Any, dict[str, float]]]],
    items: list[Any],
    block: int,
    *,
    drop_first: bool = True,
) -> tuple[dict[str, list[dict[str, float]]], dict[str, list[Any]]]:
    """Run every config on every item, configs alternating in blocks of ``block`` items (order flipped each
    block). Returns per-call timing rows (with ``drop_first``, a block's first call is left out: configs that
    share one model move its prefix cache there) and every output, in item order."""
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    outputs: dict[str, list[Any]] = {name: [None] * len(items) for name in configs}
    names = list(configs)
    for b, start in enumerate(range(0, len(items), block)):
        for name in names if b % 2 == 0 else names[::-1]:
            for i in range(start, min(start + block, len(items))):
                out, row = configs[name](items[i])
                outputs[name][i] = out
                if i > start or not drop_first:
                    rows[name].append(row)
        done = min(start + block, len(items))
        print(f"  ... {done}/{len(items)} items under every config", file=sys.stderr, flush=True)
    return rows, outputs


def bench_rollout(model: str, n: int, block: int, task_fn: Callable, **engine_kwargs: Any) -> None:
    """Rollout calls under JSONAdapter vs PrefixJSONAdapter: per-call numbers and accuracy on ``valid``."""
    from skillopt_dspy.lm import local_lm
    from skillopt_dspy.lm.adapter import PrefixJSONAdapter
    from skillopt_dspy.skill import apply_skill

    program, metric, examples, skill = task_fn("ticket_routing", "valid", n)
    skilled = apply_skill(program, skill)
    lm = local_lm(model, cache=False, **engine_kwargs)

    def runner(adapter: dspy.Adapter) -> Callable[[dspy.Example], tuple[Any, dict[str, float]]]:
        def run(ex: dspy.Example) -> tuple[Any, dict[str, float]]:
            start = time.perf_counter()
            try:
                with dspy.context(lm=lm, adapter=adapter):
                    out = skilled(**ex.inputs())
            except Exception:  # a parse failure scores 0; it is counted, not fatal
                out = None
            row = {"wall": time.perf_counter() - start, **timings(lm)}
            return out, row

        return run

    configs = {
        "JSONAdapter (before)": runner(dspy.JSONAdapter()),
        "PrefixJSONAdapter (after)": runner(PrefixJSONAdapter()),
    }
    rows, outputs = alternate(configs, examples, block)
    table(f"## Rollout calls: ticket_routing + reference skill, {n} valid examples, {model}", rows)
    for name, outs in outputs.items():
        scores = [0.0 if o is None else score_of(metric(ex, o)) for ex, o in zip(examples, outs)]
        failed = sum(o is None for o in outs)
        print(f"accuracy {name}: {sum(scores):.0f}/{len(scores)} ({statistics.mean(scores):.3f}), no answer {failed}")
    a, b = outputs.values()
    same = sum(getattr(x, "queue", None) == getattr(y, "queue", None) for x, y in zip(a, b))
    print(f"same answer under both adapters: {same}/{len(examples)}")


def reflection_configs(model: str, names: list[str], max_tokens: int) -> dict[str, tuple[dspy.LM, dspy.Adapter]]:
    """``adapter/speculative`` names (``json/off``, ``prefix/ngram``, ...) -> an LM and an adapter each.

    Each speculative setting is its own backend (llama.cpp fixes it when the server starts); they share the
    memory-mapped weights, and each keeps its own prefix cache, so alternating them disturbs no cache.
    """
    from skillopt_dspy.lm import local_lm
    from skillopt_dspy.lm.adapter import PrefixJSONAdapter

    adapters = {"json": dspy.JSONAdapter, "prefix": PrefixJSONAdapter}
    configs = {}
    for name in names:
        adapter, speculative = name.split("/")
        lm = local_lm(model, cache=False, max_tokens=max_tokens, speculative=speculative)
        configs[name] = (lm, adapters[adapter]())
    return configs


def bench_reflection(model: str, n: int, names: list[str], max_tokens: int, inputs_fn: Callable) -> None:
    """Reflection calls (``ReflectFailures``) under each config: per-call numbers, identical text to the first
    config with the same adapter and speculative decoding off."""
    from skillopt_dspy.signatures import ReflectFailures

    configs = reflection_configs(model, names, max_tokens)
    warmup, *prompts = inputs_fn(ReflectFailures, n + 1)

    def runner(lm: dspy.LM, adapter: dspy.Adapter) -> Callable[[dict], tuple[Any, dict[str, float]]]:
        def run(inputs: dict) -> tuple[Any, dict[str, float]]:
            start = time.perf_counter()
            # The text is compared below; a parse failure is not what is measured here.
            with dspy.context(lm=lm, adapter=adapter), contextlib.suppress(Exception):
                dspy.Predict(ReflectFailures)(**inputs)
            row = {"wall": time.perf_counter() - start, **timings(lm)}
            return lm.history[-1]["outputs"][0], row

        return run

    runners = {k: runner(*v) for k, v in configs.items()}
    for lm, adapter in configs.values():  # each config's own server: its prefix cache gets the system prompt
        with dspy.context(lm=lm, adapter=adapter), contextlib.suppress(Exception):
            dspy.Predict(ReflectFailures)(**warmup, config={"max_tokens": 1})
    rows, outputs = alternate(runners, prompts, block=1, drop_first=False)
    table(f"## Reflection calls: ReflectFailures on 2 routing failures each, {n} prompts, {model}", rows)
    for name in names:
        adapter, speculative = name.split("/")
        reference = f"{adapter}/off"
        if speculative != "off" and reference in outputs:
            same = sum(a == b for a, b in zip(outputs[name], outputs[reference]))
            print(f"identical text {name} vs {reference}: {same}/{len(prompts)}")


def bench_slots(model: str, n: int, rounds: int, task_fn: Callable, inputs_fn: Callable, max_tokens: int) -> None:
    """Throughput of one slot vs two (continuous batching), with two callers at once, short and long answers."""
    from concurrent.futures import ThreadPoolExecutor

    from skillopt_dspy.lm import local_lm
    from skillopt_dspy.lm.adapter import PrefixJSONAdapter
    from skillopt_dspy.signatures import ReflectFailures
    from skillopt_dspy.skill import apply_skill

    program, _, examples, skill = task_fn("ticket_routing", "valid", n)
    skilled = apply_skill(program, skill)
    reflections = inputs_fn(ReflectFailures, 2)
    lms = {slots: local_lm(model, cache=False, max_tokens=max_tokens, n_parallel=slots) for slots in (1, 2)}
    adapter = PrefixJSONAdapter()

    def rollout(lm: dspy.LM, ex: dspy.Example) -> Any:
        with dspy.context(lm=lm, adapter=adapter):
            return getattr(skilled(**ex.inputs()), "queue", None)

    def reflect(lm: dspy.LM, inputs: dict) -> Any:
        with dspy.context(lm=lm, adapter=adapter), contextlib.suppress(Exception):
            dspy.Predict(ReflectFailures)(**inputs)
        return lm.history[-1]["outputs"][0]

    for lm in lms.values():  # fill each server's prefix cache
        rollout(lm, examples[0])
    print(f"\n## Concurrent slots: two callers at once, {model}; seconds for the whole batch (lower is better)")
    print("| answers | calls | 1 slot (serialized) | 2 slots (batched) | 1 slot / 2 slots | same answers |")
    print("|---|---|---|---|---|---|")
    for label, fn, items in (("short (rollouts)", rollout, examples), ("long (reflection)", reflect, reflections)):
        seconds = {1: 0.0, 2: 0.0}
        answers: dict[int, list[Any]] = {}
        for r in range(rounds):
            for slots in (1, 2) if r % 2 == 0 else (2, 1):
                start = time.perf_counter()
                with ThreadPoolExecutor(2) as pool:
                    answers[slots] = list(pool.map(functools.partial(fn, lms[slots]), items))
                seconds[slots] += time.perf_counter() - start
        same = sum(a == b for a, b in zip(answers[1], answers[2]))
        print(
            f"| {label} | {len(items)} x {rounds} | {seconds[1]:.1f} | {seconds[2]:.1f} | "
            f"{seconds[1] / seconds[2]:.2f}x | {same}/{len(items)} |"
        )


# One process: load the model with the given speculative setting, answer one call, print the peak RSS in MB.
MEMORY_PROBE = """
import resource, sys
from skillopt_dspy.lm import local_lm
lm = local_lm(sys.argv[1], cache=False, speculative=sys.argv[2], max_tokens=64)
lm(messages=[{"role": "user", "content": "Count from 1 to 20."}])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def bench_memory(model: str) -> None:
    """Peak RSS of one process per setting: the model alone, and the model with its draft model loaded."""
    import subprocess

    print(f"\n## Peak resident memory, {model} (one process per row: load, one call)")
    print("| speculative | peak RSS MB |")
    print("|---|---|")
    for setting in ("off", "draft"):
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, model, setting], capture_output=True, text=True)
        if out.returncode:  # e.g. a model without a draft model: say so, keep the other row
            reason = (out.stderr.strip().splitlines() or ["failed"])[-1]
            print(f"| {setting} | not measured: {reason} |", flush=True)
        else:
            print(f"| {setting} | {float(out.stdout.strip().splitlines()[-1]):.0f} |", flush=True)
