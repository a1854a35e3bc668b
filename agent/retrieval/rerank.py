"""Optional re-ranking of the fused candidates: by the learned re-ranker, or by the claim verifier.

``retrieval.reranker = "cross-encoder"`` (:func:`rerank_papers`): the
cross-encoder of :mod:`agent.retrieval.reranker` reads the query with each of
the top ``retrieval.rerank_top`` papers (title and abstract) and gives one
relevance logit per paper; one model call per candidate.

``retrieval.reranker = "verifier"`` (:func:`rerank`): for a claim-like query (a sentence to find support for — SciFact claims, a
draft's sentence in ``citewise audit``) the verifier's P(this abstract
sentence supports the query) is a sharper relevance signal than BM25 or
cosine similarity. Each of the top ``retrieval.rerank_top`` candidates gets
the verifier's best score over its title and abstract sentences; the final
score blends it with the min-max normalized fusion score
(``retrieval.rerank_weight`` on the verifier). Costs one verifier call per
sentence of each candidate (~10 per abstract), hence off by default.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.sentences import split_sentences
from agent.types import SearchHit

#: (evidence, claim) pairs -> P(support), e.g. :meth:`agent.faithfulness.verifier.Verifier.score`.
ScoreFn = Callable[[list[tuple[str, str]]], "list[float] | object"]


def rerank(query: str, hits: list[SearchHit], score: ScoreFn, top: int, weight: float) -> list[SearchHit]:
    """``hits`` with the first ``top`` re-ordered by the blended score (the rest keep their order after them)."""
    head, tail = hits[:top], hits[top:]
    if not head:
        return hits
    units = [[h.paper.title, *split_sentences(h.paper.abstract)] for h in head]
    pairs = [(u, query) for us in units for u in us]
    probs = list(score(pairs))  # type: ignore[arg-type]
    best, i = [], 0
    for us in units:
        best.append(max(probs[i : i + len(us)], default=0.0))
        i += len(us)
    return _blend(head, [float(p) for p in best], weight) + tail


#: (query, paper texts) -> one relevance score per paper, e.g. :meth:`agent.retrieval.reranker.Reranker.score`.
PaperScoreFn = Callable[[str, list[str]], "list[float] | object"]


def paper_text(hit: SearchHit) -> str:
    """What the cross-encoder reads of a paper: its title, then its abstract."""
    return f"{hit.paper.title}. {hit.paper.abstract}"


def rerank_papers(query: str, hits: list[SearchHit], score: PaperScoreFn, top: int, weight: float) -> list[SearchHit]:
    """``hits`` with the first ``top`` re-ordered by the cross-encoder's score (min-max normalized over them)
    blended with the normalized fusion score; the rest keep their order after them."""
    head, tail = hits[:top], hits[top:]
    if not head:
        return hits
    return _blend(head, _minmax([float(x) for x in score(query, [paper_text(h) for h in head])]), weight) + tail  # type: ignore[union-attr]


def _minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [(v - lo) / (hi - lo) if hi > lo else 1.0 for v in values]


def _blend(head: list[SearchHit], relevance: list[float], weight: float) -> list[SearchHit]:
    norm = _minmax([h.score for h in head])
    blended = [weight * p + (1 - weight) * n for p, n in zip(relevance, norm)]
    order = sorted(range(len(head)), key=lambda j: -blended[j])
    return [head[j].model_copy(update={"score": blended[j], "ranks": {**head[j].ranks, "rerank": r + 1}}) for r, j in enumerate(order)]
