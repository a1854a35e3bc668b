"""Compact evidence: the sentences of each abstract that bear on the question.

A 1.5B model on two cores reads ~45 prompt tokens a second, so whole
abstracts for eight papers cost most of a minute before the first answer
token. Picking the few sentences closest to the question (MiniLM cosine),
kept in abstract order with the title, keeps the answer grounded at a
fraction of the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.index.embeddings import Embedder
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
    """Selects question-relevant sentences; caches sentence embeddings per paper."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._cache: dict[str, tuple[str, list[str], np.ndarray]] = {}

    def sentences(self, paper: Paper) -> tuple[list[str], np.ndarray]:
        """The abstract's sentences and their embeddings (cached by content hash)."""
        cached = self._cache.get(paper.id)
        if cached and cached[0] == paper.content_hash:
            return cached[1], cached[2]
        sents = split_sentences(paper.abstract) or [paper.abstract]
        vecs = self.embedder.embed(sents)
        self._cache[paper.id] = (paper.content_hash, sents, vecs)
        return sents, vecs

    def select(self, question: str, papers: list[Paper], per_paper: int, whole: bool = False) -> list[EvidenceBlock]:
        """Numbered blocks: ``per_paper`` best sentences each, or whole abstracts when ``whole``."""
        blocks: list[EvidenceBlock] = []
        qvec = self.embedder.embed([question])[0] if not whole else None
        for number, paper in enumerate(papers, start=1):
            sents, vecs = self.sentences(paper)
            if whole or qvec is None or len(sents) <= per_paper:
                chosen = sents
            else:
                scores = vecs @ qvec
                keep = sorted(np.argsort(-scores)[:per_paper].tolist())
                chosen = [sents[i] for i in keep]
            blocks.append(EvidenceBlock(number, paper, chosen))
        return blocks

    def best_sentence(self, text: str, paper: Paper) -> tuple[str, float]:
        """The abstract sentence closest to ``text`` and its cosine similarity."""
        sents, vecs = self.sentences(paper)
        scores = vecs @ self.embedder.embed([text])[0]
        i = int(np.argmax(scores))
        return sents[i], float(scores[i])


def render_blocks(blocks: list[EvidenceBlock]) -> str:
    """The evidence section of the prompt."""
    return "\n\n".join(b.render() for b in blocks)
