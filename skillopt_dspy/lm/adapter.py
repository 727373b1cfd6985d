"""A ``dspy.JSONAdapter`` whose fixed text is all in the system message, for the embedded LM's prefix cache.

DSPy's ``JSONAdapter`` ends every user message with the output requirements ("Respond with a JSON object
in the following order of fields: `queue` (must be formatted as a valid Python Literal[...])"). That text
is the same on every call, but it follows the example's input, so llama.cpp's prefix cache cannot reuse it
and recomputes it on every call. :class:`PrefixJSONAdapter` moves it to the end of the system message:
the system message (field description, structure, instructions + skill, output requirements) is one
cached prefix, and only the example's own input fields are new tokens. Parsing, the JSON schema given to
the engine and everything else are ``JSONAdapter``'s.

:func:`json_adapter` picks it for an LM over the embedded engine and a plain ``dspy.JSONAdapter`` for any
other LM (a hosted model's prompt is left exactly as DSPy writes it).

Example:
    >>> import dspy
    >>> messages = PrefixJSONAdapter().format(dspy.Signature("question -> answer: int"), [], {"question": "2+2?"})
    >>> messages[-1]["content"]
    '[[ ## question ## ]]\\n2+2?'
    >>> messages[0]["content"].endswith("`answer` (must be formatted as a valid Python int).")
    True
"""

from __future__ import annotations

from typing import Any

import dspy


class PrefixJSONAdapter(dspy.JSONAdapter):
    """``dspy.JSONAdapter`` with the output requirements at the end of the system message, not the user's.

    Example:
        >>> with dspy.context(lm=local_lm("qwen2.5-coder-1.5b"), adapter=PrefixJSONAdapter()):  # doctest: +SKIP
        ...     dspy.Predict("ticket -> queue")(ticket="I was charged twice").queue
    """

    def format_system_message(self, signature: type[dspy.Signature]) -> str:
        """DSPy's system message, then the output requirements it would have put after the input."""
        system = super().format_system_message(signature)
        requirements = super().user_message_output_requirements(signature)
        return f"{system}\n\n{requirements}" if requirements else system

    def user_message_output_requirements(self, signature: type[dspy.Signature]) -> None:
        """None: ``ChatAdapter.format_user_message_content`` then appends nothing after the input."""
        return None


def is_embedded(lm: Any) -> bool:
    """True when ``lm`` is a ``dspy.LM`` over the embedded :class:`~skillopt_dspy.lm.LocalEngine`.

    Example:
        >>> is_embedded(dspy.LM("openai/gpt-4o-mini"))
        False
    """
    from skillopt_dspy.lm.engine import LocalEngine

    return isinstance(getattr(lm, "engine", None), LocalEngine)


def json_adapter(lm: Any) -> dspy.JSONAdapter:
    """The JSON adapter for calls to ``lm``: :class:`PrefixJSONAdapter` on the embedded LM, else DSPy's own.

    ``lm=None`` means the configured ``dspy.settings.lm``.

    Example:
        >>> type(json_adapter(dspy.LM("openai/gpt-4o-mini"))).__name__
        'JSONAdapter'
    """
    return PrefixJSONAdapter() if is_embedded(lm if lm is not None else dspy.settings.lm) else dspy.JSONAdapter()
