"""Reading configs written for microsoft SkillOpt.

SkillOpt's structured configs have the sections ``model``, ``train``, ``gradient``, ``optimizer``,
``evaluation`` and ``env`` (plus ``human_feedback``), merged with ``_base_`` like ours. :func:`translate`
moves each key that means something here to its place in a skillopt-dspy config (:data:`MAPPING`, also
the table in docs/config.md); a key whose value is what skillopt-dspy always does (:data:`SAME_AS_HERE`)
is accepted; every other key with a value is returned in ``ignored`` so the caller reports it. Keys of
skillopt-dspy's own schema pass through, so ``--lm`` and native overrides work on a SkillOpt file.

Example:
    >>> native, ignored, origin = translate(
    ...     {"train": {"num_epochs": 3}, "evaluation": {"gate_metric": "soft", "use_semantic_density": True}}
    ... )
    >>> native
    {'train': {'epochs': 3}, 'optimizer': {'gate': 'soft'}}
    >>> ignored
    ['evaluation.use_semantic_density']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# SkillOpt "section.key" -> skillopt-dspy "section.key". Names follow SkillOpt's configs/_base_/default.yaml
# and skillopt/config.py; evaluation.metric, evaluation.mixed_weight and the train.* aliases are the names
# its documentation uses.
MAPPING: dict[str, str] = {
    "model.target": "model.lm",
    "model.optimizer": "model.reflection_lm",
    "train.num_epochs": "train.epochs",
    "train.batch_size": "train.batch_size",
    "train.seed": "train.seed",
    "train.train_size": "data.train_limit",
    "train.minibatch_size": "train.minibatch_size",
    "train.use_slow_update": "optimizer.use_slow_update",
    "train.use_meta_skill": "optimizer.use_meta_skill",
    "gradient.minibatch_size": "train.minibatch_size",
    "gradient.merge_batch_size": "optimizer.aggregate_fan_in",
    "gradient.analyst_workers": "train.num_threads",
    "optimizer.learning_rate": "optimizer.learning_rate",
    "optimizer.min_learning_rate": "optimizer.min_learning_rate",
    "optimizer.lr_scheduler": "optimizer.lr_scheduler",
    "optimizer.use_slow_update": "optimizer.use_slow_update",
    "optimizer.slow_update_samples": "optimizer.slow_update_samples",
    "optimizer.use_meta_skill": "optimizer.use_meta_skill",
    "evaluation.gate_metric": "optimizer.gate",
    "evaluation.metric": "optimizer.gate",
    "evaluation.gate_mixed_weight": "optimizer.mixed_weight",
    "evaluation.mixed_weight": "optimizer.mixed_weight",
    "evaluation.sel_env_num": "data.valid_limit",
    "evaluation.test_env_num": "data.test_limit",
    "evaluation.eval_test": "run.eval_test",
    "env.split_dir": "data.split_dir",
    "env.skill_init": "optimizer.initial_skill",
    "env.workers": "train.num_threads",
    "env.out_root": "run.log_dir",
}
# SkillOpt uses 0 for "all of the split".
ZERO_MEANS_ALL = ("train.train_size", "evaluation.sel_env_num", "evaluation.test_env_num", "env.limit")
# Keys whose value here is the only behaviour skillopt-dspy has: that value is accepted, any other reported.
SAME_AS_HERE: dict[str, Any] = {
    "train.accumulation": 1,
    "gradient.failure_only": False,
    "optimizer.lr_control_mode": "fixed",
    "optimizer.skill_update_mode": "patch",
    "optimizer.slow_update_gate_with_selection": True,
    "evaluation.use_gate": True,
    "env.split_mode": "split_dir",
    "human_feedback.enabled": False,
}
# Keys read while translating another key (the backend prefixes model.target / model.optimizer).
CONSUMED = {
    "model.backend",
    "model.target_backend",
    "model.optimizer_backend",
    "env.limit",
    "model.openai_compatible_base_url",
    "model.target_openai_compatible_base_url",
    "model.optimizer_openai_compatible_base_url",
    "model.azure_openai_endpoint",
    "model.target_azure_openai_endpoint",
    "model.optimizer_azure_openai_endpoint",
    "model.azure_openai_api_version",
    "model.target_azure_openai_api_version",
    "model.optimizer_azure_openai_api_version",
}
# SkillOpt backend -> litellm provider prefix for a bare model name such as ``gpt-4o``.
BACKEND_PREFIX = {"openai_chat": "openai", "openai_compatible": "openai", "azure_openai": "azure"}
SKILLOPT_SECTIONS = ("gradient", "evaluation", "env", "human_feedback")
SKILLOPT_KEYS = ("model.target", "model.optimizer", "model.backend", "train.num_epochs")


def is_skillopt_format(data: Mapping[str, Any]) -> bool:
    """True when ``data`` has a SkillOpt-only section or key (``gradient``, ``evaluation``, ``train.num_epochs``...)."""
    if any(isinstance(data.get(section), Mapping) for section in SKILLOPT_SECTIONS):
        return True
    for key in SKILLOPT_KEYS:
        section, name = key.split(".")
        if isinstance(data.get(section), Mapping) and name in data[section]:
            return True
    return False


def is_skillopt_key(dotted: str) -> bool:
    """True for a key SkillOpt's configs have (mapped, accepted or consumed here)."""
    return (
        dotted in MAPPING or dotted in SAME_AS_HERE or dotted in CONSUMED or dotted.split(".")[0] in SKILLOPT_SECTIONS
    )


def _set(out: dict[str, Any], dotted: str, value: Any) -> None:
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _model_string(
    model: Mapping[str, Any], role: str, native: dict[str, Any], ignored: list[str], origin: dict[str, str]
) -> None:
    """``model.target`` / ``model.optimizer`` -> an LM string, prefixed by the role's SkillOpt backend."""
    name = model.get(role)
    if _empty(name):
        return
    name = str(name)
    target = "lm" if role == "target" else "reflection_lm"
    backend = model.get(f"{role}_backend") or model.get("backend")
    if "/" not in name and ":" not in name and backend:
        if backend not in BACKEND_PREFIX:
            ignored.append(f"model.{role}_backend" if model.get(f"{role}_backend") else "model.backend")
        else:
            name = f"{BACKEND_PREFIX[backend]}/{name}"
            kwargs: dict[str, Any] = {}
            if backend == "openai_compatible":
                kwargs["api_base"] = model.get(f"{role}_openai_compatible_base_url") or model.get(
                    "openai_compatible_base_url"
                )
            if backend == "azure_openai":
                kwargs["api_base"] = model.get(f"{role}_azure_openai_endpoint") or model.get("azure_openai_endpoint")
                kwargs["api_version"] = model.get(f"{role}_azure_openai_api_version") or model.get(
                    "azure_openai_api_version"
                )
            for key, value in kwargs.items():
                if not _empty(value):
                    _set(native, f"model.{target}_kwargs.{key}", value)
    _set(native, f"model.{target}", name)
    origin[f"model.{target}"] = f"model.{role}"


def translate(
    data: Mapping[str, Any], native_keys: Mapping[str, set[str]] | None = None
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """A SkillOpt config mapping -> ``(native config mapping, ignored SkillOpt keys, origin)``.

    ``native_keys`` (section -> key names of skillopt-dspy's schema) lets native keys pass through;
    sections that only skillopt-dspy has (``task``, ``data``, ``run``) always pass through. ``origin`` maps
    each native key path written to the SkillOpt key it came from, so errors can name the user's key.
    Keys with an empty value (``""``, ``null``) are unset, not ignored. API keys are never copied.
    """
    native_keys = native_keys or {}
    native: dict[str, Any] = {}
    ignored: list[str] = []
    origin: dict[str, str] = {}
    model = data.get("model") if isinstance(data.get("model"), Mapping) else {}
    human = data.get("human_feedback") if isinstance(data.get("human_feedback"), Mapping) else {}
    for role in ("target", "optimizer"):
        _model_string(model, role, native, ignored, origin)
    limit = (data.get("env") or {}).get("limit") if isinstance(data.get("env"), Mapping) else None
    if limit:
        for split in ("train", "valid", "test"):
            _set(native, f"data.{split}_limit", limit)
            origin[f"data.{split}_limit"] = "env.limit"
    for section, body in data.items():
        if section in ("task", "data", "run"):
            native[section] = {**native.get(section, {}), **body} if isinstance(body, Mapping) else body
            continue
        if not isinstance(body, Mapping):
            ignored.append(section)
            continue
        for key, value in body.items():
            dotted = f"{section}.{key}"
            if dotted in ("model.target", "model.optimizer") or dotted in CONSUMED:
                continue
            if section == "human_feedback" and not human.get("enabled"):
                continue  # the whole feature is off: its settings have nothing to change
            if dotted in SAME_AS_HERE:
                if value != SAME_AS_HERE[dotted]:
                    ignored.append(dotted)
                continue
            if dotted in MAPPING:
                if dotted in ZERO_MEANS_ALL and value == 0:
                    continue
                if _empty(value):
                    continue
                if dotted == "gradient.analyst_workers" and (data.get("env") or {}).get("workers"):
                    continue  # one thread budget here: env.workers (rollout workers) sets it
                _set(native, MAPPING[dotted], value)
                origin[MAPPING[dotted]] = dotted
            elif key in native_keys.get(section, set()):
                _set(native, dotted, value)
            elif not _empty(value):
                ignored.append(dotted)
    return native, ignored, origin
