"""Fusing ranked lists from several retrievers into one ranking.

Two methods, chosen by ``retrieval.fusion``:

- ``rrf``: weighted reciprocal rank fusion, ``sum_r w_r / (rrf_k + rank_r)``.
  Needs no score calibration, but throws away how far ahead the top hit of
  one retriever is, so it can lose to its best input (it did on BEIR SciFact).
- ``convex``: a weighted sum of each retriever's scores, min-max normalized
  over its own candidate list (a paper missing from a list scores 0 there).
  Score-aware: a confident BM25 hit stays ahead of a paper that both
  retrievers only mildly like. The weights are learned on training queries
  (``evals/bench_retrieval.py --sweep``).
"""

from __future__ import annotations

from typing import Literal

Fusion = Literal["rrf", "convex"]
#: One retriever's output: (id, raw score) best first.
Scored = list[tuple[str, float]]


def rrf_fuse(rankings: dict[str, list[str]], weights: dict[str, float], rrf_k: int) -> list[tuple[str, float, dict[str, int]]]:
    """Fuse ranked id lists; returns (id, score, {ranking: rank}) best first, ties by id."""
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for name, ids in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, pid in enumerate(ids, start=1):
            scores[pid] = scores.get(pid, 0.0) + weight / (rrf_k + rank)
            ranks.setdefault(pid, {})[name] = rank
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(pid, score, ranks[pid]) for pid, score in ordered]


def _minmax(scored: Scored) -> dict[str, float]:
    if not scored:
        return {}
    values = [s for _, s in scored]
    hi, lo = max(values), min(values)
    span = hi - lo
    return {pid: (s - lo) / span if span > 0 else 1.0 for pid, s in scored}


def convex_fuse(lists: dict[str, Scored], weights: dict[str, float]) -> list[tuple[str, float, dict[str, int]]]:
    """Weighted sum of min-max normalized scores; returns (id, score, {list: rank}) best first, ties by id."""
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for name, scored in lists.items():
        weight = weights.get(name, 1.0)
        for rank, (pid, norm) in enumerate(_minmax(scored).items(), start=1):
            scores[pid] = scores.get(pid, 0.0) + weight * norm
            ranks.setdefault(pid, {})[name] = rank
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(pid, score, ranks[pid]) for pid, score in ordered]


def fuse(
    lists: dict[str, Scored], weights: dict[str, float], method: Fusion, rrf_k: int
) -> list[tuple[str, float, dict[str, int]]]:
    """Fuse by ``method`` ('rrf' or 'convex')."""
    if method == "rrf":
        return rrf_fuse({name: [pid for pid, _ in scored] for name, scored in lists.items()}, weights, rrf_k)
    return convex_fuse(lists, weights)
