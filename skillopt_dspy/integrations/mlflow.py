"""Log a SkillOpt run to MLflow: its settings as params, scores per step, every accepted skill, the report.

Install with ``pip install "skillopt-dspy[mlflow]"`` (``mlflow-skinny``, the tracking client, plus
SQLAlchemy and Alembic for ``sqlite:///`` stores; ``pip install mlflow`` adds the UI server). Any tracking
URI works: ``sqlite:///mlflow.db``, ``http://host:5000``, or ``file:./mlruns`` (MLflow 3 asks for
``MLFLOW_ALLOW_FILE_STORE=true`` for the file store).

What is logged, in one MLflow run per ``compile``:

- params: every SkillOpt knob, the program, both LMs, the data sizes, ``log_dir``;
- metrics per step: ``val_score`` (the skill after the step), ``train_score``, ``candidate_score`` and
  ``accepted`` when a candidate was gated, ``edits_proposed`` / ``edits_applied``, cumulative ``lm_calls``,
  ``tokens`` and ``metric_calls``; per epoch ``epoch_val_score``; at the end ``best_val_score`` and totals;
- artifacts: each accepted skill (``skills/step-0003.md``, ``skills/slow-update-epoch-1.md``),
  ``best_skill.md``, ``detailed_results.json`` and the HTML run report ``report.html`` (needs ``log_dir``).

A failure to reach the tracking server is logged as a warning and counted in :attr:`MLflowCallback.errors`
instead of stopping a long training run; ``strict=True`` raises instead.

Example:
    >>> from skillopt_dspy.integrations.mlflow import MLflowCallback
    >>> tracker = MLflowCallback(tracking_uri="sqlite:///mlflow.db", experiment_name="routing")  # doctest: +SKIP
    >>> SkillOpt(metric=m, log_dir="runs/r", callbacks=[tracker]).compile(prog, trainset=tr)  # doctest: +SKIP
    >>> tracker.run_id  # doctest: +SKIP
    '3f2a...'
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from skillopt_dspy.events import SkillOptCallback
from skillopt_dspy.results import EpochRecord, SkillOptResult, StepRecord

logger = logging.getLogger(__name__)

INSTALL_HINT = 'MLflowCallback needs MLflow: pip install "skillopt-dspy[mlflow]" (or pip install mlflow)'


def _import_mlflow() -> Any:
    try:
        import mlflow
        import mlflow.entities
        import mlflow.tracking
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return mlflow


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    """Nested settings as dotted MLflow param names (``budget.max_lm_calls``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


class MLflowCallback(SkillOptCallback):
    """A :class:`~skillopt_dspy.SkillOptCallback` that records the run in MLflow (see the module docstring).

    Args:
        tracking_uri: where to log (default: MLflow's own default, i.e. ``MLFLOW_TRACKING_URI``).
        experiment_name: created if missing (default ``"skillopt"``).
        run_name: the MLflow run's name (default: MLflow picks one).
        tags: extra run tags.
        artifact_location: where a newly created experiment keeps artifacts (default: the store's).
        log_report: render and log ``report.html`` at the end (needs ``log_dir``).
        strict: raise tracking errors instead of logging and counting them.
    """

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        experiment_name: str = "skillopt",
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        artifact_location: str | None = None,
        log_report: bool = True,
        strict: bool = False,
    ) -> None:
        mlflow = _import_mlflow()  # fail at construction, before any LM call
        if not isinstance(experiment_name, str) or not experiment_name:
            raise ValueError(f"experiment_name must be a non-empty string, got {experiment_name!r}")
        self._mlflow = mlflow
        self.client = mlflow.tracking.MlflowClient(tracking_uri)
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.artifact_location = artifact_location
        self.log_report = log_report
        self.strict = strict
        self.run_id: str | None = None
        self.errors = 0
        self._params: dict[str, Any] = {}
        self._log_dir: Path | None = None
        self._in_compile = False
        self._logged_skills: set[str] = set()
        self._last_step = 0

    # ---- plumbing --------------------------------------------------------------------------------------
    def _safely(self, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:
            if self.strict:
                raise
            self.errors += 1
            logger.warning("MLflow: could not %s (%s: %s); training goes on", what, type(exc).__name__, exc)

    def _start(self) -> None:
        if self.run_id is not None:
            return
        exp = self.client.get_experiment_by_name(self.experiment_name)
        exp_id = (
            exp.experiment_id if exp else self.client.create_experiment(self.experiment_name, self.artifact_location)
        )
        tags = {"skillopt": "true", **self.tags}
        active = self._mlflow.active_run()
        if active is not None:  # inside the user's own run: nest under it
            tags["mlflow.parentRunId"] = active.info.run_id
        self.run_id = self.client.create_run(exp_id, tags=tags, run_name=self.run_name).info.run_id

    def _metrics(self, values: Mapping[str, float | None], step: int) -> None:
        now = int(time.time() * 1000)
        Metric = self._mlflow.entities.Metric
        metrics = [Metric(k, float(v), now, step) for k, v in values.items() if v is not None]
        self.client.log_batch(self.run_id, metrics=metrics)

    def _log_params(self, params: Mapping[str, Any]) -> None:
        fresh = {k: v for k, v in params.items() if k not in self._params}
        Param = self._mlflow.entities.Param
        if fresh:
            self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in fresh.items()])
            self._params.update(fresh)

    def _log_skill(self, text: str, name: str) -> None:
        if text in self._logged_skills:
            return
        self.client.log_text(self.run_id, text, f"skills/{name}.md")
        self._logged_skills.add(text)

    # ---- DSPy's compile events ---------------------------------------------------------------------------
    def on_compile_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        """Start the MLflow run and log the optimizer's settings, the program and the data sizes."""
        self._in_compile = True
        self.run_id, self._params, self._logged_skills, self._last_step = None, {}, set(), 0  # one run per compile
        params = _flat("", getattr(instance, "settings", {}))
        params.pop("progress", None)
        student = inputs.get("student")
        params["program"] = type(student).__name__ if student is not None else None
        for split in ("trainset", "valset"):
            if inputs.get(split) is not None:
                params[f"{split}_size"] = len(inputs[split])
        log_dir = getattr(instance, "log_dir", None)
        self._log_dir = Path(log_dir) if log_dir is not None else None
        params["log_dir"] = log_dir
        reflection = getattr(instance, "reflection_lm", None)
        params["reflection_lm"] = getattr(reflection, "model", None) or "the program's LM"

        def start() -> None:
            self._start()
            self._log_params(params)

        self._safely("start the run", start)

    def on_compile_end(self, call_id: str, outputs: Any | None, exception: Exception | None = None) -> None:
        """Log the report (the one compile wrote, or a fresh one) and close the run with its status."""
        self._in_compile = False
        result = getattr(outputs, "detailed_results", None)
        if result is not None:
            self._safely("log the report", lambda: self._report(result))
        status = "FAILED" if exception is not None else "FINISHED"
        if isinstance(exception, KeyboardInterrupt):
            status = "KILLED"
        self._safely("end the run", lambda: self._end(status))

    # ---- SkillOpt's run events ---------------------------------------------------------------------------
    def on_run_start(self, info: dict[str, Any]) -> None:
        def log() -> None:
            self._start()
            self._log_params({"total_steps": info["total_steps"], "resumed_at_step": info["resumed_at"]})
            if info["resumed_at"] == 0:
                self._metrics({"val_score": info["baseline"]}, step=0)

        self._safely("log the run start", log)

    def on_step_end(self, record: StepRecord) -> None:
        usage = record.usage or {}
        values = {
            "val_score": record.val_score,
            "train_score": record.train_score,
            "candidate_score": (record.gate or {}).get("candidate_score"),
            "accepted": float(record.accepted) if record.gate else None,
            "edits_proposed": len(record.proposed),
            "edits_applied": len(record.applied),
            "lm_calls": sum(usage.get("lm_calls", {}).values()),
            "tokens": sum(usage.get("tokens", {}).values()),
            "metric_calls": usage.get("metric_calls", 0),
        }

        self._last_step = record.step + 1

        def log() -> None:
            self._metrics(values, step=record.step + 1)
            if record.accepted and self._log_dir is not None:  # the saved state holds the accepted skill
                text = (self._log_dir / "best_skill.md").read_text(encoding="utf-8")
                self._log_skill(text, f"step-{record.step + 1:04d}")

        self._safely(f"log step {record.step + 1}", log)

    def on_epoch_end(self, record: EpochRecord) -> None:
        slow = record.slow_update or {}

        def log() -> None:
            self._metrics({"epoch_val_score": record.val_score}, step=self._last_step)
            if slow.get("guidance"):
                self.client.log_text(self.run_id, slow["guidance"], f"slow_update/epoch-{record.epoch + 1}.md")
            if slow.get("accepted") and self._log_dir is not None:
                text = (self._log_dir / "best_skill.md").read_text(encoding="utf-8")
                self._log_skill(text, f"slow-update-epoch-{record.epoch + 1}")

        self._safely(f"log epoch {record.epoch + 1}", log)

    def on_run_end(self, result: SkillOptResult) -> None:
        def log() -> None:
            self._start()
            totals = {
                "best_val_score": result.best_val_score,
                "baseline_val_score": result.baseline_val_score,
                "accepted_steps": result.accepted_steps,
                "total_lm_calls": result.total_lm_calls,
                "total_tokens": sum(result.tokens.values()),
                "total_metric_calls": result.total_metric_calls,
                "wall_time_s": result.wall_time_s,
            }
            self._metrics(totals, step=len(result.history))
            for i, (text, info) in enumerate(zip(result.candidates, result.candidate_info)):
                if info.get("accepted") and info.get("source") != "initial":  # any not logged live (no log_dir)
                    self._log_skill(text, f"candidate-{i:03d}-{info['source']}")
            self.client.log_text(self.run_id, result.best_skill, "best_skill.md")
            self.client.log_dict(self.run_id, result.to_dict(), "detailed_results.json")
            self.client.set_tag(self.run_id, "stop_reason", result.stop_reason)

        self._safely("log the result", log)
        if not self._in_compile:  # used outside compile: no compile end event will close the run
            self._safely("log the report", lambda: self._report(result))
            self._safely("end the run", lambda: self._end("FINISHED"))

    def _report(self, result: SkillOptResult) -> None:
        if not self.log_report or self.run_id is None:
            return
        if result.report_path:
            self.client.log_artifact(self.run_id, result.report_path)
        elif result.log_dir:
            from skillopt_dspy.report import write_report

            with tempfile.TemporaryDirectory() as tmp:
                self.client.log_artifact(self.run_id, str(write_report(result.log_dir, out=Path(tmp) / "report.html")))

    def _end(self, status: str) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)
