"""A DSPy 3.4 engine over an embedded llama.cpp model, for training with no API key and no server.

``dspy.LM("local/<model>", engine=LocalEngine(...))`` gets DSPy's cache, history, usage and callbacks.
The engine declares structured-output support, so ``dspy.JSONAdapter`` hands it the JSON schema of the
signature's outputs and decoding is constrained to it (small models break free-form JSON). Strings
without a ``maxLength`` get one, since a tiny model can loop inside a string until the token limit.

Calls are serialized on the loaded model: consecutive calls that share a prompt prefix (the system
message: instructions + skill) reuse the KV cache, which is what makes rollouts cheap. Decoding is
greedy with a fixed seed unless a call asks otherwise; ``max_tokens`` and ``timeout`` bound every call.

Example:
    >>> lm = local_lm("qwen2.5-coder-0.5b")  # doctest: +SKIP
    >>> with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):  # doctest: +SKIP
    ...     dspy.Predict("question -> answer")(question="2 + 2?").answer
    '4'
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import dspy
from dspy.lm15 import (
    ContextLengthError,
    InvalidRequestError,
    Message,
    Request,
    Response,
    ServerError,
    TextPart,
    Usage,
    response_to_events,
)

from skillopt_dspy.lm.backend import Backend, Speculative, import_xllamacpp, shared_backend
from skillopt_dspy.lm.registry import DEFAULT_MODEL, MODELS, resolve_model

logger = logging.getLogger(__name__)

DEFAULT_STRING_MAX_LENGTH = 1200
SPECULATIVE_CHOICES = ("auto", "off", "ngram", "draft")


def cap_schema(schema: Any, string_max_length: int, array_max_items: int | None = None) -> Any:
    """A copy of a JSON schema with bounds a small model needs under constrained decoding.

    Every string without ``maxLength`` (and not an enum or const) gets ``string_max_length``; with
    ``array_max_items``, every array without ``maxItems`` gets it. Bounds already in the schema are kept.

    Example:
        >>> cap_schema({"type": "object", "properties": {"a": {"type": "string"}}}, 50)["properties"]["a"]
        {'type': 'string', 'maxLength': 50}
    """
    schema = copy.deepcopy(schema)

    def has_type(node: dict, name: str) -> bool:
        types = node.get("type")
        return types == name or (isinstance(types, list) and name in types)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if has_type(node, "string") and not {"maxLength", "enum", "const"} & node.keys():
                node["maxLength"] = string_max_length
            if array_max_items is not None and has_type(node, "array") and "maxItems" not in node:
                node["maxItems"] = array_max_items
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


def _raise_for(error: Any) -> None:
    """Raise the ``dspy.lm15`` error for a llama.cpp error body: DSPy retries only server errors."""
    body = error if isinstance(error, dict) else {"message": str(error)}
    message = str(body.get("message") or body)
    code = body.get("code")
    if body.get("type") == "exceed_context_size_error" or "context size" in message.lower():
        raise ContextLengthError(message, provider="local")
    if isinstance(code, int) and 400 <= code < 500:
        raise InvalidRequestError(message, provider="local", status=code)
    raise ServerError(message, provider="local", status=code if isinstance(code, int) else None)


def _usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class LocalEngine:
    """The engine: turns a ``dspy.lm15.Request`` into a llama.cpp chat completion and back.

    Args:
        model: a registry name (see :data:`skillopt_dspy.lm.MODELS`) or a path to a GGUF file.
        n_ctx: context window in tokens.
        n_threads: CPU threads (default: every core this process may use). Two processes that run
            models on the same cores slow each other down many times over; give each fewer threads.
        max_tokens: generation limit when a call gives none.
        timeout: seconds after which a generation is cut (returned as truncated, ``finish_reason="length"``);
            ``None`` for no limit.
        string_max_length: ``maxLength`` given to schema strings that have none.
        array_max_items: ``maxItems`` given to schema arrays that have none (default: no bound). A small
            model asked for "at most 4 edits" may write 20, each costing generation time; but a bound
            also cuts a program's legitimate long lists, so set it on an LM used for reflection only.
        cache_prompt: reuse the KV cache of the previous call's common prefix (off only to measure).
        speculative: speculative decoding (measured on this llama.cpp build: it changes greedy output, since a
            verified batch's logits are not bit-identical to one token at a time):
            ``"off"``, ``"ngram"`` (guesses copied from the prompt: free, right when the answer copies it),
            ``"draft"`` (a small model of the same family guesses, ``draft_model``), or ``"auto"``: the
            registry's measured choice for ``model`` (``"off"`` for a GGUF path).
        draft_model: the draft model for ``speculative="draft"`` (registry name or GGUF path); default: the
            registry's draft for ``model``.
        draft_max: most tokens guessed per step (default: 16 for a draft model, 8 for ngram lookup; a wrong
            guess costs the target a batch of that many tokens).
        n_parallel: slots decoding at once (continuous batching); calls are no longer serialized. Only
            worth it where it measured faster (see benchmarks/local_lm.py --parts slots).
        backend: a ready :class:`~skillopt_dspy.lm.backend.Backend` (tests); default loads ``model``
            with ``xllamacpp``, once per process.

    Example:
        >>> lm = dspy.LM("local/qwen", engine=LocalEngine("qwen2.5-coder-0.5b"), cache=False)  # doctest: +SKIP
    """

    supports_response_schema = True
    supported_params = frozenset({"response_format", "temperature", "max_tokens", "stop", "seed", "top_p"})

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        max_tokens: int = 1024,
        timeout: float | None = 300.0,
        string_max_length: int = DEFAULT_STRING_MAX_LENGTH,
        array_max_items: int | None = None,
        cache_prompt: bool = True,
        speculative: str | bool = "auto",
        draft_model: str | os.PathLike[str] | None = None,
        draft_max: int | None = None,
        n_parallel: int = 1,
        backend: Backend | None = None,
    ) -> None:
        numbers = {"n_ctx": n_ctx, "max_tokens": max_tokens, "string_max_length": string_max_length}
        numbers.update(n_parallel=n_parallel, **({} if draft_max is None else {"draft_max": draft_max}))
        for name, value in numbers.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if array_max_items is not None and (not isinstance(array_max_items, int) or array_max_items < 1):
            raise ValueError(f"array_max_items must be a positive integer or None, got {array_max_items!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive seconds or None, got {timeout!r}")
        if speculative is False:  # YAML reads `speculative: off` as false
            speculative = "off"
        if speculative not in SPECULATIVE_CHOICES:
            raise ValueError(f"speculative must be one of {SPECULATIVE_CHOICES}, got {speculative!r}")
        self.model = str(model)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.string_max_length = string_max_length
        self.array_max_items = array_max_items
        self.cache_prompt = cache_prompt
        self.speculative = speculative
        self.draft_model = None if draft_model is None else str(draft_model)
        self.draft_max = draft_max
        self.n_parallel = n_parallel
        spec = MODELS.get(self.model)
        self.speculative_kind = (spec.speculative if spec else "off") if speculative == "auto" else speculative
        draft = self.draft_model or (spec.draft if spec else None)
        if self.speculative_kind == "draft" and draft is None:
            raise ValueError(f"speculative='draft' needs a draft_model: {self.model!r} has none in the registry")
        if backend is None:
            import_xllamacpp()  # fail on a missing runtime before assembling 500 MB of weights
            path = resolve_model(self.model)
            threads = n_threads or _usable_cores()
            settings = self._speculative_settings(draft)
            backend = shared_backend(path, n_ctx=n_ctx, n_threads=threads, speculative=settings, n_parallel=n_parallel)
        self.backend = backend
        # One slot: calls queue on the model (consecutive calls then share the cached prefix). Several slots:
        # the server batches concurrent calls itself, so they must not be serialized here.
        lock = getattr(backend, "lock", None)
        self._lock = lock if lock is not None or n_parallel > 1 else threading.Lock()

    def _speculative_settings(self, draft: str | None) -> Speculative | None:
        if self.speculative_kind == "off":
            return None
        if self.speculative_kind == "ngram":
            return Speculative("ngram", n_max=self.draft_max or 8)
        return Speculative("draft", draft_path=resolve_model(draft or ""), n_max=self.draft_max or 16)

    def payload(self, request: Request) -> dict[str, Any]:
        """The chat-completion payload for ``request``: system first (the stable prefix), then the turns."""
        messages = []
        system = _text(request.system)
        if system:
            messages.append({"role": "system", "content": system})
        messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
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
        if fmt and isinstance(fmt.get("schema"), dict):
            schema = cap_schema(fmt["schema"], self.string_max_length, self.array_max_items)
            json_schema = {"name": fmt.get("name") or "output", "schema": schema}
            payload["response_format"] = {"type": "json_schema", "json_schema": json_schema}
        elif fmt:
            payload["response_format"] = {"type": "json_object"}
        return payload

    def complete(self, request: Request) -> Response:
        """One completion. Raises ``ContextLengthError``, ``InvalidRequestError`` or ``ServerError``."""
        payload = self.payload(request)
        try:
            if self._lock is None:
                result = self.backend.chat(payload, timeout=self.timeout)
            else:
                with self._lock:
                    result = self.backend.chat(payload, timeout=self.timeout)
        except ValueError as exc:  # xllamacpp raises it for a schema or template it cannot compile
            raise InvalidRequestError(str(exc), provider="local") from exc
        if not isinstance(result, dict) or result.get("error") or not result.get("choices"):
            _raise_for(result.get("error") if isinstance(result, dict) and result.get("error") else result)
        if result.get("timed_out"):
            logger.warning("generation cut after %s s (LocalEngine timeout); the answer is truncated", self.timeout)
        elif result.get("looped"):
            logger.warning("generation cut: it kept repeating itself (a loop); the answer is truncated")
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        timings = result.get("timings") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", timings.get("cache_n"))
        return Response(
            id=result.get("id"),
            model=f"local/{Path(self.model).name}",
            message=Message.assistant([TextPart((choice.get("message") or {}).get("content") or "")]),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            usage=Usage(
                input_tokens=usage.get("prompt_tokens"),
                output_tokens=usage.get("completion_tokens"),
                cache_read_tokens=cached,
            ),
            # llama.cpp's timings (prompt_n: prompt tokens computed, cache_n: reused, prompt_ms, predicted_ms,
            # draft_n / draft_n_accepted with speculative decoding): what the benchmarks measure.
            provider_data={"timings": timings} if timings else None,
        )

    def stream(self, request: Request) -> Iterator[Any]:
        """The completion as DSPy stream events (generated whole, then replayed)."""
        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Nothing to release: the model is shared by engines in this process and freed at exit."""

    def dump_state(self) -> dict[str, Any]:
        """The constructor arguments, so ``dspy.LM.dump_state`` can save an LM over this engine."""
        return {
            "model": self.model,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "string_max_length": self.string_max_length,
            "array_max_items": self.array_max_items,
            "cache_prompt": self.cache_prompt,
            "speculative": self.speculative,
            "draft_model": self.draft_model,
            "draft_max": self.draft_max,
            "n_parallel": self.n_parallel,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> LocalEngine:
        """An engine from :meth:`dump_state`'s dict (loads the model)."""
        return cls(**state)


class AsyncLocalEngine:
    """The async counterpart DSPy needs for ``acall``: runs a :class:`LocalEngine` call in a worker thread.

    Example:
        >>> engine = LocalEngine("qwen2.5-coder-0.5b")  # doctest: +SKIP
        >>> lm = dspy.LM("local/qwen", engine=engine, async_engine=AsyncLocalEngine(engine))  # doctest: +SKIP
    """

    supports_response_schema = True
    supported_params = LocalEngine.supported_params

    def __init__(self, engine: LocalEngine) -> None:
        self.engine = engine

    async def complete(self, request: Request) -> Response:
        """One completion, off the event loop (calls still queue on the model's lock)."""
        return await asyncio.to_thread(self.engine.complete, request)

    async def stream(self, request: Request) -> AsyncIterator[Any]:
        """The completion as DSPy stream events."""
        for event in await asyncio.to_thread(lambda: list(self.engine.stream(request))):
            yield event

    async def aclose(self) -> None:
        """Nothing to release (see :meth:`LocalEngine.close`)."""

    def dump_state(self) -> dict[str, Any]:
        """The wrapped engine's state."""
        return self.engine.dump_state()

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> AsyncLocalEngine:
        """An async engine over a :class:`LocalEngine` rebuilt from ``state`` (the model loads once)."""
        return cls(LocalEngine.load_state(state))


def local_lm(model: str | os.PathLike[str] = DEFAULT_MODEL, *, cache: bool = False, **engine_kwargs: Any) -> dspy.LM:
    """A ``dspy.LM`` over the embedded model ``model`` (registry name or GGUF path).

    DSPy's response cache is off by default so every rollout really runs; pass ``cache=True`` to reuse.
    ``engine_kwargs`` go to :class:`LocalEngine`.

    Example:
        >>> lm = local_lm("qwen2.5-coder-0.5b", max_tokens=512)  # doctest: +SKIP
        >>> with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):  # doctest: +SKIP
        ...     dspy.Predict("ticket -> queue")(ticket="I was charged twice").queue
    """
    engine = LocalEngine(model, **engine_kwargs)
    return dspy.LM(f"local/{Path(str(model)).name}", engine=engine, async_engine=AsyncLocalEngine(engine), cache=cache)
