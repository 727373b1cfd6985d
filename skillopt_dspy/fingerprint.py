"""A run's identity: what a resumed run must share with the saved one for its saved work to stay valid.

Everything that changes results is in it: the data, the knobs, the LMs' names, the program's prompts
(each predictor's instructions, fields and demos), the metric (its qualified name and source code) and the
starting skill and meta-skill. Budgets, threads and progress bars are not: a run stopped by a budget
continues under a larger one. A difference is one :class:`~skillopt_dspy.state.IncompatibleRunError`
naming what changed (see :func:`~skillopt_dspy.state.check_compatible`).

Example:
    >>> import dspy
    >>> a, b = dspy.Predict("q -> a"), dspy.Predict("q -> a")
    >>> program_digest(a) == program_digest(b)
    True
    >>> b.signature = b.signature.with_instructions("Answer briefly.")
    >>> program_digest(a) == program_digest(b)
    False
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import dspy

from skillopt_dspy.skill import skill_hash

# Fingerprint keys holding a hash, and how an error names what changed.
HASHED = {
    "program_prompts": "the program's instructions, signatures or demos",
    "metric_source": "the metric's source code",
    "meta_skill": "meta_skill (the starting meta-skill)",
    "initial_skill": "initial_skill (the starting skill)",
    "trainset": "the trainset",
    "valset": "the valset",
}


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def examples_digest(examples: list[dspy.Example]) -> str:
    """A hash of the examples, their order, and which fields are inputs."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps(ex.toDict(), sort_keys=True, default=str).encode())
        h.update(json.dumps(sorted(ex.inputs().keys())).encode())
    return h.hexdigest()[:16]


def program_digest(program: dspy.Module) -> str:
    """A hash of every predictor's name, instructions, fields (name, role, prefix, description, type) and demos."""
    parts = []
    for name, predictor in program.named_predictors():
        signature = predictor.signature
        fields = [
            [
                field_name,
                (info.json_schema_extra or {}).get("__dspy_field_type"),
                (info.json_schema_extra or {}).get("prefix"),
                (info.json_schema_extra or {}).get("desc"),
                str(info.annotation),
            ]
            for field_name, info in signature.fields.items()
        ]
        demos = [demo.toDict() if hasattr(demo, "toDict") else demo for demo in predictor.demos]
        parts.append([name, signature.instructions, fields, demos])
    return _digest(parts)


def metric_identity(metric: Callable) -> tuple[str, str | None]:
    """The metric's qualified name, and a hash of its source code (None where Python cannot read it)."""
    target = metric if inspect.isfunction(metric) or inspect.ismethod(metric) else type(metric)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(metric).__qualname__)}"
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):  # built-ins, partials, code typed at a prompt
        return name, None
    return name, _digest(source)


def run_fingerprint(trainer: Any) -> dict[str, Any]:
    """The fingerprint of a :class:`~skillopt_dspy.trainer.Trainer`'s run, as stored in ``state.json``."""
    s = trainer.s
    metric_name, metric_source = metric_identity(trainer.metric)
    return {
        "program": type(trainer.student).__name__,
        "program_prompts": program_digest(trainer.student),
        "metric": metric_name,
        "metric_source": metric_source,
        "trainset": examples_digest(trainer.trainset),
        "valset": examples_digest(trainer.valset),
        "initial_skill": skill_hash(trainer.initial_skill),
        "meta_skill": _digest(trainer.initial_meta_skill),
        "predictors": trainer.predictors,
        **{k: getattr(s, k) for k in ("gate", "mixed_weight", "pass_threshold", "learning_rate")},
        **{k: getattr(s, k) for k in ("min_learning_rate", "lr_scheduler", "batch_size", "epochs")},
        **{k: getattr(s, k) for k in ("minibatch_size", "seed", "use_slow_update", "use_meta_skill")},
        "slow_update_samples": s.slow_update_samples,
        **{k: getattr(s, k) for k in ("gate_test", "gate_alpha")},  # they change decisions; racing does not
        "batch_check": s.batch_check,
        "carry_ahead": s.carry_ahead,
        **{k: getattr(s, k) for k in ("worked_examples", "max_worked_examples", "worked_examples_from")},
        **{k: getattr(s, k) for k in ("reflection_samples", "reflection_temperature")},
        "lm": getattr(trainer.lm, "model", None),
        "reflection_lm": getattr(trainer.reflection_lm, "model", None),
    }
