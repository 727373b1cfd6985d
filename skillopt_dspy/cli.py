"""The ``skillopt-dspy`` command line: ``train`` a skill from a YAML config, ``eval`` a skill on a split, ``report``.

Each subcommand is a :class:`Command` in :data:`COMMANDS` (its arguments and its function), so later
ones (``sweep``, ``report``) are one more entry. A bad config, bad data or an unknown model is one line
on stderr naming the key, exit code 2, before any LM call; an interrupted run exits 130.

Example:
    >>> main(["eval", "--config", "configs/ticket_routing.yaml", "--split", "test"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
from dspy.utils.exceptions import LMAuthError, LMBillingError, LMConfigurationError

from skillopt_dspy.config import Config, ConfigError, load_config
from skillopt_dspy.data import SPLIT_ALIASES, DataError
from skillopt_dspy.evaluate import evaluate_skill
from skillopt_dspy.optimizer import SkillOpt
from skillopt_dspy.report import write_report
from skillopt_dspy.significance import describe_gain, paired_gain
from skillopt_dspy.stages.rollout import TooManyErrorsError
from skillopt_dspy.state import IncompatibleRunError, RunDirBusyError, RunDirWriteError, atomic_write_text
from skillopt_dspy.workspace import Workspace, build

logger = logging.getLogger("skillopt_dspy")

LM_HELP = "local/<model or path.gguf>, a dspy.LM model string (openai/gpt-4o-mini, ollama_chat/...), or module:factory"


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, examples, arguments and the function that runs it."""

    name: str
    help: str
    examples: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="YAML config (configs/*.yaml; every key: docs/config.md)"
    )
    parser.add_argument("--lm", metavar="LM", help=f"target LM: {LM_HELP} (sets model.lm)")
    parser.add_argument(
        "--split-dir", metavar="DIR", help="data: train/valid/test .jsonl files or SkillOpt folders (data.split_dir)"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. optimizer.learning_rate=8 train.batch_size=32 (values read as YAML)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file with ``--cfg-options`` and the shortcut flags applied (the flags win)."""
    flags = {
        "model.lm": getattr(args, "lm", None),
        "model.reflection_lm": getattr(args, "reflection_lm", None),
        "data.split_dir": getattr(args, "split_dir", None),
        "run.log_dir": getattr(args, "log_dir", None),
        **{f"sweep.{k}": getattr(args, k, None) for k in ("n_trials", "storage", "study_name", "workers")},
    }
    values = {k: v for k, v in flags.items() if v is not None and v != ""}  # --workers 0 must reach validation
    return load_config(args.config, overrides=args.cfg_options, values=values)


def default_log_dir(config_path: str) -> Path:
    """``runs/<config name>-<timestamp>``."""
    return Path("runs") / f"{Path(config_path).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _evaluate(ws: Workspace, split: str, skill: str) -> dict[str, Any]:
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


# ---- train -------------------------------------------------------------------------------------------
def _train_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser)
    parser.add_argument("--reflection-lm", metavar="LM", help="optimizer LM, same forms (default: the target LM)")
    parser.add_argument(
        "--log-dir", metavar="DIR", help="run directory (default: runs/<config>-<timestamp>); a run there resumes"
    )
    parser.add_argument("--restart", action="store_true", help="discard the run saved in --log-dir and start over")


def _resolved_header(config: Config, args: argparse.Namespace) -> str:
    lines = [f"Resolved by `skillopt-dspy train` on {time.strftime('%Y-%m-%d %H:%M:%S')} from {args.config}"]
    if args.cfg_options:
        lines.append(f"with --cfg-options {' '.join(args.cfg_options)}")
    if config.ignored_keys:
        lines.append(f"SkillOpt keys not used here: {', '.join(config.ignored_keys)}")
    lines.append("Train it again (resuming this run) with: skillopt-dspy train --config <this file>")
    return "\n".join(lines)


def train(args: argparse.Namespace) -> int:
    """``skillopt-dspy train``: compile, score the test split without and with the skill, write the summary."""
    started = time.perf_counter()
    config = config_from_args(args)
    log_dir = Path(config.run.log_dir) if config.run.log_dir else default_log_dir(args.config)
    config = config.model_copy(update={"run": config.run.model_copy(update={"log_dir": str(log_dir)})})
    ws = build(config)
    try:
        optimizer = SkillOpt(ws.metric, reflection_lm=ws.reflection_lm, log_dir=log_dir, **ws.skillopt_kwargs())
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    resolved = config.dump_yaml(_resolved_header(config, args))
    if args.restart or not (log_dir / "state.json").exists():  # never overwrite another run's config first
        atomic_write_text(log_dir / "config.yaml", resolved)
    logger.info(
        "training %s: %s; LM %s, reflection LM %s; run dir %s",
        config.task.name or type(ws.program).__name__,
        ", ".join(f"{len(v)} {k}" for k, v in ws.splits.items()),
        config.model.lm,
        config.model.reflection_lm or "the target LM",
        log_dir,
    )
    with dspy.context(lm=ws.lm, adapter=ws.adapter):
        compiled = optimizer.compile(
            ws.program, trainset=ws.splits["train"], valset=ws.splits["valid"], restart=args.restart
        )
    atomic_write_text(log_dir / "config.yaml", resolved)
    result = compiled.detailed_results
    summary = json.loads((log_dir / "summary.json").read_text(encoding="utf-8"))
    interrupted = result.stop_reason.startswith("interrupted")
    failed = result.stop_reason.startswith("stopped:")  # a systematic failure: the run kept what it accepted
    if config.run.eval_test and "test" in ws.splits and not interrupted and not failed:
        logger.info("scoring the test split without and with the best skill")
        without = _evaluate(ws, "test", "")
        if result.best_skill.strip():
            with_skill = _evaluate(ws, "test", result.best_skill)
        else:  # nothing was accepted: the same program as without a skill
            with_skill = {**without, "reused": "the best skill is empty: same program as without_skill"}
        summary["test"] = {
            "without_skill": without,
            "with_skill": with_skill,
            "gain": gain_on_test(without, with_skill),
        }
    summary["total_wall_time_s"] = time.perf_counter() - started
    summary["config"] = config.model_dump(mode="json")
    if config.ignored_keys:
        summary["config_keys_not_used"] = config.ignored_keys
    atomic_write_text(log_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    report = write_report(log_dir) if config.run.report else None  # after the summary: it shows the test scores
    print(summary_text(summary, log_dir, report=report))
    return 130 if interrupted else 1 if failed else 0


def gain_on_test(without: dict[str, Any], with_skill: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The skill's gain on the test split, paired example by example (sign test, bootstrap interval):
    accuracy from the pass/fail outcomes, and the soft score when it differs from them (partial credit)."""
    gain = {"accuracy": paired_gain(without["hard_scores"], with_skill["hard_scores"], seed=seed)}
    if without["soft_scores"] != without["hard_scores"] or with_skill["soft_scores"] != with_skill["hard_scores"]:
        gain["soft_score"] = paired_gain(without["soft_scores"], with_skill["soft_scores"], seed=seed)
    return gain


def _by_role(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] != "target", kv[0]))  # target first
    return ", ".join(f"{role} {n:,}" for role, n in ordered) or "0"


def summary_text(summary: dict[str, Any], log_dir: Path, *, report: Path | None = None) -> str:
    """The few lines ``train`` prints: validation and test scores, LM use by role, time, the skill's path."""
    lines = [
        f"validation ({summary['gate']} gate): {summary['baseline_val_score']:.3f} baseline -> "
        f"{summary['best_val_score']:.3f} with the best skill  [{summary['stop_reason']}]"
    ]
    test = summary.get("test")
    if test:
        before, after = test["without_skill"], test["with_skill"]
        lines.append(
            f"test ({after['examples']} examples): accuracy {before['accuracy']:.3f} without the skill -> "
            f"{after['accuracy']:.3f} with it (soft score {before['soft_score']:.3f} -> {after['soft_score']:.3f})"
        )
        for measure, gain in test.get("gain", {}).items():
            lines.append(f"test gain, {measure.replace('_', ' ')}: {describe_gain(gain)}")
    lines.append(f"LM calls (training): {_by_role(summary['lm_calls'])} | tokens: {_by_role(summary['tokens'])}")
    if test:
        runs = [r for r in (test["without_skill"], test["with_skill"]) if not r.get("reused")]
        calls, tokens = sum(r["lm_calls"] for r in runs), sum(r["tokens"] for r in runs)
        lines.append(f"LM calls (test):     target {calls:,} | tokens: target {tokens:,}")
    lines.append(f"faults: {_by_role(summary['faults']) if summary['faults'] else 'none'}")
    lines.append(f"wall time: {summary['total_wall_time_s']:.1f} s")
    lines.append(f"best skill: {log_dir / 'best_skill.md'}")
    if report is not None:
        lines.append(f"report: {report}")
    return "\n".join(lines)


# ---- eval --------------------------------------------------------------------------------------------
def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser)
    parser.add_argument(
        "--skill", metavar="FILE|RUN_DIR", help="skill .md file, or a run dir (its best_skill.md); default: no skill"
    )
    parser.add_argument("--split", default="test", help="train, valid (val) or test (default: test)")
    parser.add_argument("--out", metavar="FILE", help="also write the report as JSON to this file")


def read_skill(value: str | None) -> tuple[str, str | None]:
    """``(skill text, path)`` for ``--skill``: a file, or a run directory's ``best_skill.md``; none is ``""``."""
    if not value:
        return "", None
    path = Path(value)
    if path.is_dir():
        path = path / "best_skill.md"
    if not path.is_file():
        raise ConfigError(f"--skill {value!r}: no such file (give a skill .md file or a run directory)")
    return path.read_text(encoding="utf-8"), str(path)


def _shown(key: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if key == "faults":
        return _by_role(value) if value else "none"
    if key == "skill" and not value:
        return "none (the baseline)"
    return str(value)


def evaluate(args: argparse.Namespace) -> int:
    """``skillopt-dspy eval``: score a skill (or none: the baseline) on a split, on any LM (transfer)."""
    config = config_from_args(args)
    skill, skill_path = read_skill(args.skill)
    ws = build(config, need_reflection=False)
    split = SPLIT_ALIASES.get(args.split, args.split)
    if split not in ws.splits:
        raise ConfigError(f"--split {args.split!r}: the data has the splits {', '.join(ws.splits)}")
    report = {"split": split, "skill": skill_path, "lm": config.model.lm, **_evaluate(ws, split, skill)}
    labels = {
        "split": "split",
        "skill": "skill",
        "lm": "LM",
        "examples": "examples",
        "accuracy": "accuracy (hard)",
        "soft_score": "soft score",
        "latency_per_example_s": "latency / example (s)",
        "wall_time_s": "wall time (s)",
        "lm_calls": "LM calls",
        "tokens": "tokens",
        "faults": "faults",
    }
    width = max(len(v) for v in labels.values())
    for key, label in labels.items():
        print(f"{label:<{width}}  {_shown(key, report.get(key))}")
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    return 0


# ---- report ------------------------------------------------------------------------------------------
def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory (the log_dir of a finished or interrupted run)"
    )
    parser.add_argument("--out", metavar="FILE", help="where to write the HTML (default: RUN_DIR/report.html)")


def report(args: argparse.Namespace) -> int:
    """``skillopt-dspy report``: write the self-contained HTML report of a run directory."""
    try:
        path = write_report(args.run_dir, out=args.out)
    except (ValueError, ImportError) as exc:  # not a run dir, or matplotlib missing: one line, exit 2
        raise ConfigError(str(exc)) from None
    print(path)
    return 0


# ---- sweep (its body is in sweep_cli, imported only when used: it loads optuna) -----------------------------
def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    from skillopt_dspy.sweep_cli import add_arguments

    add_arguments(parser)


def sweep(args: argparse.Namespace) -> int:
    """``skillopt-dspy sweep``: Optuna over SkillOpt's knobs (see :mod:`skillopt_dspy.sweep_cli`)."""
    from skillopt_dspy.sweep_cli import run

    return run(args)


COMMANDS: list[Command] = [
    Command(
        "train",
        "train a skill; writes a run directory (config.yaml, best_skill.md, summary.json)",
        "  skillopt-dspy train --config configs/quickstart.yaml\n"
        "  skillopt-dspy train --config configs/ticket_routing.yaml --lm openai/gpt-4o-mini --reflection-lm "
        "openai/gpt-4o\n"
        "  skillopt-dspy train --config my.yaml --split-dir data/my_task --cfg-options optimizer.learning_rate=8",
        _train_arguments,
        train,
    ),
    Command(
        "eval",
        "score a skill (or no skill: the baseline) on a split, on any LM",
        "  skillopt-dspy eval --config configs/ticket_routing.yaml --split test              # baseline\n"
        "  skillopt-dspy eval --config configs/ticket_routing.yaml --skill runs/RUN/best_skill.md\n"
        "  skillopt-dspy eval --config runs/RUN/config.yaml --skill runs/RUN --lm openai/gpt-4o-mini  # transfer",
        _eval_arguments,
        evaluate,
    ),
    Command(
        "report",
        "write a run's HTML report: score plots, skill diffs, every edit's fate, gates, cost per stage",
        "  skillopt-dspy report runs/quickstart-20260101-120000\n  skillopt-dspy report runs/RUN --out /tmp/run.html",
        _report_arguments,
        report,
    ),
    Command(
        "sweep",
        "search SkillOpt's knobs with Optuna (sweep section of the config); SQLite or PostgreSQL share a study",
        "  skillopt-dspy sweep --config configs/quickstart.yaml --n-trials 6\n"
        "  skillopt-dspy sweep --config my.yaml --n-trials 20 --storage sqlite:///sweep.db --workers 2\n"
        "  skillopt-dspy sweep --config my.yaml --n-trials 40 --storage postgresql+psycopg://u:pw@h/db --study-name s"
        "  # every machine",
        _sweep_arguments,
        sweep,
    ),
]


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of ``skillopt-dspy`` with one subparser per :data:`COMMANDS` entry."""
    from skillopt_dspy import __version__

    parser = argparse.ArgumentParser(
        prog="skillopt-dspy",
        description="Train a Markdown skill for a DSPy program with SkillOpt, or evaluate one.",
        epilog="Run 'skillopt-dspy COMMAND --help' for a command's options. Configs: docs/config.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.help[0].upper() + command.help[1:] + ".",
            epilog="examples:\n" + command.examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConfigError, DataError, IncompatibleRunError, RunDirBusyError]
    if "skillopt_dspy.lm" in sys.modules:  # loaded only when a config asked for the embedded model
        errors.append(sys.modules["skillopt_dspy.lm"].LocalModelError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``skillopt-dspy``; returns the exit code."""
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "LiteLLM", "dspy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.run(args)
    except _user_errors() as exc:
        print(f"skillopt-dspy {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (TooManyErrorsError, RunDirWriteError, LMAuthError, LMBillingError, LMConfigurationError) as exc:
        print(f"skillopt-dspy {args.command}: stopped: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"skillopt-dspy {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
