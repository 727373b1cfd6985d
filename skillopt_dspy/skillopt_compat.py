"""Reading configs written for microsoft SkillOpt.

Its configs have sections ``model``, ``train``, ``gradient``, ``optimizer`` and ``evaluation``. Each key
that has a meaning here is moved to its place in a skillopt-dspy config (the table is :data:`MAPPING`,
also in docs/config.md); every other key is returned as unmapped so the caller reports it.

Example:
    >>> data, unmapped = translate({"train": {"num_epochs": 3}, "evaluation": {"metric": "soft", "beam": 2}})
    >>> data
    {'train': {'epochs': 3}, 'optimizer': {'gate': 'soft'}}
    >>> unmapped
    ['evaluation.beam']
"""

from __future__ import annotations

from typing import Any

# SkillOpt "section.key" -> skillopt-dspy "section.key"
MAPPING: dict[str, str] = {
    "model.name": "model.lm",
    "model.model": "model.lm",
    "model.target": "model.lm",
    "model.target_model": "model.lm",
    "model.optimizer": "model.reflection_lm",
    "model.optimizer_model": "model.reflection_lm",
    "model.reflection_model": "model.reflection_lm",
    "model.temperature": "model.lm_kwargs.temperature",
    "model.max_tokens": "model.lm_kwargs.max_tokens",
    "train.num_epochs": "train.epochs",
    "train.epochs": "train.epochs",
    "train.batch_size": "train.batch_size",
    "train.minibatch_size": "train.minibatch_size",
    "train.seed": "train.seed",
    "train.num_workers": "train.num_threads",
    "train.num_threads": "train.num_threads",
    "train.split_dir": "data.split_dir",
    "train.data_dir": "data.split_dir",
    "train.use_slow_update": "optimizer.use_slow_update",
    "train.use_meta_skill": "optimizer.use_meta_skill",
    "train.log_dir": "run.log_dir",
    "train.output_dir": "run.log_dir",
    "gradient.minibatch_size": "train.minibatch_size",
    "gradient.num_samples": "optimizer.slow_update_samples",
    "optimizer.learning_rate": "optimizer.learning_rate",
    "optimizer.min_learning_rate": "optimizer.min_learning_rate",
    "optimizer.lr_scheduler": "optimizer.lr_scheduler",
    "optimizer.use_slow_update": "optimizer.use_slow_update",
    "optimizer.use_meta_skill": "optimizer.use_meta_skill",
    "optimizer.slow_update_samples": "optimizer.slow_update_samples",
    "evaluation.metric": "optimizer.gate",
    "evaluation.gate": "optimizer.gate",
    "evaluation.mixed_weight": "optimizer.mixed_weight",
    "evaluation.pass_threshold": "optimizer.pass_threshold",
    "data.split_dir": "data.split_dir",
}

SKILLOPT_ONLY_SECTIONS = ("gradient", "evaluation")
SKILLOPT_ONLY_KEYS = ("train.num_epochs", "model.optimizer_model", "model.target_model")


def is_skillopt_format(data: dict[str, Any]) -> bool:
    """A config is in SkillOpt's format when it has a ``gradient``/``evaluation`` section or SkillOpt-only keys."""
    if any(section in data for section in SKILLOPT_ONLY_SECTIONS):
        return True
    for key in SKILLOPT_ONLY_KEYS:
        section, name = key.split(".")
        if isinstance(data.get(section), dict) and name in data[section]:
            return True
    return False


def _set(out: dict[str, Any], dotted: str, value: Any) -> None:
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def translate(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A skillopt-dspy config mapping from a SkillOpt one, and the SkillOpt keys that have no meaning here.

    Sections skillopt-dspy has itself (``task``, ``run``, ``data``) pass through unchanged.
    """
    out: dict[str, Any] = {}
    unmapped: list[str] = []
    for section, body in data.items():
        if section in ("task", "run"):
            out[section] = body
            continue
        if not isinstance(body, dict):
            unmapped.append(section)
            continue
        for key, value in body.items():
            target = MAPPING.get(f"{section}.{key}")
            if target is None:
                unmapped.append(f"{section}.{key}")
            else:
                _set(out, target, value)
    return out, unmapped
