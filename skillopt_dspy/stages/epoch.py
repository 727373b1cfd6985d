"""Epoch boundary: the slow update and the meta-skill (filled in by the epoch-level issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skillopt_dspy.results import EpochRecord
from skillopt_dspy.skill import skill_hash

if TYPE_CHECKING:
    from skillopt_dspy.state import RunState
    from skillopt_dspy.trainer import Trainer


def end_epoch(trainer: Trainer, state: RunState, epoch: int) -> EpochRecord:
    """Close ``epoch``: remember the skill it ended with and record the boundary."""
    state.epochs_done = epoch + 1
    state.epoch_start_skill = state.skill
    return EpochRecord(
        epoch=epoch, val_score=state.val_score, skill_hash=skill_hash(state.skill), usage=trainer.usage.snapshot()
    )
