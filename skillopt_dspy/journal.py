"""The call journal: every finished reflection-LM call of the step (or epoch boundary) in progress, on disk.

A step's reflection, aggregation, slow-update and meta-skill calls happen before its state is saved. Killed
in the middle, a resumed run would make them again, and, with DSPy's cache off or a sampling LM, get other
answers. So each call's answer is appended to ``log_dir/calls.jsonl`` the moment it returns, keyed by the
unit (``"step 3"``, ``"epoch 0"``), a hash of the request, and its occurrence; the resumed unit replays
them and calls the LM only for what was in flight. A failed call is kept too (its error is raised again),
so a resumed step takes the same path; errors that stop a run (auth, billing, configuration) are not.

The LM is journaled by :func:`journaled`: a copy of it whose ``__call__`` looks in the journal first.
Replayed calls make no LM call and are not counted as one.

Example:
    >>> import tempfile, pathlib
    >>> journal = CallJournal(pathlib.Path(tempfile.mkdtemp()) / "calls.jsonl")
    >>> journal.begin("step 0")
    >>> slot = journal.claim("key")
    >>> journal.record(slot, outputs=["an answer"])
    >>> journal.begin("step 0")  # a resumed process, same unit
    >>> journal.replay(journal.claim("key"))
    ['an answer']
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import dspy

from skillopt_dspy.state import RunDirWriteError, atomic_write_text

logger = logging.getLogger(__name__)


class CallJournal:
    """Finished LM calls of the unit in progress, appended to ``path`` as each returns (None: memory only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.unit = ""
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int], dict[str, Any]] = {}
        self._seen: Counter[str] = Counter()
        self.replayed = 0

    def begin(self, unit: str) -> None:
        """Start ``unit``: keep what a killed attempt at the same unit finished, forget every other unit."""
        with self._lock:
            self.unit, self._seen, self._entries = unit, Counter(), {}
            if self.path is None or not self.path.exists():
                return
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a torn last line: that call was in flight
                    continue
                if entry.get("unit") == unit:
                    self._entries[(entry["key"], entry["n"])] = entry
                    kept.append(line + "\n")
            atomic_write_text(self.path, "".join(kept))

    def claim(self, key: str) -> tuple[str, int]:
        """The slot of this call: its request key and how many identical requests this unit made before."""
        with self._lock:
            n = self._seen[key]
            self._seen[key] += 1
            return key, n

    def replay(self, slot: tuple[str, int]) -> list | None:
        """The outputs a finished call in this slot returned (its error raised again), or None."""
        with self._lock:
            entry = self._entries.get(slot)
        if entry is None:
            return None
        self.replayed += 1
        if "error" in entry:
            kind, message = entry["error"]
            raise _replayed_error(kind)(message)
        return entry["outputs"]

    def record(self, slot: tuple[str, int], *, outputs: list | None = None, error: Exception | None = None) -> None:
        """Keep a finished call durably (appended and flushed before the caller sees the answer)."""
        entry: dict[str, Any] = {"unit": self.unit, "key": slot[0], "n": slot[1]}
        if error is not None:
            entry["error"] = [type(error).__name__, str(error)]
        else:
            entry["outputs"] = outputs
        with self._lock:
            self._entries[slot] = entry
            if self.path is None:
                return
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
            except OSError as exc:
                raise RunDirWriteError(
                    exc.errno, f"could not append to {self.path} ({exc.strerror or exc}); the saved state is intact"
                ) from exc


@functools.cache
def _replayed_error(name: str) -> type[Exception]:
    # The same class name as the original, so a resumed step logs and records the same message.
    return type(name, (RuntimeError,), {"__module__": __name__})


def request_key(model: str, prompt: Any, messages: Any, kwargs: dict[str, Any]) -> str:
    """A hash of everything a call sends: model, prompt or messages, and the call's settings."""
    data = {"model": model, "prompt": prompt, "messages": messages, "kwargs": kwargs}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _json_roundtrips(outputs: Any) -> bool:
    try:
        return isinstance(outputs, list) and json.loads(json.dumps(outputs)) == outputs
    except (TypeError, ValueError):
        return False


@functools.cache
def _journaled_class(base: type) -> type:
    from skillopt_dspy.stages.rollout import FATAL_ERRORS

    def __call__(self, prompt=None, *, messages=None, **kwargs):
        journal: CallJournal = self._skillopt_journal
        if prompt is not None and not isinstance(prompt, str):  # an lm15 Request: a Response, not kept
            return base.__call__(self, prompt, messages=messages, **kwargs)
        slot = journal.claim(request_key(self.model, prompt, messages, {**self.kwargs, **kwargs}))
        outputs = journal.replay(slot)
        if outputs is not None:
            return outputs
        try:
            outputs = base.__call__(self, prompt, messages=messages, **kwargs)
        except FATAL_ERRORS:
            raise
        except Exception as exc:
            journal.record(slot, error=exc)
            raise
        if _json_roundtrips(outputs):
            journal.record(slot, outputs=outputs)
        return outputs

    return type(f"Journaled{base.__name__}", (base,), {"__call__": __call__, "__module__": base.__module__})


def journaled(lm: dspy.BaseLM, journal: CallJournal) -> dspy.BaseLM:
    """A copy of ``lm`` whose calls are kept in (and replayed from) ``journal``; ``lm`` itself is unchanged.

    Example:
        >>> from skillopt_dspy.testing import fake_lm
        >>> lm = journaled(fake_lm(lambda call: {"answer": "42"}), CallJournal(None))
        >>> isinstance(lm, dspy.LM)
        True
    """
    copy = lm.copy()
    copy.__class__ = _journaled_class(type(lm))
    copy._skillopt_journal = journal
    return copy
