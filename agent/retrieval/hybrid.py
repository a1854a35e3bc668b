"""Hybrid retrieval: BM25 + dense (Chroma) + direct name matches, fused (:mod:`agent.retrieval.fusion`).

The default fusion is score-aware (a convex combination of normalized BM25
and cosine scores, weights learned on BEIR SciFact training queries); weighted
reciprocal rank fusion stays available (``retrieval.fusion = "rrf"``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Literal

import numpy as np

from agent.index.embeddings import embedder_for
from agent.index.store import PaperStore
from agent.retrieval.fusion import fuse
from agent.retrieval.lexical import BM25Index
from agent.retrieval.names import NameIndex, phrase_pattern
from agent.retrieval.papers import PaperMap
from agent.retrieval.snapshot import Snapshot, open_current, rebuild
from agent.settings import Settings
from agent.types import SearchHit

Method = Literal["hybrid", "bm25", "dense"]


def feedback_vector(query: Sequence[float], top: Sequence[Sequence[float]], weight: float) -> np.ndarray:
    """Rocchio pseudo-relevance feedback: the unit query vector moved toward the mean of the ``top`` papers'
    vectors by ``weight``, normalized again (the query as it was when there is no paper or no weight)."""
    q = np.asarray(query, dtype=np.float32)
    if weight <= 0 or len(top) == 0:
        return q
    moved = q / (np.linalg.norm(q) or 1.0) + weight * np.asarray(top, dtype=np.float32).mean(axis=0)
    return moved / (np.linalg.norm(moved) or 1.0)


class Retriever:
    """Search over one :class:`PaperStore`; build once per process, :meth:`refresh` after indexing.

    Opening reads no paper: the BM25 and name indexes come from the persisted snapshot
    (:mod:`agent.retrieval.snapshot`, rebuilt first when the store changed since), and the papers of the
    hits are fetched by id.
    """

    def __init__(self, store: PaperStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._rebuild_thread: threading.Thread | None = None
        self._rebuild_lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Open the lexical snapshot that matches the store now.

        When papers changed since it was built, it is rebuilt first; for a store of at least
        ``retrieval.background_rebuild_above`` papers the previous snapshot answers meanwhile and the rebuild
        runs in a background thread (:attr:`rebuilding`).
        """
        snap, stale = open_current(self.store, self.settings)
        if snap is not None and stale and snap.count >= self.settings.retrieval.background_rebuild_above:
            self._use(snap)
            self._rebuild_in_background()
        else:
            self._use(snap if snap is not None and not stale else rebuild(self.store, self.settings))

    @property
    def rebuilding(self) -> bool:
        """Whether a background rebuild of the lexical snapshot is under way."""
        thread = self._rebuild_thread
        return thread is not None and thread.is_alive()

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        thread = self._rebuild_thread
        if thread is not None:
            thread.join(timeout)

    def _use(self, snap: Snapshot) -> None:
        papers = PaperMap(self.store, snap, self.settings.retrieval.paper_cache)
        self.snapshot, self.papers = snap, papers
        self.bm25: BM25Index = snap.bm25
        self.names: NameIndex = snap.names

    def _rebuild_in_background(self) -> None:
        with self._rebuild_lock:
            if self.rebuilding:
                return

            def work() -> None:
                try:
                    self._use(rebuild(self.store, self.settings))
                except Exception as exc:  # noqa: BLE001 - the previous snapshot keeps answering
                    logging.getLogger(__name__).warning("background rebuild of the lexical index failed: %s", exc)

            self._rebuild_thread = threading.Thread(target=work, name="citewise-lexical-rebuild", daemon=True)
            self._rebuild_thread.start()

    def _query_vector(self, query: str) -> list[float]:
        return embedder_for(self.settings).embed([query])[0].tolist()

    def _dense(self, query: str, n: int) -> list[tuple[str, float]]:
        return self.store.dense_search(self._query_vector(query), n)

    def _with_feedback(self, vector: list[float], lists: dict, weights: dict, n: int) -> dict:
        """``lists`` with the dense list searched again by :func:`feedback_vector` over the first fusion's top papers."""
        cfg = self.settings.retrieval
        top = [pid for pid, _, _ in fuse(lists, weights, cfg.fusion, cfg.rrf_k)[: cfg.prf_depth]]
        vectors = self.store.embeddings(top)
        moved = feedback_vector(vector, [vectors[pid] for pid in top if pid in vectors], cfg.prf_weight)
        return {**lists, "dense": self.store.dense_search(moved.tolist(), n)}

    def mentioned_by(self, name: str) -> set[str]:
        """Ids of the papers whose title or abstract writes ``name`` (a name, or a title), any case and whatever
        joins its words ("Poly-View", "poly view"; "T-cell activation", "T cell activation"), among the first
        ``retrieval.mention_depth`` BM25 hits for it: a paper that writes a rare name ranks high for it."""
        pattern = phrase_pattern(name)
        if pattern is None:
            return set()
        hits = self.search(name, self.settings.retrieval.mention_depth, method="bm25")
        return {h.paper.id for h in hits if pattern.search(h.paper.title) or pattern.search(h.paper.abstract)}

    def search(
        self, query: str, k: int | None = None, method: Method = "hybrid", rerank: bool | None = None
    ) -> list[SearchHit]:
        """The ``k`` best papers for ``query`` by ``method`` (hybrid by default)."""
        cfg = self.settings.retrieval
        k = k or cfg.k
        if (not len(self.papers) and not self.store.count()) or not query.strip():
            return []
        if method == "bm25":
            return self._hits(self.bm25.search(query, k), "bm25")
        if method == "dense":
            return self._hits(self._dense(query, k), "dense")
        n = max(cfg.candidates, k)
        vector = self._query_vector(query)
        lists = {"bm25": self.bm25.search(query, n), "dense": self.store.dense_search(vector, n), "name": self.names.search(query)}
        weights = {"bm25": cfg.lexical_weight, "dense": cfg.dense_weight, "name": cfg.name_match_weight}
        if cfg.prf_weight > 0:
            lists = self._with_feedback(vector, lists, weights, n)
        do_rerank = cfg.rerank if rerank is None else rerank
        fused = fuse(lists, weights, cfg.fusion, cfg.rrf_k)[: max(k, cfg.rerank_top) if do_rerank else k]
        found = self.papers.get_many(pid for pid, _, _ in fused)
        raw = {name: dict(scored) for name, scored in lists.items()}
        hits = [
            SearchHit(paper=found[pid], score=score, ranks=ranks, scores={n: raw[n][pid] for n in ranks if pid in raw.get(n, {})})
            for pid, score, ranks in fused
            if pid in found
        ]
        if do_rerank:
            hits = self._rerank(query, hits)
        return hits[:k]

    def _rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        cfg = self.settings.retrieval
        if cfg.reranker == "verifier":
            from agent.faithfulness.verifier import get_verifier
            from agent.retrieval.rerank import rerank

            path = self.settings.faithfulness.verifier_path
            return rerank(query, hits, get_verifier(str(path) if path else None).score, cfg.rerank_top, cfg.rerank_weight)
        from agent.retrieval.rerank import rerank_papers
        from agent.retrieval.reranker import get_reranker

        model = get_reranker(str(cfg.reranker_path) if cfg.reranker_path else None)
        return rerank_papers(query, hits, model.score, cfg.rerank_top, cfg.rerank_weight)

    def _hits(self, scored: list[tuple[str, float]], name: str) -> list[SearchHit]:
        found = self.papers.get_many(pid for pid, _ in scored)
        return [
            SearchHit(paper=found[pid], score=score, ranks={name: rank}, scores={name: score})
            for rank, (pid, score) in enumerate(scored, start=1)
            if pid in found
        ]
