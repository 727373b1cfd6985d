"""The embedded local LM: a llama.cpp model inside the process, as a DSPy engine (``pip install -e ".[local]"``).

Example:
    >>> from skillopt_dspy.lm import local_lm
    >>> lm = local_lm("qwen2.5-coder-0.5b")  # doctest: +SKIP
"""

from skillopt_dspy.lm.engine import AsyncLocalEngine, LocalEngine, cap_schema, local_lm
from skillopt_dspy.lm.registry import DEFAULT_MODEL, MODELS, LocalModelError, ModelSpec, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "AsyncLocalEngine",
    "LocalEngine",
    "LocalModelError",
    "ModelSpec",
    "cap_schema",
    "local_lm",
    "resolve_model",
]
