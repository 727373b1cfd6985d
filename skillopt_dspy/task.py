"""The task as the reflection LM must see it: each predictor's instructions, fields, types and labels.

A rule written without the task is written blind: it can name a label the output type does not allow, or
contradict the program's own instructions. :func:`describe_task` renders, for every predictor of the
program, whether it receives the skill, its pristine base instructions (the skill block removed), and its
input and output fields with their descriptions and types (a ``Literal``'s or an ``Enum``'s allowed
values spelled out). Pure: it reads the program, never calls an LM.

Example:
    >>> from typing import Literal
    >>> class Route(dspy.Signature):
    ...     '''Route the ticket.'''
    ...     ticket: str = dspy.InputField(desc="the customer's message")
    ...     queue: Literal["billing", "technical"] = dspy.OutputField()
    >>> print(describe_task(dspy.Predict(Route)))
    Predictor `self` (reads the skill)
      Instructions: Route the ticket.
      Input ticket (str): the customer's message
      Output queue: one of "billing", "technical"
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterable
from typing import Any

import dspy
import pydantic

from skillopt_dspy.skill import _select_predictors, strip_skill


def describe_type(annotation: Any) -> str:
    """A short human form of a field's type: ``one of "a", "b"`` for a Literal or an Enum, else its name."""
    if isinstance(annotation, typing.ForwardRef):  # a string annotation DSPy could not resolve
        try:
            annotation = eval(annotation.__forward_arg__, {"Literal": typing.Literal, "typing": typing})
        except Exception:
            return annotation.__forward_arg__
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f'"{v}"' for v in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f'"{m.value}"' for m in annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else describe_type(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(describe_type(a) for a in typing.get_args(annotation))
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{args}]" if args else name
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        parts = []
        for name, info in annotation.model_fields.items():
            part = f"{name}: {describe_type(info.annotation)}"
            parts.append(f"{part} ({info.description})" if info.description else part)
        return f"{annotation.__name__} {{" + "; ".join(parts) + "}"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _field_line(kind: str, name: str, field: Any) -> str:
    extra = getattr(field, "json_schema_extra", None) or {}
    desc = str(extra.get("desc", "") or "")
    if desc.startswith("${") and desc.endswith("}"):  # DSPy's placeholder when no desc was given
        desc = ""
    kind_text = describe_type(field.annotation)
    if kind_text.startswith("one of"):
        head = f"  {kind} {name}: {kind_text}"
        return f"{head} — {desc}" if desc else head
    head = f"  {kind} {name} ({kind_text})"
    return f"{head}: {desc}" if desc else head


def describe_task(program: dspy.Module, predictors: Iterable[str] | None = None) -> str:
    """Every predictor of ``program`` with its base instructions and typed fields; skill readers marked."""
    readers = {name for name, _ in _select_predictors(program, predictors)}
    blocks = []
    for name, pred in program.named_predictors():
        sig = pred.signature
        lines = [f"Predictor `{name}`" + (" (reads the skill)" if name in readers else " (does not read the skill)")]
        base = strip_skill(sig.instructions or "").strip()
        if base:
            lines.append("  Instructions: " + "\n    ".join(base.splitlines()))
        lines += [_field_line("Input", n, f) for n, f in sig.input_fields.items()]
        lines += [_field_line("Output", n, f) for n, f in sig.output_fields.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
