"""The learned search re-ranker: shipped weights load only when their SHA-256 matches, the blend keeps
the candidates beyond the re-ranked head in place, and on a real store it lifts the paper a query is about."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.retrieval.rerank import rerank_papers
from agent.retrieval.reranker import PACKAGED_DIR, Reranker, RerankerError, get_reranker
from agent.types import Paper, SearchHit


def hit(pid: str, score: float, title: str = "", abstract: str = "") -> SearchHit:
    return SearchHit(paper=Paper(id=pid, title=title or pid, abstract=abstract or pid, original_title=title or pid), score=score)


def test_packaged_manifest_names_model_data_and_checksums() -> None:
    import json

    manifest = json.loads((PACKAGED_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"].startswith("reranker-") and manifest["training_data"]["sources"]
    assert set(manifest["sha256"]) == {"model.onnx", "tokenizer.json"}
    assert (PACKAGED_DIR / "model.onnx").stat().st_size < 50 * 2**20


def test_missing_or_corrupt_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RerankerError, match="not found"):
        Reranker(tmp_path / "nowhere")
    copy = tmp_path / "r"
    shutil.copytree(PACKAGED_DIR, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(RerankerError, match="corrupt"):
        Reranker(copy)
    (copy / "model.onnx").unlink()
    with pytest.raises(RerankerError, match="missing.*model.onnx"):
        Reranker(copy)


def test_blend_reorders_the_head_only() -> None:
    hits = [hit("a", 0.9), hit("b", 0.8), hit("c", 0.7), hit("d", 0.1)]
    # the re-ranker prefers c strongly; d is outside the head of 3 and must stay last
    out = rerank_papers("q", hits, lambda q, texts: [0.0 if t.startswith("a") else 1.0 if t.startswith("b") else 9.0 for t in texts], 3, 0.8)
    assert [h.paper.id for h in out] == ["c", "a", "b", "d"]  # a: 0.2, b: 0.19, c: 0.8
    assert out[0].ranks["rerank"] == 1 and "rerank" not in out[-1].ranks
    # weight 0: the fusion order stands
    assert [h.paper.id for h in rerank_papers("q", hits, lambda q, t: [5.0] * len(t), 3, 0.0)] == ["a", "b", "c", "d"]
    assert rerank_papers("q", [], lambda q, t: [], 3, 0.5) == []


def test_scores_the_paper_a_query_is_about_above_unrelated_ones() -> None:
    model = get_reranker(None)
    papers = [
        "Aspirin and colorectal cancer. Daily low-dose aspirin reduced the incidence of colorectal adenomas in a randomized trial.",
        "Graph neural networks for molecules. We propose a message-passing network that predicts molecular properties.",
        "Sleep and memory. Slow-wave sleep consolidates declarative memories in young adults.",
    ]
    logits = model.score("Aspirin lowers the risk of colorectal adenomas.", papers)
    assert logits.shape == (3,) and int(logits.argmax()) == 0
    assert model.score("q", []).shape == (0,)


def test_search_with_rerank_uses_the_cross_encoder(bundled_home) -> None:
    from agent.retrieval import open_retriever
    from agent.settings import Settings

    bundled_retriever = open_retriever(Settings(home=bundled_home).with_overrides(**{"retrieval.reranker": "cross-encoder"}), auto_index=False)
    plain = bundled_retriever.search("contrastive sentence embeddings with false negatives", 10)
    reranked = bundled_retriever.search("contrastive sentence embeddings with false negatives", 10, rerank=True)
    assert len(reranked) == len(plain) == 10
    assert all("rerank" in h.ranks for h in reranked)
    assert {h.paper.id for h in reranked} <= {h.paper.id for h in bundled_retriever.search("contrastive sentence embeddings with false negatives", 20)}
