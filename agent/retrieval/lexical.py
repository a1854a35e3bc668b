"""BM25 lexical search over titles + abstracts (the ``bm25s`` library, Snowball stemming)."""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.types import Paper


class BM25Index:
    """An in-memory BM25 index built from the stored papers (milliseconds for thousands)."""

    def __init__(self, papers: list[Paper]) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("english")
        self.ids = [p.id for p in papers]
        self._retriever: Any = None
        if papers:
            tokens = bm25s.tokenize(
                [p.embed_text for p in papers], stopwords="en", stemmer=self._stemmer, show_progress=False
            )
            self._retriever = bm25s.BM25()
            self._retriever.index(tokens, show_progress=False)
            self._vocab = set(tokens.vocab)

    def _query_tokens(self, query: str) -> list[str]:
        tokens = self._bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        return [t for t in tokens if t in self._vocab]

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """(id, BM25 score) of up to ``n`` papers with a positive score, best first."""
        if self._retriever is None:
            return []
        tokens = self._query_tokens(query)
        if not tokens:
            return []
        k = min(n, len(self.ids))
        docs, scores = self._retriever.retrieve([tokens], k=k, show_progress=False)
        out = []
        for idx, score in zip(np.asarray(docs)[0], np.asarray(scores)[0]):
            if score > 0:
                out.append((self.ids[int(idx)], float(score)))
        return out
