"""BM25 lexical search over titles + abstracts (the ``bm25s`` library, Snowball stemming).

An index is built from papers streamed page by page (:class:`BM25Builder`: only token ids are kept, never
the texts), saved to a directory with :meth:`BM25Index.save` and opened memory-mapped with
:meth:`BM25Index.load`, so a process with a million papers opens it in about a second and pages in only the
postings its queries touch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.types import Paper

#: Files of a saved index besides bm25s's own: the paper id of each document row.
IDS_FILE = "ids.npy"
BM25_DIR = "bm25"
#: bm25s's stopword list and the Snowball stemmer language; queries and documents use the same.
STOPWORDS = "en"
STEMMER_LANGUAGE = "english"


def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer(STEMMER_LANGUAGE)


class BM25Builder:
    """Tokenizes papers batch by batch with one growing vocabulary; :meth:`finish` builds the index."""

    def __init__(self) -> None:
        from bm25s.tokenization import Tokenizer

        self._tokenizer = Tokenizer(stopwords=STOPWORDS, stemmer=_stemmer())
        self.ids: list[str] = []
        self._docs: list[list[int]] = []

    def add(self, papers: Iterable[Paper]) -> None:
        batch = list(papers)
        texts = [p.embed_text for p in batch]
        self._docs.extend(self._tokenizer.streaming_tokenize(texts, update_vocab=True, allow_empty=False))
        self.ids.extend(p.id for p in batch)

    def finish(self) -> "BM25Index":
        index = BM25Index([])
        if self.ids:
            import bm25s

            retriever = bm25s.BM25()
            retriever.index((self._docs, self._tokenizer.get_vocab_dict()), show_progress=False)
            index._set(retriever, self.ids)
        self._docs = []
        return index


class BM25Index:
    """BM25 over papers: built in memory (``BM25Index(papers)``), or loaded from a saved directory."""

    def __init__(self, papers: list[Paper]) -> None:
        import bm25s

        self._bm25s = bm25s
        self._stemmer = _stemmer()
        self.ids: Sequence[str] = []
        self._retriever: Any = None
        self._vocab: Any = {}
        if papers:
            builder = BM25Builder()
            builder.add(papers)
            built = builder.finish()
            self._set(built._retriever, built.ids)

    def _set(self, retriever: Any, ids: Sequence[str]) -> None:
        self._retriever = retriever
        self.ids = ids
        self._vocab = retriever.vocab_dict

    def __len__(self) -> int:
        return len(self.ids)

    # -- persistence -------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write the index under ``directory`` (an empty index writes only its empty id list)."""
        directory.mkdir(parents=True, exist_ok=True)
        encoded = [pid.encode("utf-8") for pid in self.ids]
        width = max((len(b) for b in encoded), default=1)
        np.save(directory / IDS_FILE, np.array(encoded, dtype=f"S{width}"))
        if self._retriever is not None:
            self._retriever.save(str(directory / BM25_DIR), show_progress=False)

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> "BM25Index":
        """Open a saved index; with ``mmap`` its arrays stay on disk and are paged in on use."""
        import bm25s

        index = cls([])
        ids = np.load(directory / IDS_FILE, mmap_mode="r" if mmap else None)
        if len(ids):
            retriever = bm25s.BM25.load(str(directory / BM25_DIR), mmap=mmap, show_progress=False)
            index._set(retriever, _IdColumn(ids))
        return index

    # -- search ------------------------------------------------------------
    def _query_tokens(self, query: str) -> list[str]:
        tokens = self._bm25s.tokenize(
            [query], stopwords=STOPWORDS, stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        return [t for t in tokens if t in self._vocab]

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        """(id, BM25 score) of up to ``n`` papers with a positive score, best first (ties: index order).

        The scores are bm25s's (its index arrays), summed with one ``np.bincount`` over the query words'
        postings, and the top ``n`` are picked among the papers that have any of them. bm25s's own
        ``retrieve`` adds postings with ``np.add.at`` and picks with ``np.argpartition`` over every paper:
        up to 260 ms a query at a million papers, where most scores are zero; this takes about 15 ms.
        """
        if self._retriever is None or n <= 0:
            return []
        tokens = self._query_tokens(query)
        if not tokens:
            return []
        scores = self._scores(np.asarray(self._retriever.get_tokens_ids(tokens), dtype=np.int64))
        hit = np.flatnonzero(scores > 0)
        if len(hit) > n:
            hit = hit[np.argpartition(-scores[hit], n - 1)[:n]]
        best = hit[np.lexsort((hit, -scores[hit]))]
        return [(self.ids[int(i)], float(scores[i])) for i in best]

    def _scores(self, token_ids: np.ndarray) -> np.ndarray:
        """Every paper's BM25 score for these query token ids (a repeated word counts again, as in bm25s)."""
        index = self._retriever.scores
        indptr, indices, data = index["indptr"], index["indices"], index["data"]
        starts, ends = indptr[token_ids], indptr[token_ids + 1]
        docs = np.concatenate([indices[s:e] for s, e in zip(starts, ends)])
        weights = np.concatenate([data[s:e] for s, e in zip(starts, ends)])
        scores = np.bincount(docs, weights=weights, minlength=int(index["num_docs"]))
        if self._retriever.nonoccurrence_array is not None:  # BM25L / BM25+ (not the method we build)
            scores += self._retriever.nonoccurrence_array[token_ids].sum()
        return scores


class _IdColumn(Sequence[str]):
    """Paper ids of a loaded index, decoded on access from a memory-mapped byte array."""

    def __init__(self, raw: np.ndarray) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [b.decode("utf-8") for b in self._raw[i]]
        return bytes(self._raw[i]).decode("utf-8")
