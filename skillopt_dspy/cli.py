"""The ``skillopt-dspy`` command: ``train`` a skill from a YAML config, ``eval`` a skill on a split.

Examples:
    skillopt-dspy train --config configs/quickstart.yaml
    skillopt-dspy train --config configs/ticket_routing.yaml --lm openai/gpt-4o-mini --cfg-options train.epochs=3
    skillopt-dspy eval --config configs/ticket_routing.yaml --skill runs/ticket_routing/best_skill.md --split test
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import dspy

from skillopt_dspy.config import Config, ConfigError, load_config
from skillopt_dspy.data import DataError
from skillopt_dspy.evaluate import evaluate_skill
from skillopt_dspy.optimizer import SkillOpt
from skillopt_dspy.state import IncompatibleRunError, atomic_write_text
from skillopt_dspy.workspace import Workspace, build

logger = logging.getLogger("skillopt_dspy")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config (see configs/ and docs/config.md)")
    parser.add_argument("--lm", help="target LM: local/<model>, a dspy.LM model string, or module:factory")
    parser.add_argument("--split-dir", help="directory with train.jsonl, valid.jsonl, test.jsonl")
    parser.add_argument(
        "--cfg-options", nargs="+", default=[], metavar="KEY=VALUE", help="dotted overrides, e.g. train.epochs=3"
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skillopt-dspy",
        description="Train a Markdown skill for a DSPy program (SkillOpt), or evaluate one.",
        epilog="Run 'skillopt-dspy COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="train a skill; writes a run directory", description="Train a skill.")
    _common(train)
    train.add_argument("--reflection-lm", help="optimizer LM (default: the target LM)")
    train.add_argument("--log-dir", help="run directory (checkpoint; an existing run resumes)")
    train.add_argument("--restart", action="store_true", help="ignore a saved run in the log dir and start over")
    ev = sub.add_parser("eval", help="score a skill (or none) on a split", description="Evaluate a skill.")
    _common(ev)
    ev.add_argument("--skill", help="skill.md to evaluate (default: no skill, the baseline)")
    ev.add_argument("--split", default="test", help="train, valid or test (default: test)")
    ev.add_argument("--out", help="also write the report as JSON here")
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides = list(args.cfg_options)
    if args.lm:
        overrides.append(f"model.lm={args.lm}")
    if getattr(args, "reflection_lm", None):
        overrides.append(f"model.reflection_lm={args.reflection_lm}")
    if args.split_dir:
        overrides.append(f"data.split_dir={args.split_dir}")
    if getattr(args, "log_dir", None):
        overrides.append(f"run.log_dir={args.log_dir}")
    return load_config(args.config, overrides=overrides)


def _evaluate(ws: Workspace, split: str, skill: str) -> dict[str, Any]:
    if split not in ws.splits:
        raise ConfigError(f"--split {split!r}: the data has only {', '.join(ws.splits)}")
    return evaluate_skill(
        ws.program,
        ws.splits[split],
        skill=skill,
        metric=ws.metric,
        lm=ws.lm,
        adapter=ws.adapter,
        num_threads=ws.config.train.num_threads,
        pass_threshold=ws.config.optimizer.pass_threshold,
        predictors=ws.config.task.predictors,
    )


def train(args: argparse.Namespace) -> int:
    config = _config(args)
    ws = build(config)
    log_dir = Path(config.run.log_dir or Path("runs") / Path(args.config).stem)
    log_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(log_dir / "config.yaml", config.dump_yaml())
    started = time.perf_counter()
    optimizer = SkillOpt(ws.metric, reflection_lm=ws.reflection_lm, log_dir=log_dir, **config.skillopt_kwargs())
    with dspy.context(lm=ws.lm, adapter=ws.adapter):
        compiled = optimizer.compile(
            ws.program, trainset=ws.splits["train"], valset=ws.splits["valid"], restart=args.restart
        )
    result = compiled.detailed_results
    summary = json.loads((log_dir / "summary.json").read_text())
    interrupted = result.stop_reason.startswith("interrupted")
    if config.run.eval_test and "test" in ws.splits and not interrupted:
        logger.info("scoring the test split without and with the skill")
        summary["test"] = {
            "without_skill": _evaluate(ws, "test", result.initial_skill),
            "with_skill": _evaluate(ws, "test", result.best_skill),
        }
    summary["total_wall_time_s"] = time.perf_counter() - started
    summary["config"] = config.model_dump(mode="json")
    atomic_write_text(log_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    print(_summary_text(summary, log_dir))
    return 130 if interrupted else 0


def _summary_text(summary: dict[str, Any], log_dir: Path) -> str:
    lines = [
        f"validation: {summary['baseline_val_score']:.3f} -> {summary['best_val_score']:.3f} "
        f"({summary['gate']} gate, {sum(1 for _ in summary.get('epochs', []))} epochs, stop: {summary['stop_reason']})",
    ]
    if "test" in summary:
        before, after = summary["test"]["without_skill"], summary["test"]["with_skill"]
        lines.append(
            f"test accuracy: {before['accuracy']:.3f} without the skill -> {after['accuracy']:.3f} with it "
            f"(soft {before['soft_score']:.3f} -> {after['soft_score']:.3f}, {after['examples']} examples)"
        )
    calls = ", ".join(f"{k} {v}" for k, v in summary["lm_calls"].items())
    tokens = ", ".join(f"{k} {v}" for k, v in summary["tokens"].items())
    lines.append(f"LM calls: {calls or 0} | tokens: {tokens or 0} | faults: {summary['faults'] or 'none'}")
    lines.append(f"wall time: {summary['total_wall_time_s']:.0f} s | skill: {log_dir / 'best_skill.md'}")
    return "\n".join(lines)


def evaluate(args: argparse.Namespace) -> int:
    config = _config(args)
    ws = build(config, need_reflection=False)
    skill = ""
    if args.skill:
        path = Path(args.skill)
        if not path.is_file():
            raise ConfigError(f"--skill {args.skill!r} does not exist")
        skill = path.read_text(encoding="utf-8")
    report = {
        "split": args.split,
        "skill": args.skill or None,
        "lm": config.model.lm,
        **_evaluate(ws, args.split, skill),
    }
    width = max(len(k) for k in report)
    for key, value in report.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "LiteLLM", "dspy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return train(args) if args.command == "train" else evaluate(args)
    except (ConfigError, DataError, IncompatibleRunError, ValueError, TypeError, ImportError) as exc:
        print(f"skillopt-dspy {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
