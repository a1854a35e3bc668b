"""Optional re-ranking of the fused candidates by the learned claim verifier.

For a claim-like query (a sentence to find support for — SciFact claims, a
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
    fused = [h.score for h in head]
    lo, hi = min(fused), max(fused)
    norm = [(f - lo) / (hi - lo) if hi > lo else 1.0 for f in fused]
    blended = [weight * float(p) + (1 - weight) * n for p, n in zip(best, norm)]
    order = sorted(range(len(head)), key=lambda j: -blended[j])
    out = [head[j].model_copy(update={"score": blended[j], "ranks": {**head[j].ranks, "rerank": r + 1}}) for r, j in enumerate(order)]
    return out + tail
