"""The records a run produces: one per step, one per epoch, and the frozen result attached to the program.

Everything converts to plain JSON-ready dicts with ``to_dict()`` so history files, reports and sweeps read
the same data the user sees on ``compiled.detailed_results``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepRecord:
    """What one step did: scores, every edit proposed / selected / applied / rejected, and the gate decision.

    ``gate`` is None when no edit could be applied (no candidate, no validation calls).
    """

    epoch: int
    step: int
    edit_budget: int
    batch: tuple[int, ...]
    train_score: float
    proposed: tuple[dict, ...]
    aggregated: tuple[dict, ...]
    selected: tuple[dict, ...]
    dropped: tuple[dict, ...]
    apply_reports: tuple[dict, ...]
    gate: dict | None
    accepted: bool
    skill_hash: str
    val_score: float
    errors: tuple[str, ...] = ()
    usage: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def applied(self) -> list[dict]:
        return [r["edit"] for r in self.apply_reports if r["applied"]]

    @property
    def rejected(self) -> list[dict]:
        """Edits that were applied to a candidate the gate turned down."""
        return [] if self.accepted else self.applied

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "step", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for k in ("batch", "proposed", "aggregated", "selected", "dropped", "apply_reports", "errors"):
            fields[k] = tuple(fields.get(k, ()))
        return cls(**fields)


@dataclass(frozen=True)
class EpochRecord:
    """What happened at an epoch boundary: the slow update, the meta-skill, and the score afterwards."""

    epoch: int
    val_score: float
    skill_hash: str
    slow_update: dict | None = None
    meta_skill: str = ""
    usage: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "epoch", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SkillOptResult:
    """The outcome of ``SkillOpt.compile``, attached to the program as ``detailed_results``.

    Example:
        >>> compiled.detailed_results.best_val_score  # doctest: +SKIP
        0.81
        >>> compiled.detailed_results.to_dict()["history"][0]["gate"]["reason"]  # doctest: +SKIP
        'hard validation score rose 0.6000 -> 0.7000'
    """

    initial_skill: str
    best_skill: str
    baseline_val_score: float
    best_val_score: float
    gate: str
    history: tuple[StepRecord, ...]
    epochs: tuple[EpochRecord, ...]
    lm_calls: dict[str, int]
    tokens: dict[str, int]
    metric_calls: int
    faults: dict[str, int]
    stop_reason: str
    wall_time_s: float
    log_dir: str | None = None
    meta_skill: str = ""

    @property
    def accepted_steps(self) -> int:
        return sum(1 for s in self.history if s.accepted)

    @property
    def total_lm_calls(self) -> int:
        return sum(self.lm_calls.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"] = [s.to_dict() for s in self.history]
        data["epochs"] = [e.to_dict() for e in self.epochs]
        return data
