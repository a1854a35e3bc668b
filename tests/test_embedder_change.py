"""A store embedded with one model and searched with another: refused with a clear message; `index` re-embeds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import agent.index.store as store_mod
import agent.retrieval.hybrid as hybrid_mod
from agent.errors import StoreError
from agent.index import index_corpus, open_store
from agent.index.store import REEMBED_SUFFIX
from agent.settings import Settings

ABSTRACT = "We propose a graph method for recommendation that improves recall by 4.6% on three public datasets."


class HashEmbedder:
    """Deterministic unit vectors; the dimension depends on the model name (so a change of model changes it)."""

    runtime = "fake"

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.dim = 4 if spec.endswith("a") else 8
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        out = []
        for t in texts:
            raw = hashlib.sha256((self.spec + t).encode()).digest()[: self.dim]
            v = np.frombuffer(raw, dtype=np.uint8).astype(np.float32) + 1.0
            out.append(v / np.linalg.norm(v))
        return np.array(out, dtype=np.float32)


@pytest.fixture()
def fake_embedders(monkeypatch: pytest.MonkeyPatch) -> dict[str, HashEmbedder]:
    made: dict[str, HashEmbedder] = {}

    def embedder_for(settings: Settings | None = None) -> HashEmbedder:
        spec = settings.index.embed_model if settings else "fake-a"
        return made.setdefault(spec, HashEmbedder(spec))

    monkeypatch.setattr(store_mod, "embedder_for", embedder_for)
    monkeypatch.setattr(hybrid_mod, "embedder_for", embedder_for)
    return made


def _corpus(tmp_path: Path, n: int = 5) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"t{i}", "title": f"Paper {i}", "abstract": f"{ABSTRACT} {i}."}) for i in range(n)), encoding="utf-8")
    return path


def test_search_with_another_model_is_refused_and_index_reembeds(
    settings: Settings, tmp_path: Path, fake_embedders: dict[str, HashEmbedder]
) -> None:
    a = settings.with_overrides(**{"index.embed_model": "fake-a"})
    b = settings.with_overrides(**{"index.embed_model": "fake-b"})
    corpus = _corpus(tmp_path)
    index_corpus(open_store(a), [corpus], a)
    assert open_store(a).dense_search([0.5] * 4, 3)  # same model: fine

    store = open_store(b)
    assert store.embedder_changed and store.stored_embed_model == "fake-a"
    with pytest.raises(StoreError, match=r"embedded with 'fake-a'.*'fake-b'.*citewise index.*fake-a is not available"):
        store.dense_search([0.5] * 8, 3)
    with pytest.raises(StoreError, match="citewise index"):
        store.embeddings(["t0"])

    # Re-indexing (even an unchanged corpus) re-embeds every stored paper with the new model, 8-d vectors.
    _, report = index_corpus(store, [corpus], b)
    assert report.summary()["unchanged"] == 5 and fake_embedders["fake-b"].calls == 5
    reopened = open_store(b)
    assert not reopened.embedder_changed and reopened.count() == 5
    assert {p.id for p in reopened.all_papers()} == {f"t{i}" for i in range(5)}
    assert len(reopened.embeddings(["t0"])["t0"]) == 8
    assert reopened.dense_search(fake_embedders["fake-b"].embed(["q"])[0].tolist(), 1)
    assert not any(c.name.endswith(REEMBED_SUFFIX) for c in reopened.client.list_collections())
    # The old model's settings are now the mismatched ones.
    with pytest.raises(StoreError, match="embedded with 'fake-b'"):
        open_store(a).dense_search([0.5] * 4, 3)


def test_a_reembedding_killed_after_dropping_the_old_collection_is_finished_on_open(
    settings: Settings, tmp_path: Path, fake_embedders: dict[str, HashEmbedder]
) -> None:
    a = settings.with_overrides(**{"index.embed_model": "fake-a"})
    b = settings.with_overrides(**{"index.embed_model": "fake-b"})
    index_corpus(open_store(a), [_corpus(tmp_path)], a)
    store = open_store(b)
    real_modify_calls: list[str] = []

    # Die right after the old collection is dropped, before the new one is renamed.
    original_delete = store.client.delete_collection

    def delete_then_die(name: str) -> None:
        original_delete(name)
        if name == b.index.collection:
            real_modify_calls.append(name)
            raise KeyboardInterrupt

    store.client.delete_collection = delete_then_die  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        store.reembed()
    assert real_modify_calls
    recovered = open_store(b)
    assert recovered.count() == 5 and not recovered.embedder_changed


def test_cli_search_on_a_store_of_another_model_says_what_to_do(
    settings: Settings, tmp_path: Path, fake_embedders: dict[str, HashEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.cli import app

    a = settings.with_overrides(**{"index.embed_model": "fake-a"})
    index_corpus(open_store(a), [_corpus(tmp_path)], a)
    monkeypatch.setenv("CITEWISE_INDEX__EMBED_MODEL", "fake-b")
    result = CliRunner().invoke(app, ["search", "graph recommendation"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "embedded with 'fake-a'" in text and "citewise index" in text
    result = CliRunner().invoke(app, ["index", str(tmp_path / "c.jsonl")])
    assert result.exit_code == 0, result.output
    assert "re-embedding its 5 papers with fake-b" in " ".join(result.output.split())
    assert CliRunner().invoke(app, ["search", "graph recommendation"]).exit_code == 0


def test_refusal_offers_the_old_model_only_when_this_install_can_load_it(
    settings: Settings, tmp_path: Path, fake_embedders: dict[str, HashEmbedder]
) -> None:
    old_dir = tmp_path / "old-model-a"  # a model directory on disk can still be loaded: offered
    old_dir.mkdir()
    old = settings.with_overrides(**{"index.embed_model": str(old_dir)})
    index_corpus(open_store(old), [_corpus(tmp_path)], old)
    store = open_store(settings.with_overrides(**{"index.embed_model": "fake-b"}))
    with pytest.raises(StoreError, match=f"set CITEWISE_INDEX__EMBED_MODEL={old_dir} to keep using the old one"):
        store.check_embedder()
    # A bundled version this install no longer ships (embedder-v1 after v2 replaced it) is not offered.
    assert store.stored_embed_model == str(old_dir)
    store.stored_embed_model = "citewise:embedder-v1"
    with pytest.raises(StoreError, match=r"citewise index` to re-embed .*citewise:embedder-v1 is not available in this install") as err:
        store.check_embedder()
    assert "CITEWISE_INDEX__EMBED_MODEL" not in str(err.value)
