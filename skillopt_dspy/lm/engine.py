"""A DSPy 3.4 engine over an embedded llama.cpp model (``xllamacpp``), for training with no API key.

``dspy.LM("local/<model>", engine=LocalEngine(...))`` gets DSPy's cache, history, usage and callbacks.
The engine declares structured-output support, so ``dspy.JSONAdapter`` hands it the JSON schema of the
signature's outputs and decoding is constrained to it (small models break free-form JSON). Strings
without a ``maxLength`` get one, since a tiny model can loop inside a string until the token limit.

Calls are serialized through one llama.cpp slot: consecutive calls that share a prompt prefix (the
system message: instructions + skill) reuse the KV cache, which is what makes rollouts cheap.

Example:
    >>> lm = local_lm("qwen2.5-coder-0.5b")  # doctest: +SKIP
    >>> with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):  # doctest: +SKIP
    ...     dspy.Predict("question -> answer")(question="2 + 2?").answer
    '4'
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import dspy
from dspy.lm15 import ContextLengthError, Message, Response, ServerError, TextPart, Usage, response_to_events

from skillopt_dspy.lm.registry import DEFAULT_MODEL, resolve_model

logger = logging.getLogger(__name__)

INSTALL_HINT = 'the embedded LM needs the "local" extra: pip install -e ".[local]"  (or: pip install xllamacpp)'
DEFAULT_STRING_MAX_LENGTH = 1200


class Backend(Protocol):
    """What the engine needs from a runtime: an OpenAI-style chat completion on a dict payload."""

    def chat(self, payload: dict[str, Any]) -> dict[str, Any]: ...


class XllamaBackend:
    """``xllamacpp.Server`` in-process: one slot, prompt caching on, logs silenced."""

    def __init__(self, path: Path, *, n_ctx: int, n_threads: int) -> None:
        try:
            import xllamacpp
        except ImportError:
            raise ImportError(INSTALL_HINT) from None
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1  # one slot: measured faster than 4 on 2 cores, and keeps the prefix cache hot
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.verbosity = -1
        params.warmup = False
        self.server = xllamacpp.Server(params)

    def chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.server.handle_chat_completions(payload)


_BACKENDS: dict[tuple, Backend] = {}
_BACKENDS_LOCK = threading.Lock()


def shared_backend(path: Path, *, n_ctx: int, n_threads: int) -> Backend:
    """One loaded model per (file, settings) in a process, shared by every engine that asks for it."""
    key = (str(path), n_ctx, n_threads)
    with _BACKENDS_LOCK:
        if key not in _BACKENDS:
            logger.info("loading %s (n_ctx=%d, %d threads)", path, n_ctx, n_threads)
            _BACKENDS[key] = XllamaBackend(path, n_ctx=n_ctx, n_threads=n_threads)
        return _BACKENDS[key]


def cap_strings(schema: Any, max_length: int) -> Any:
    """A copy of a JSON schema where every string without ``maxLength`` (or an enum) gets ``max_length``."""
    schema = copy.deepcopy(schema)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and "maxLength" not in node and "enum" not in node:
                node["maxLength"] = max_length
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return schema


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(getattr(p, "text", "") or "" for p in content)


class LocalEngine:
    """The engine: turns a ``dspy.lm15.Request`` into a llama.cpp chat completion and back.

    Args:
        model: a registry name (see :data:`skillopt_dspy.lm.MODELS`) or a path to a GGUF file.
        n_ctx: context window in tokens.
        n_threads: CPU threads (default: all cores).
        max_tokens: default generation limit when a call gives none.
        string_max_length: ``maxLength`` given to schema strings that have none.
        cache_prompt: reuse the KV cache of the previous call's common prefix (off only to measure).
        backend: a ready :class:`Backend` (tests); default loads the model with xllamacpp.
    """

    supports_response_schema = True
    supported_params = frozenset({"response_format", "temperature", "max_tokens", "stop", "seed", "top_p"})

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        max_tokens: int = 1024,
        string_max_length: int = DEFAULT_STRING_MAX_LENGTH,
        cache_prompt: bool = True,
        backend: Backend | None = None,
    ) -> None:
        self.model = str(model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.max_tokens = max_tokens
        self.string_max_length = string_max_length
        self.cache_prompt = cache_prompt
        self._lock = threading.Lock()
        if backend is None:
            try:
                import xllamacpp  # noqa: F401  (fail before assembling weights when the runtime is missing)
            except ImportError:
                raise ImportError(INSTALL_HINT) from None
            path = resolve_model(self.model)
            backend = shared_backend(path, n_ctx=n_ctx, n_threads=self.n_threads)
        self.backend = backend

    def payload(self, request: Any) -> dict[str, Any]:
        """The chat-completion payload for ``request``: system first (the stable prefix), then the turns."""
        messages = []
        system = _text(request.system)
        if system:
            messages.append({"role": "system", "content": system})
        for m in request.messages:
            messages.append({"role": m.role, "content": m.text or ""})
        cfg = request.config
        payload: dict[str, Any] = {
            "messages": messages,
            "max_tokens": cfg.max_tokens or self.max_tokens,
            "temperature": 0.0 if cfg.temperature is None else cfg.temperature,
            "seed": 0 if cfg.seed is None else cfg.seed,
            "cache_prompt": self.cache_prompt,
        }
        if cfg.top_p is not None:
            payload["top_p"] = cfg.top_p
        if cfg.stop:
            payload["stop"] = list(cfg.stop)
        fmt = cfg.response_format
        if fmt:
            schema = fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema")
            if schema:
                name = fmt.get("name") or (fmt.get("json_schema") or {}).get("name") or "output"
                payload["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": cap_strings(schema, self.string_max_length)},
                }
            else:
                payload["response_format"] = {"type": "json_object"}
        return payload

    def complete(self, request: Any) -> Response:
        payload = self.payload(request)
        with self._lock:
            result = self.backend.chat(payload)
        error = result.get("error") if isinstance(result, dict) else None
        if error or not isinstance(result, dict) or not result.get("choices"):
            message = (error or {}).get("message", str(error or result)) if isinstance(error, dict) else str(result)
            if "context" in message.lower() and ("exceed" in message.lower() or "size" in message.lower()):
                raise ContextLengthError(message, provider="local")
            raise ServerError(message, provider="local")
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Response(
            id=result.get("id"),
            model=f"local/{Path(self.model).name}",
            message=Message.assistant([TextPart(choice["message"].get("content") or "")]),
            finish_reason=finish,
            usage=Usage(input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens")),
        )

    def stream(self, request: Any) -> Iterator:
        return response_to_events(self.complete(request))

    def close(self) -> None:
        """The model stays loaded for other engines sharing it; it is freed when the process ends."""

    def dump_state(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "max_tokens": self.max_tokens,
            "string_max_length": self.string_max_length,
            "cache_prompt": self.cache_prompt,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> LocalEngine:
        return cls(**state)


def local_lm(model: str | os.PathLike = DEFAULT_MODEL, *, cache: bool = False, **engine_kwargs: Any) -> dspy.LM:
    """A ``dspy.LM`` over the embedded model ``model`` (registry name or GGUF path).

    DSPy's response cache is off by default so every rollout really runs; pass ``cache=True`` to reuse.
    """
    engine = LocalEngine(model, **engine_kwargs)
    return dspy.LM(f"local/{Path(str(model)).name}", engine=engine, cache=cache)
