"""Benchmark of the embedded local LM: prefix reuse, constrained JSON, and DSPy adapters on the bundled tasks.

Prints ratios measured in one run (not a timed test; the numbers move with the machine's load):

1. ``prefix``: one batch of rollouts of the ticket-routing program with a fixed skill, the KV cache of the
   shared prefix (instructions + skill) reused (warm) or recomputed for every call (cold); plus two skill
   versions interleaved, which llama.cpp's host-memory prompt cache keeps both warm.
2. ``json``: how often a reflection signature's structured output (a list of pydantic edits) is valid JSON
   and parses, with and without schema-constrained decoding; the prompt is the same in both.
3. ``adapters``: accuracy, parse failures and seconds per example of ChatAdapter, JSONAdapter (constrained)
   and XMLAdapter on the bundled tasks in ``data/``, with no skill and with the task's reference skill.

Usage:
    python benchmarks/local_lm.py                                  # all parts, qwen2.5-coder-0.5b
    python benchmarks/local_lm.py --parts prefix json --model qwen2.5-coder-1.5b --n 8
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Literal

import dspy
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import lm_speed  # noqa: E402
from skillopt_dspy.data import load_split_dir  # noqa: E402
from skillopt_dspy.lm import LocalEngine, local_lm  # noqa: E402
from skillopt_dspy.scoring import normalize_score  # noqa: E402
from skillopt_dspy.skill import apply_skill  # noqa: E402
from skillopt_dspy.stages.evidence import failure_evidence  # noqa: E402
from skillopt_dspy.stages.rollout import Trajectory  # noqa: E402
from skillopt_dspy.task import describe_task  # noqa: E402

logger = logging.getLogger("benchmarks.local_lm")


class Unconstrained(LocalEngine):
    """The same engine with schema-constrained decoding switched off (the prompt is unchanged)."""

    def payload(self, request: Any) -> dict[str, Any]:
        payload = super().payload(request)
        payload.pop("response_format", None)
        return payload


def task(name: str, split: str, n: int) -> tuple[dspy.Module, Any, list[dspy.Example], str]:
    """A bundled task: its program, metric, ``n`` examples of ``split`` and its reference skill."""
    module = importlib.import_module(f"programs.{name}")
    program_cls = next(
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, dspy.Module) and v.__module__ == module.__name__
    )
    metric = importlib.import_module(f"metrics.{name}").metric
    examples = load_split_dir(ROOT / "data" / name, fields=module.FIELDS)[split][:n]
    skill = (ROOT / "data" / name / "reference_skill.md").read_text()
    return program_cls(), metric, examples, skill


def run_batch(program: dspy.Module, examples: list[dspy.Example], lm: dspy.LM, adapter: dspy.Adapter) -> dict:
    """Run ``program`` on each example in turn; count exceptions rather than stop."""
    outputs, errors, calls_before = [], 0, len(lm.history)
    start = time.perf_counter()
    with dspy.context(lm=lm, adapter=adapter):
        for ex in examples:
            try:
                outputs.append(program(**ex.inputs()))
            except Exception as exc:  # a parse failure is a result to count here, not a crash
                logger.debug("example failed: %s", exc)
                outputs.append(None)
                errors += 1
    wall = time.perf_counter() - start
    return {"outputs": outputs, "errors": errors, "wall": wall, "calls": len(lm.history) - calls_before}


def timed_call(program: dspy.Module, example: dspy.Example, lm: dspy.LM, adapter: dspy.Adapter) -> tuple[float, Any]:
    """Seconds for one call of ``program`` and its output (``None`` when it raised)."""
    start = time.perf_counter()
    with dspy.context(lm=lm, adapter=adapter):
        try:
            out = program(**example.inputs())
        except Exception as exc:  # counted as no answer; timing is what is measured here
            logger.debug("example failed: %s", exc)
            out = None
    return time.perf_counter() - start, out


def bench_prefix(model: str, n: int, rounds: int = 2) -> None:
    program, _, examples, skill = task("ticket_routing", "valid", n)
    skilled = apply_skill(program, skill)
    other = apply_skill(program, skill + "\n- Tickets written in all capitals are routed by the same rules.")
    warm = local_lm(model, cache=False)
    cold = local_lm(model, cache=False, cache_prompt=False)  # same loaded model, prefix recomputed every call
    adapter = dspy.JSONAdapter()
    timed_call(skilled, examples[0], warm, adapter)  # page the weights in

    # Warm and cold calls alternate example by example (order flipped each time), so a machine whose load
    # drifts slows both alike. A cold call leaves the same prefix in the KV cache, so the warm call after it
    # still reuses it, as consecutive rollouts do.
    total = {"warm": 0.0, "cold": 0.0}
    ratios, same = [], 0
    for r in range(rounds):
        for i, ex in enumerate(examples):
            seconds, outs = {}, {}
            for mode in ("warm", "cold") if (i + r) % 2 == 0 else ("cold", "warm"):
                seconds[mode], outs[mode] = timed_call(skilled, ex, warm if mode == "warm" else cold, adapter)
                total[mode] += seconds[mode]
            ratios.append(seconds["cold"] / seconds["warm"])
            same += getattr(outs["warm"], "queue", None) == getattr(outs["cold"], "queue", None)
    calls = rounds * n
    prompt_tokens = statistics.mean(h["usage"]["prompt_tokens"] for h in warm.history[-n:])

    interleaved = 0.0  # two skill versions alternating call by call: each call switches prefix
    for i, ex in enumerate(examples):
        interleaved += timed_call(skilled if i % 2 else other, ex, warm, adapter)[0]

    w, c, x = total["warm"] / calls, total["cold"] / calls, interleaved / n
    print(f"\n## Prefix reuse: ticket_routing + its reference skill, {n} examples x {rounds} rounds, JSONAdapter")
    print(f"prompt: {prompt_tokens:.0f} tokens per call")
    print(f"warm (prefix reused)          {w:5.2f} s/call")
    print(f"cold (prefix recomputed)      {c:5.2f} s/call")
    print(f"two skills interleaved (warm) {x:5.2f} s/call")
    print(f"speed-up warm vs cold: {c / w:.2f}x (median of per-example ratios {statistics.median(ratios):.2f}x)")
    print(f"speed-up interleaved vs cold: {c / x:.2f}x")
    print(f"same answer warm and cold: {same}/{calls}")


class Edit(BaseModel):
    op: Literal["add", "insert_after", "replace", "delete"]
    target: str
    content: str
    rationale: str


class Reflect(dspy.Signature):
    """Propose edits to the skill (Markdown rules) that fix the failures below."""

    skill: str = dspy.InputField()
    failures: str = dspy.InputField()
    edits: list[Edit] = dspy.OutputField()


def reflection_signatures() -> list[tuple[type[dspy.Signature], str]]:
    """The lead's ``ReflectFailures`` (when it exists) and a bare signature with the same output shape."""
    found = [(Reflect, "a bare Reflect signature (list[Edit], no guide)")]
    try:
        from skillopt_dspy.signatures import ReflectFailures
    except ImportError:
        return found
    return [(ReflectFailures, "skillopt_dspy.signatures.ReflectFailures"), *found]


def reflection_inputs(signature: type[dspy.Signature], n: int) -> list[dict[str, Any]]:
    """``n`` reflection prompts, each with two routing failures taken from the training split."""
    program, metric, examples, _ = task("ticket_routing", "train", 2 * n)
    skill = "## Routing rules\n- Route by topic: charges -> billing, parcels -> shipping, bugs -> technical."
    rows = []
    for i in range(n):
        failures = []
        for ex in examples[2 * i : 2 * i + 2]:
            wrong = "general" if ex.queue != "general" else "billing"
            score = normalize_score(metric(ex, dspy.Prediction(queue=wrong)))
            failures.append(Trajectory(ex, dspy.Prediction(queue=wrong), score))
        texts = {"skill": skill, "task": describe_task(program), "evidence": failure_evidence(failures, [], 20_000)}
        rows.append(
            {
                name: 2 if field.annotation is int else texts.get(name, "(none)")
                for name, field in signature.input_fields.items()
            }
        )
    return rows


def strict_json(text: str) -> bool:
    try:
        json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return False
    return True


def unfenced(text: str) -> str:
    """``text`` without a surrounding Markdown code fence (```json ... ```)."""
    text = text.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text[: text.rfind("```")]
    return text


def bench_json(model: str, n: int, max_tokens: int) -> None:
    constrained = local_lm(model, cache=False, max_tokens=max_tokens)
    free = dspy.LM("local/free", engine=Unconstrained(model, max_tokens=max_tokens), cache=False)
    for signature, label in reflection_signatures():
        rows = reflection_inputs(signature, n)
        print(f"\n## Structured output of {label}: {n} reflection prompts, JSONAdapter, max_tokens={max_tokens}")
        print("| decoding | valid JSON | JSON in a code fence | parsed by DSPy | hit max_tokens | edits | s/answer |")
        print("|---|---|---|---|---|---|---|")
        for name, lm in (("schema-constrained", constrained), ("free (no schema)", free)):
            valid = fenced = parsed = truncated = edits = 0
            start = time.perf_counter()
            for inputs in rows:
                before = len(lm.history)
                try:
                    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
                        out = dspy.Predict(signature)(**inputs)
                    parsed += 1
                    edits += len(out.edits)
                except Exception as exc:  # counted: that is what is measured
                    logger.debug("reflection failed: %s", exc)
                for entry in lm.history[before:]:
                    text = entry["outputs"][0] if entry.get("outputs") else ""
                    text = text if isinstance(text, str) else str(text.get("text", ""))
                    valid += strict_json(text)
                    fenced += not strict_json(text) and strict_json(unfenced(text))
                    truncated += getattr(entry.get("response"), "finish_reason", None) == "length"
            wall = time.perf_counter() - start
            print(
                f"| {name} | {valid}/{n} | {fenced}/{n} | {parsed}/{n} | {truncated}/{n} | "
                f"{edits / max(parsed, 1):.1f} | {wall / n:.1f} |"
            )


ADAPTERS = {
    "ChatAdapter": dspy.ChatAdapter,
    "JSONAdapter (constrained)": dspy.JSONAdapter,
    "XMLAdapter": dspy.XMLAdapter,
}


def bench_adapters(model: str, n: int, tasks: list[str], skills: list[str]) -> None:
    lm = local_lm(model, cache=False)
    print(f"\n## Adapters on the bundled tasks: {n} test examples each, {model}")
    print("parse fails = answers the adapter could not parse in its own format (ChatAdapter and XMLAdapter then")
    print("retry with JSONAdapter: that fallback is counted in calls/example); errors = examples with no answer")
    print("| task | skill | adapter | score | parse fails | errors | calls/example | s/example |")
    print("|---|---|---|---|---|---|---|---|")
    for name in tasks:
        program, metric, examples, reference = task(name, "test", n)
        for skill_name, skill in [(s, reference if s == "reference" else "") for s in skills]:
            candidate = apply_skill(program, skill)
            for adapter_name, adapter_cls in ADAPTERS.items():
                result = run_batch(candidate, examples, lm, adapter_cls())
                scores = []
                for ex, out in zip(examples, result["outputs"]):
                    score = 0.0 if out is None else metric(ex, out)
                    scores.append(float(getattr(score, "score", score)))
                fallbacks = result["calls"] - len(examples)
                parse_fails = fallbacks if adapter_cls is not dspy.JSONAdapter else result["errors"]
                print(
                    f"| {name} | {skill_name} | {adapter_name} | {statistics.mean(scores):.2f} | "
                    f"{parse_fails}/{len(examples)} | {result['errors']}/{len(examples)} | "
                    f"{result['calls'] / len(examples):.2f} | {result['wall'] / len(examples):.2f} |"
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["prefix", "json", "adapters"],
        choices=["prefix", "json", "adapters", "rollout", "reflection", "slots", "memory"],
        help="rollout, reflection, slots, memory: the speed parts (benchmarks/lm_speed.py); not run by default",
    )
    parser.add_argument("--block", type=int, default=5, help="calls per block when configurations alternate")
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["json/off", "prefix/off", "prefix/ngram", "prefix/draft"],
        help="reflection part: adapter/speculative pairs (adapter json|prefix, speculative off|ngram|draft|auto)",
    )
    parser.add_argument("--n", type=int, default=16, help="examples per batch (prefix) or per cell (adapters)")
    parser.add_argument("--json-n", type=int, default=8, help="reflection prompts for the JSON part")
    parser.add_argument("--json-max-tokens", type=int, default=1024)
    parser.add_argument("--tasks", nargs="+", default=sorted(p.name for p in (ROOT / "data").iterdir() if p.is_dir()))
    parser.add_argument("--skills", nargs="+", choices=["none", "reference"], default=["none", "reference"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)

    start = time.perf_counter()
    lm = local_lm(args.model, cache=False)
    print(f"# Embedded LM benchmark: {args.model}, {lm.engine.backend.__class__.__name__}")
    print(f"model ready in {time.perf_counter() - start:.1f} s (assembly check + load)")
    out = lm.engine.backend.chat(
        {"messages": [{"role": "user", "content": "Count from 1 to 60, separated by spaces."}], "max_tokens": 128}
    )
    timings = out.get("timings") or {}
    print(f"generation: {timings.get('predicted_per_second', float('nan')):.1f} tokens/s")
    if "prefix" in args.parts:
        bench_prefix(args.model, args.n)
    if "json" in args.parts:
        bench_json(args.model, args.json_n, args.json_max_tokens)
    if "adapters" in args.parts:
        bench_adapters(args.model, args.n, args.tasks, args.skills)
    if "reflection" in args.parts:
        lm_speed.bench_reflection(args.model, args.json_n, args.configs, args.json_max_tokens, reflection_inputs)
    if "rollout" in args.parts:
        lm_speed.bench_rollout(args.model, args.n, args.block, task)
    if "slots" in args.parts:
        lm_speed.bench_slots(args.model, args.n, 2, task, reflection_inputs, args.json_max_tokens)
    if "memory" in args.parts:
        lm_speed.bench_memory(args.model)


if __name__ == "__main__":
    main()
