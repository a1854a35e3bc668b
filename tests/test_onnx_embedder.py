"""The ONNX embedder: same vectors as sentence-transformers, a checked cache, torch-free searches, fallback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import agent.index.embeddings as emb
from agent.index import onnx_embedder
from agent.index.embeddings import Embedder, EmbeddingModelError, get_embedder, resolve_model_path
from agent.onnxrt import sha256_file

ROOT = Path(__file__).resolve().parent.parent
SPEC = "packaged:all-MiniLM-L6-v2"
TEXTS = [
    "Which papers address false negatives?",
    "Debiased contrastive learning of unsupervised sentence representations.",
    "Über naïve café “quotes”: ß and é survive lowercasing.",
    " ".join(["hard negative mining for dense retrieval"] * 60),  # past the 256-token window
    "",
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    get_embedder.cache_clear()
    yield
    get_embedder.cache_clear()


def test_onnx_vectors_match_sentence_transformers() -> None:
    onnx = get_embedder(SPEC, 32, "onnx", os.environ["CITEWISE_INDEX__ONNX_CACHE"])
    torch = get_embedder(SPEC, 32, "torch")
    assert onnx.runtime == "onnx" and torch.runtime == "torch" and onnx.dim == torch.dim == 384
    a, b = onnx.embed(TEXTS), torch.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(a * b, axis=1))) >= 0.9999
    assert onnx.embed([]).shape == (0, 384)


def _fake_cache(tmp_path: Path) -> tuple[Path, onnx_embedder.SourceModel]:
    """A cache directory whose manifest matches its (tiny, fake) files."""
    source = onnx_embedder.SourceModel.inspect(resolve_model_path(SPEC))
    d = tmp_path / "cache"
    d.mkdir()
    (d / "model.onnx").write_bytes(b"not really a graph")
    (d / "tokenizer.json").write_text("{}", encoding="utf-8")
    stamp = onnx_embedder._stamp
    manifest = {
        "recipe": onnx_embedder.RECIPE,
        "max_length": 256,
        "source": {"path": str(source.weights), **stamp(source.weights)},
        "files": {n: {"sha256": sha256_file(d / n), **stamp(d / n)} for n in onnx_embedder.FILES},
    }
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return d, source


def test_cache_check_rehashes_a_touched_file_and_rejects_a_changed_one(tmp_path: Path) -> None:
    d, source = _fake_cache(tmp_path)
    assert onnx_embedder.check_cache(d, source)[0] is not None
    os.utime(d / "model.onnx", ns=(1, 1))  # same bytes, new mtime: re-hashed, still good
    assert onnx_embedder.check_cache(d, source)[0] is not None
    (d / "model.onnx").write_bytes(b"not really a graQh")  # same size, other bytes
    manifest, why = onnx_embedder.check_cache(d, source)
    assert manifest is None and "SHA-256" in why
    (d / "model.onnx").unlink()
    assert "missing" in onnx_embedder.check_cache(d, source)[1]
    (d / "manifest.json").write_text(json.dumps({"recipe": "old/0"}), encoding="utf-8")
    assert "recipe" in onnx_embedder.check_cache(d, source)[1]


def test_the_same_source_model_at_another_path_keeps_the_export(tmp_path: Path) -> None:
    d, source = _fake_cache(tmp_path)
    copy_dir = tmp_path / "other-checkout"
    copy_dir.mkdir()
    moved = onnx_embedder.SourceModel(copy_dir, copy_dir / source.weights.name, source.max_length)
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    manifest["source"]["sha256"] = sha256_file(source.weights)
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "changed" in onnx_embedder.check_cache(d, moved)[1]  # not there at all
    shutil.copyfile(source.weights, moved.weights)
    assert onnx_embedder.check_cache(d, moved)[0] is not None  # same bytes elsewhere: no re-export
    recorded = json.loads((d / "manifest.json").read_text(encoding="utf-8"))["source"]
    assert recorded["path"] == str(moved.weights) and recorded["sha256"] == sha256_file(source.weights)
    real_hash = onnx_embedder.sha256_file
    onnx_embedder.sha256_file = lambda p: pytest.fail(f"re-hashed {p} although its path and stamp were recorded")
    try:
        assert onnx_embedder.check_cache(d, moved)[0] is not None  # the next start: size and mtime only
    finally:
        onnx_embedder.sha256_file = real_hash
    with moved.weights.open("r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 1]))
    assert "changed" in onnx_embedder.check_cache(d, moved)[1]


def test_a_source_model_the_recipe_cannot_export_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}), encoding="utf-8")
    with pytest.raises(EmbeddingModelError, match="mean pooling only"):
        onnx_embedder.SourceModel.inspect(tmp_path)


def test_auto_falls_back_to_torch_with_a_note_and_onnx_raises(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    def broken(*args, **kwargs):
        raise EmbeddingModelError("export impossible here")

    monkeypatch.setattr(onnx_embedder, "load", broken)
    got = get_embedder(SPEC, 32, "auto", str(tmp_path))
    assert isinstance(got, Embedder) and got.runtime == "torch"
    assert "export impossible here" in capsys.readouterr().err
    with pytest.raises(EmbeddingModelError, match="export impossible"):
        get_embedder(SPEC, 32, "onnx", str(tmp_path))
    assert isinstance(get_embedder(SPEC, 32, "torch"), Embedder)
    with pytest.raises(EmbeddingModelError, match="embed_runtime"):
        get_embedder(SPEC, 32, "tpu")


def test_embedder_for_follows_the_settings(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr(emb, "get_embedder", lambda *args: seen.append(args) or "E")
    assert emb.embedder_for(settings.with_overrides(**{"index.embed_runtime": "torch"})) == "E"
    assert seen[0][:3] == ("citewise:embedder-v2", 32, "torch")
    assert emb.sentence_embedder_for(settings.with_overrides(**{"index.embed_runtime": "torch"})) == "E"
    assert seen[1][:3] == (SPEC, 32, "torch")
    monkeypatch.delenv("CITEWISE_INDEX__ONNX_CACHE", raising=False)
    from agent.settings import Settings

    assert emb.onnx_cache_root(Settings()) == settings.home / "models" / "onnx"


def test_a_cold_cli_search_does_not_import_torch(bundled_home: Path) -> None:
    code = (
        "import sys\n"
        "from agent.cli import app\n"
        "try:\n    app(['search', 'Which papers address false negatives?', '--json'])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'sklearn') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "CITEWISE_HOME": str(bundled_home)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr, proc.stderr
    hits = json.loads(proc.stdout)
    assert len(hits) == 10 and all({"id", "title", "score"} <= set(h) for h in hits)


def test_a_failed_export_is_not_retried_by_every_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    calls = []

    def failing_export(*args, **kwargs):
        calls.append(args)
        raise EmbeddingModelError("parity 0.9 < 0.9999")

    monkeypatch.setattr(onnx_embedder, "export", failing_export)
    with pytest.raises(EmbeddingModelError, match="parity"):
        onnx_embedder.load(SPEC, resolve_model_path(SPEC), tmp_path)
    with pytest.raises(EmbeddingModelError, match="earlier ONNX export failed.*--force"):
        onnx_embedder.load(SPEC, resolve_model_path(SPEC), tmp_path)
    assert len(calls) == 1
    # auto mode: torch, with the reason
    assert get_embedder(SPEC, 32, "auto", str(tmp_path)).runtime == "torch"
    assert "earlier ONNX export failed" in capsys.readouterr().err


# -- the fine-tuned embedder shipped in agent/models/embedder ------------------------------------
def test_bundled_embedder_verifies_and_exports_like_the_packaged_one() -> None:
    directory = resolve_model_path("citewise:embedder-v2")
    assert directory == ROOT / "agent" / "models" / "embedder"
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == "embedder-v2" and "model.safetensors" in manifest["sha256"]
    assert not (directory / "README.md").exists()  # sentence-transformers' model card quotes training rows
    vecs = get_embedder("citewise:embedder-v2", 32, "onnx", os.environ["CITEWISE_INDEX__ONNX_CACHE"]).embed(TEXTS[:2])
    base = get_embedder(SPEC, 32, "onnx", os.environ["CITEWISE_INDEX__ONNX_CACHE"]).embed(TEXTS[:2])
    assert vecs.shape == (2, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(vecs * base, axis=1))) < 0.999  # fine-tuned: not the packaged weights


def _tiny_bundle(tmp_path: Path) -> Path:
    d = tmp_path / "embedder"
    (d / "1_Pooling").mkdir(parents=True)
    (d / "model.safetensors").write_bytes(b"weights")
    (d / "1_Pooling" / "config.json").write_text('{"pooling_mode": "mean"}', encoding="utf-8")
    files = {n: sha256_file(d / n) for n in ("model.safetensors", "1_Pooling/config.json")}
    (d / "manifest.json").write_text(json.dumps({"version": "embedder-v1", "sha256": files}), encoding="utf-8")
    return d


def test_bundled_embedder_checksum_missing_and_version_errors(tmp_path: Path) -> None:
    d = _tiny_bundle(tmp_path)
    assert emb.bundled_model_path("embedder-v1", d) == d
    with pytest.raises(EmbeddingModelError, match="ships citewise:embedder-v1"):
        emb.bundled_model_path("embedder-v9", d)
    (d / "1_Pooling" / "config.json").write_text('{"pooling_mode": "cls"}', encoding="utf-8")
    with pytest.raises(EmbeddingModelError, match=r"1_Pooling/config.json is corrupt: SHA-256 .* does not match"):
        emb.bundled_model_path("embedder-v1", d)
    (d / "model.safetensors").unlink()
    with pytest.raises(EmbeddingModelError, match="model.safetensors is missing; reinstall citewise"):
        emb.bundled_model_path("embedder-v1", d)
    (d / "manifest.json").unlink()
    with pytest.raises(EmbeddingModelError, match="bundled embedder is missing"):
        emb.bundled_model_path("embedder-v1", d)


def test_sentence_level_similarity_keeps_its_own_model() -> None:
    from agent.settings import Settings

    s = Settings().with_overrides(**{"index.embed_runtime": "onnx"})
    assert s.index.embed_model == "citewise:embedder-v2" and s.index.sentence_model == SPEC
    assert emb.sentence_embedder_for(s).spec == SPEC and emb.embedder_for(s).spec == "citewise:embedder-v2"
