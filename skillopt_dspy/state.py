"""Run state and the run directory: atomic writes, every skill version, history, and resume.

Layout of ``log_dir``::

    state.json          RunState after the last finished step (atomic: tmp file + rename)
    history.jsonl       one StepRecord / EpochRecord per line
    evals.jsonl         every (skill hash, example) evaluation, appended as it finishes
    calls.jsonl         the finished reflection-LM calls of the step in progress (see skillopt_dspy.journal)
    skills/NNNN-<hash>.md  every skill version that was validated (accepted or not)
    best_skill.md       the current best skill
    meta_skill.md       the optimizer-side memory (when enabled)
    summary.json        written when the run ends
    .lock               held (``fcntl.flock``) by the one process training into this directory

Example:
    >>> import tempfile
    >>> run_dir = RunDir(tempfile.mkdtemp())
    >>> run_dir.write_text("best_skill.md", "# Rules\\n")
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skillopt_dspy.edits import Edit, RejectedEdit
from skillopt_dspy.results import EpochRecord, StepRecord
from skillopt_dspy.scoring import Score
from skillopt_dspy.skill import skill_hash

STATE_VERSION = 1


class IncompatibleRunError(ValueError):
    """``log_dir`` holds a run whose settings or data differ from this one."""


class RunDirWriteError(OSError):
    """Writing to ``log_dir`` failed (a full disk, say); what was saved before is intact."""


class RunDirBusyError(RuntimeError):
    """Another process is training into the same ``log_dir``."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a crash leaves either the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunState:
    """Everything needed to continue a run after the last finished step."""

    fingerprint: dict[str, Any]
    initial_skill: str
    skill: str
    baseline_val_score: float
    val_score: float
    next_step: int = 0
    epoch: int = 0
    epoch_start_skill: str = ""
    epochs_done: int = 0
    rejected: list[RejectedEdit] = field(default_factory=list)  # the rejected-edit buffer (every epoch's)
    meta_skill: str = ""
    # carry_ahead: a candidate turned down while ahead, that this epoch's next steps build on ("": the skill)
    base: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    lookahead: dict[str, int] = field(default_factory=dict)  # budget look-ahead measurements
    val_scores: dict[str, list[Score | None]] = field(default_factory=dict)  # valset order; None: not scored
    elapsed_s: float = 0.0
    candidates: list[dict[str, Any]] = field(default_factory=list)  # every validated skill, see Trainer.propose
    finished: bool = False
    stop_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = STATE_VERSION
        data["rejected"] = [e.model_dump() for e in self.rejected]
        data["val_scores"] = {h: [None if s is None else s.to_dict() for s in v] for h, v in self.val_scores.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        data = dict(data)
        if data.pop("version", None) != STATE_VERSION:
            raise IncompatibleRunError("state.json was written by another version of skillopt-dspy")
        data["rejected"] = [
            RejectedEdit(**e) if "edit" in e else RejectedEdit(edit=Edit(**e)) for e in data.get("rejected", [])
        ]
        data["val_scores"] = {
            h: [None if s is None else Score(**s) for s in v] for h, v in data.get("val_scores", {}).items()
        }
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def example_key(example: Any) -> str:
    """A stable identity for a dspy.Example: a hash of its fields and of which of them are inputs."""
    data = {"fields": example.toDict(), "inputs": sorted(example.inputs().keys())}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:20]


class EvalStore:
    """Every evaluation of a skill on an example, appended to ``evals.jsonl`` as it finishes.

    A resumed run reads it back so that no (skill, example) pair is evaluated twice, even inside the step
    that was interrupted. A torn last line (a crash mid-write) is ignored.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if rec.get("discarded"):
                    self._records.pop((rec["skill"], rec["example"]), None)
                else:
                    self._records[(rec["skill"], rec["example"])] = rec
        self._file = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115
        if self._file is not None and self._file.tell() and not path.read_bytes().endswith(b"\n"):
            self._file.write("\n")  # a torn last line (a crash mid-write) must not swallow the next record

    def get(self, skill: str, example: str) -> dict[str, Any] | None:
        with self._lock:
            return self._records.get((skill, example))

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records[(record["skill"], record["example"])] = record
            if self._file is not None:
                try:
                    self._file.write(json.dumps(record, default=str) + "\n")
                    self._file.flush()
                except OSError as exc:
                    raise RunDirWriteError(
                        exc.errno,
                        f"could not append to {self.path} ({exc.strerror or exc}); the evaluations saved before are "
                        "intact: free space and compile again with the same log_dir to continue",
                    ) from exc

    def discard(self, skill: str, examples: list[str]) -> None:
        """Forget evaluations (a tombstone line each), so that a resumed run evaluates them again."""
        with self._lock:
            for example in examples:
                self._records.pop((skill, example), None)
                if self._file is not None:
                    self._file.write(json.dumps({"skill": skill, "example": example, "discarded": True}) + "\n")
            if self._file is not None:
                self._file.flush()

    def __len__(self) -> int:
        return len(self._records)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RunDir:
    """Reads and writes one run directory (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file: Any = None
        self._history_saved: int | None = None  # records of history.jsonl this object wrote, in order

    def acquire_lock(self) -> None:
        """Hold this directory for this process, or raise :class:`RunDirBusyError` if another one holds it.

        An OS lock (``flock``): the kernel releases it when the holder exits or is killed, so a crashed run
        never blocks the next one. Where ``fcntl`` does not exist (Windows) nothing is locked.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        f = open(self.path / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held until release_lock
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "unknown pid"
            f.close()
            raise RunDirBusyError(
                f"log_dir {str(self.path)!r} is in use by another training process ({holder}); two runs in "
                "one directory would interleave their state. Wait for it to end, or use another log_dir."
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        self._lock_file = f

    def release_lock(self) -> None:
        """Let another process train into this directory (closing the file releases the lock)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.path / name, text)

    def write_json(self, name: str, data: Any) -> None:
        self.write_text(name, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    def clear(self) -> None:
        """Forget a previous run in this directory (``restart=True``)."""
        names = ("state.json", "history.jsonl", "evals.jsonl", "calls.jsonl", "best_skill.md", "summary.json")
        for name in (*names, "meta_skill.md"):
            (self.path / name).unlink(missing_ok=True)
        for old in (self.path / "skills").glob("*.md") if (self.path / "skills").is_dir() else []:
            old.unlink()
        self._history_saved = None

    def eval_store(self) -> EvalStore:
        return EvalStore(self.path / "evals.jsonl")

    def save_skill(self, step: int, skill: str) -> Path:
        """Keep a skill version under ``skills/`` (idempotent)."""
        path = self.path / "skills" / f"{step:04d}-{skill_hash(skill)}.md"
        if not path.exists():
            atomic_write_text(path, skill)
        return path

    def save_state(self, state: RunState, history: list[StepRecord | EpochRecord]) -> None:
        """History first, then the state that points past it: a crash between the two loses nothing
        (:meth:`load` drops history records the state does not count yet).

        The first save of this object writes ``history.jsonl`` whole (atomically); later ones append only
        the new records (flushed to disk), so a long run does not rewrite its history at every step. An
        append cut by a crash leaves a torn last line, which :meth:`load` drops (the state does not count
        that record yet) and the next first save rewrites.
        """
        done = self._history_saved
        if done is None or done > len(history):
            self.write_text("history.jsonl", "".join(json.dumps(r.to_dict(), default=str) + "\n" for r in history))
        elif done < len(history):
            with open(self.path / "history.jsonl", "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(r.to_dict(), default=str) + "\n" for r in history[done:]))
                f.flush()
                os.fsync(f.fileno())
        self._history_saved = len(history)
        self.write_json("state.json", state.to_dict())
        self.write_text("best_skill.md", state.skill)
        if state.meta_skill:
            self.write_text("meta_skill.md", state.meta_skill + "\n")

    def load(self) -> tuple[RunState, list[StepRecord | EpochRecord]] | None:
        """The saved state and history, or None when the directory holds no run."""
        state_path = self.path / "state.json"
        if not state_path.exists():
            return None
        state = RunState.from_dict(json.loads(state_path.read_text(encoding="utf-8")))
        history: list[StepRecord | EpochRecord] = []
        hist_path = self.path / "history.jsonl"
        if hist_path.exists():
            lines = [line for line in hist_path.read_text(encoding="utf-8").splitlines() if line.strip()]
            for n, line in enumerate(lines, 1):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    if n == len(lines):  # an append cut by a crash: a record the state does not count yet
                        break
                    raise ValueError(
                        f"{hist_path}: line {n} of {len(lines)} is not a JSON record ({exc.msg}); the run directory "
                        "was edited or damaged. Restore it, or start over with restart=True (--restart)"
                    ) from None
                is_epoch = rec.get("kind") == "epoch"
                if (rec["epoch"] < state.epochs_done) if is_epoch else (rec["step"] < state.next_step):
                    history.append(EpochRecord.from_dict(rec) if is_epoch else StepRecord.from_dict(rec))
        return state, history


def _describe(key: str, saved: dict[str, Any], current: dict[str, Any], hashed: dict[str, str]) -> str:
    if key not in saved:
        return f"{hashed.get(key, key)} (not recorded by the skillopt-dspy version that wrote this run)"
    if key in hashed:
        return f"{hashed[key]} changed"
    return f"{key}: {saved.get(key)!r} -> {current.get(key)!r}"


def check_compatible(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Raise :class:`IncompatibleRunError` naming every setting that differs between two fingerprints."""
    from skillopt_dspy.fingerprint import HASHED

    diffs = [k for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
    if diffs:
        named = [_describe(k, saved, current, HASHED) for k in diffs]
        raise IncompatibleRunError(
            f"log_dir holds a run with different settings ({'; '.join(named[:6])}); its saved scores and steps "
            "would not be this run's. Use another log_dir, or pass restart=True to compile (--restart on the "
            "command line) to start over in this one."
        )
