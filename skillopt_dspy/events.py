"""Run events: subclass :class:`SkillOptCallback` to follow a run step by step.

An Optuna objective reports ``record.val_score`` in ``on_step_end`` and may raise ``optuna.TrialPruned``;
an exception raised by a callback stops the run after the state is saved, and propagates to the caller.
``SkillOptCallback`` is a ``dspy.utils.BaseCallback``: DSPy calls the ``callbacks`` of an optimizer on
``compile`` (``on_compile_start`` / ``on_compile_end``), so one object can follow both; plain DSPy callbacks
may be passed too and receive only DSPy's events.

Example:
    >>> class Printer(SkillOptCallback):
    ...     def on_step_end(self, record):
    ...         print(record.step, record.val_score, record.accepted)
    >>> # SkillOpt(metric=m, callbacks=[Printer()])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dspy.utils.callback import BaseCallback

from skillopt_dspy.results import EpochRecord, SkillOptResult, StepRecord


class SkillOptCallback(BaseCallback):
    """No-op base class; override the events you need. Called in the training thread, in order."""

    def on_run_start(self, info: dict[str, Any]) -> None:
        """Before the first step: steps planned, baseline validation score, resumed or not."""

    def on_step_end(self, record: StepRecord) -> None:
        """After each step, once its state is saved."""

    def on_epoch_end(self, record: EpochRecord) -> None:
        """After each epoch boundary (slow update and meta-skill included)."""

    def on_run_end(self, result: SkillOptResult) -> None:
        """Once, with the final result."""


class Emitter:
    """Calls every callback in order for each event."""

    def __init__(self, callbacks: Sequence[BaseCallback] = ()) -> None:
        self.callbacks = [cb for cb in callbacks if isinstance(cb, SkillOptCallback)]

    def run_start(self, info: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_run_start(info)

    def step_end(self, record: StepRecord) -> None:
        for cb in self.callbacks:
            cb.on_step_end(record)

    def epoch_end(self, record: EpochRecord) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(record)

    def run_end(self, result: SkillOptResult) -> None:
        for cb in self.callbacks:
            cb.on_run_end(result)
