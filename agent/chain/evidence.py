"""Compact evidence: the sentences of each abstract that bear on the question.

A 1.5B model on two cores reads ~55-60 prompt tokens a second, so whole
abstracts for eight papers cost most of a minute before the first answer
token. Picking the sentences closest to the question (MiniLM cosine) within
a token budget, kept in abstract order with the title, keeps the answer
grounded at a fraction of the prompt.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.chain.roles import RoleModel
from agent.index.embeddings import TextEmbedder
from agent.sentences import split_sentences
from agent.types import Paper


@dataclass
class EvidenceBlock:
    """One paper's evidence, numbered as the model sees it."""

    number: int
    paper: Paper
    sentences: list[str]

    def render(self) -> str:
        body = "\n".join(self.sentences)
        return f"[{self.number}] {self.paper.title}\n{body}"


class EvidenceSelector:
    """Selects question-relevant sentences; caches sentence embeddings per paper.

    Embedding an abstract's sentences costs ~0.1-0.3 s per paper on two cores,
    more than retrieval itself, so the vectors are kept in memory and, when
    ``cache_dir`` is given, on disk (one ``.npz`` per content hash and embedder),
    so a fresh process answers without re-embedding.
    """

    def __init__(
        self, embedder: TextEmbedder, cache_dir: Path | None = None, cache_key: str = "", roles: RoleModel | None = None
    ) -> None:
        self.embedder = embedder
        self.roles = roles  # P(own work) per sentence, for the quote picker's role prior (None: no prior)
        self.cache_dir = cache_dir
        self.cache_key = re.sub(r"[^A-Za-z0-9_.-]+", "_", cache_key)
        self._cache: dict[str, tuple[str, list[str], np.ndarray]] = {}

    def _disk_path(self, paper: Paper) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{self.cache_key}-{paper.content_hash}.npz"

    def sentences(self, paper: Paper) -> tuple[list[str], np.ndarray]:
        """The abstract's sentences and their embeddings (cached by content hash)."""
        cached = self._cache.get(paper.id)
        if cached and cached[0] == paper.content_hash:
            return cached[1], cached[2]
        path = self._disk_path(paper)
        sents = vecs = None
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    sents, vecs = [str(x) for x in data["sentences"]], data["vectors"]
            except (OSError, ValueError, KeyError):  # a damaged cache file is recomputed
                sents = vecs = None
        if sents is None or vecs is None:
            sents = split_sentences(paper.abstract) or [paper.abstract]
            vecs = self.embedder.embed(sents)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
                np.savez(tmp, sentences=np.array(sents), vectors=vecs)
                os.replace(tmp, path)  # never a half-written cache file
        self._cache[paper.id] = (paper.content_hash, sents, vecs)
        return sents, vecs

    def own_work(self, paper: Paper) -> np.ndarray | None:
        """P(the sentence states the paper's own work) for each abstract sentence, or None without a role model."""
        if self.roles is None:
            return None
        return self.roles.own_work(self.sentences(paper)[1])

    def select(
        self,
        question: str,
        papers: list[Paper],
        per_paper: int,
        whole: bool = False,
        budget_tokens: int | None = None,
        count_tokens: Callable[[str], int] | None = None,
        keep_all: bool = False,
    ) -> list[EvidenceBlock]:
        """Numbered blocks of the sentences closest to ``question``, kept in abstract order.

        Without a budget: ``per_paper`` best sentences of every paper (whole
        abstracts when ``whole``). With ``budget_tokens`` (counted by
        ``count_tokens``, the model's own tokenizer): every paper's best
        sentence first, in rank order, then the remaining best sentences of
        any paper by similarity (at most ``per_paper`` each, unlimited when
        ``whole``) while the budget lasts. A paper none of whose sentences fit
        is left out (lower-ranked papers go first) unless ``keep_all`` (papers
        the user named), which keeps one sentence of each whatever the cost.
        """
        budget = math.inf if budget_tokens is None else budget_tokens
        count = count_tokens or (lambda text: len(text.split()))
        qvec = self.embedder.embed([question])[0]
        cap = None if whole else per_paper
        ranked: list[tuple[list[str], list[int], np.ndarray]] = []
        for paper in papers:
            sents, vecs = self.sentences(paper)
            scores = vecs @ qvec
            order = np.argsort(-scores, kind="stable").tolist()
            ranked.append((sents, order[:cap] if cap else order, scores))
        chosen: list[list[int]] = [[] for _ in papers]
        used = 0
        for i, (paper, (sents, order, _)) in enumerate(zip(papers, ranked, strict=True)):
            cost = count(f"[{i + 1}] {paper.title}\n") + count(sents[order[0]]) + 2
            if used + cost <= budget or keep_all or not any(chosen):
                chosen[i].append(order[0])
                used += cost
        rest = [
            (float(scores[j]), i, j)
            for i, (sents, order, scores) in enumerate(ranked)
            if chosen[i]
            for j in order[1:]
        ]
        for _, i, j in sorted(rest, key=lambda t: (-t[0], t[1], t[2])):
            cost = count(ranked[i][0][j]) + 1
            if used + cost <= budget:
                chosen[i].append(j)
                used += cost
        blocks = []
        for i, paper in enumerate(papers):
            if chosen[i]:
                sents = ranked[i][0]
                blocks.append(EvidenceBlock(len(blocks) + 1, paper, [sents[j] for j in sorted(chosen[i])]))
        return blocks

    def relevance(self, question: str, papers: list[Paper]) -> float:
        """The best cosine between the question and any sentence of ``papers`` (0 for none)."""
        if not papers:
            return 0.0
        qvec = self.embedder.embed([question])[0]
        return max(float((self.sentences(p)[1] @ qvec).max()) for p in papers)

    def best_sentence(self, text: str, paper: Paper) -> tuple[str, float]:
        """The abstract sentence closest to ``text`` and its cosine similarity."""
        sents, vecs = self.sentences(paper)
        scores = vecs @ self.embedder.embed([text])[0]
        i = int(np.argmax(scores))
        return sents[i], float(scores[i])


def render_blocks(blocks: list[EvidenceBlock]) -> str:
    """The evidence section of the prompt."""
    return "\n\n".join(b.render() for b in blocks)
