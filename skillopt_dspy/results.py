"""The records a run produces: one per step, one per epoch, and the frozen result attached to the program.

Everything converts to plain JSON-ready dicts with ``to_dict()`` so history files, reports and sweeps read
the same data the user sees on ``compiled.detailed_results``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepRecord:
    """What one step did: scores, every edit proposed / selected / applied / rejected, and the gate decision.

    ``gate`` is None when no edit could be applied (no candidate, no validation calls; ``dropped`` and
    ``apply_reports`` say why). ``stages`` holds
    the LM calls, tokens, metric calls and seconds of each stage (rollout, reflect, aggregate, select,
    update, gate); ``candidate`` is the index of this step's candidate in ``SkillOptResult.candidates``.
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
    stages: dict = field(default_factory=dict)
    candidate: int | None = None
    retried: str = ""  # why the step's reflection was asked a second time (see guards.echoed_rejected)
    built_on: int | None = None  # carry_ahead: the step whose candidate this step's edits were added to
    carried: bool = False  # carry_ahead: turned down while ahead; the epoch's next steps build on it
    batch_changed: int | None = None  # batch check: how many of the batch's answers the candidate changed
    examples: tuple[str, ...] = ()  # worked examples (examples of the batch, one line each) added to the candidate
    # The batch check that turned down the step's edits with its worked examples, when the examples alone were
    # then judged (``gate`` is theirs); None otherwise.
    examples_alone: dict | None = None

    @property
    def applied(self) -> list[dict]:
        return [r["edit"] for r in self.apply_reports if r["applied"]]

    @property
    def rejected(self) -> list[dict]:
        """Edits that were applied to a candidate the gate turned down (and did not carry: see ``carried``);
        with ``examples_alone``, the step's edits whatever became of the examples judged without them."""
        if self.examples_alone is not None:
            return self.applied
        return [] if self.accepted or self.carried else self.applied

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "step", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for k in ("batch", "proposed", "aggregated", "selected", "dropped", "apply_reports", "errors", "examples"):
            fields[k] = tuple(fields.get(k, ()))
        return cls(**fields)


@dataclass(frozen=True)
class EpochRecord:
    """What happened at an epoch boundary: the slow update, the meta-skill, and the score afterwards.

    ``stages`` holds the LM calls, tokens, metric calls and seconds of ``slow_update`` and ``meta_skill``.
    """

    epoch: int
    val_score: float
    skill_hash: str
    slow_update: dict | None = None
    meta_skill: str = ""
    usage: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "epoch", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SkillOptResult:
    """The outcome of ``SkillOpt.compile``, attached to the program as ``detailed_results``.

    Besides SkillOpt's own fields it carries what a GEPA user looks for, under GEPA's names
    (``dspy.teleprompt.gepa.DspyGEPAResult``): every candidate skill that was validated, accepted or not
    (``candidates[0]`` is the initial skill), its ``parents``, ``val_aggregate_scores`` and per-example
    ``val_subscores``, ``best_idx`` / ``best_candidate``, ``total_metric_calls``, ``log_dir`` and ``seed``.
    A candidate is a skill text here (the trained weights), not a program: ``apply_skill(program,
    result.best_candidate)`` builds the program. Every field is described in docs/results.md.

    Example:
        >>> compiled.detailed_results.best_val_score  # doctest: +SKIP
        0.81
        >>> r = compiled.detailed_results  # doctest: +SKIP
        >>> r.best_candidate == compiled.skill, r.val_aggregate_scores[r.best_idx]  # doctest: +SKIP
        (True, 0.81)
        >>> SkillOptResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r  # doctest: +SKIP
        True
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
    seed: int | None = None
    valset_size: int = 0
    candidates: tuple[str, ...] = ()
    parents: tuple[tuple[int | None, ...], ...] = ()
    val_aggregate_scores: tuple[float, ...] = ()
    val_subscores: tuple[tuple[float, ...], ...] = ()
    discovery_eval_counts: tuple[int, ...] = ()
    candidate_info: tuple[dict, ...] = ()
    report_path: str | None = None

    @property
    def accepted_steps(self) -> int:
        return sum(1 for s in self.history if s.accepted)

    @property
    def total_lm_calls(self) -> int:
        return sum(self.lm_calls.values())

    @property
    def total_metric_calls(self) -> int:
        """Every metric call of the run (training batches, validation, slow-update samples); GEPA's name."""
        return self.metric_calls

    @property
    def num_full_val_evals(self) -> int:
        """Candidates scored on the whole valset (a racing gate may stop a losing one early)."""
        return sum(1 for s in self.val_subscores if len(s) >= self.valset_size)

    @property
    def best_idx(self) -> int:
        """Index in ``candidates`` of the returned skill (the last accepted candidate, or 0)."""
        for i in range(len(self.candidates) - 1, -1, -1):
            if self.candidates[i] == self.best_skill:
                return i
        return 0

    @property
    def best_candidate(self) -> str:
        """The returned skill text (``compiled.skill``)."""
        return self.candidates[self.best_idx] if self.candidates else self.best_skill

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON types (lists, not tuples), plus GEPA's derived names; see :meth:`from_dict`."""
        data = asdict(self)
        data["history"] = [s.to_dict() for s in self.history]
        data["epochs"] = [e.to_dict() for e in self.epochs]
        for name in ("candidates", "val_aggregate_scores", "discovery_eval_counts", "candidate_info"):
            data[name] = list(data[name])
        data["parents"] = [list(p) for p in self.parents]
        data["val_subscores"] = [list(s) for s in self.val_subscores]
        data.update(
            best_idx=self.best_idx,
            total_metric_calls=self.total_metric_calls,
            num_full_val_evals=self.num_full_val_evals,
        )
        return json.loads(json.dumps(data, default=str))  # JSON types all the way down (tuples inside records too)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkillOptResult:
        """Rebuild a result from :meth:`to_dict` (e.g. ``summary.json`` read back); derived names are ignored."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["history"] = tuple(StepRecord.from_dict(s) for s in data.get("history", ()))
        fields["epochs"] = tuple(EpochRecord.from_dict(e) for e in data.get("epochs", ()))
        for name in ("candidates", "val_aggregate_scores", "discovery_eval_counts", "candidate_info"):
            fields[name] = tuple(data.get(name, ()))
        fields["parents"] = tuple(tuple(p) for p in data.get("parents", ()))
        fields["val_subscores"] = tuple(tuple(s) for s in data.get("val_subscores", ()))
        return cls(**fields)
