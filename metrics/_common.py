"""Helpers shared by the bundled metrics."""

from __future__ import annotations

from typing import Any


def field(obj: Any, name: str, fallback: str | None = None) -> Any:
    """``name`` (else ``fallback``) of a dict, ``dspy.Example`` or ``dspy.Prediction``; None when absent."""
    for key in (name, fallback):
        if key is None:
            continue
        value = obj.get(key) if hasattr(obj, "get") else getattr(obj, key, None)
        if value is not None:
            return value
    return None
