"""The Chroma-backed paper store: persistent on disk, or a Chroma server.

Papers are stored with their own embeddings (from :mod:`agent.index.embeddings`;
Chroma's default embedding function would download a model) and metadata that
holds everything needed to rebuild a :class:`~agent.types.Paper`, including a
content hash. :meth:`PaperStore.sync` uses the hash so that re-indexing an
unchanged corpus embeds nothing, a changed abstract is re-embedded and a paper
removed from its source file is deleted. Writes go in small batches, each one
durable, so a killed run leaves a store that opens and a re-run that finishes
the job.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np

from agent.errors import StoreError
from agent.index.embeddings import get_embedder
from agent.settings import Settings
from agent.types import Paper

#: Progress callback: (papers done, papers to do).
Progress = Callable[[int, int], None]
#: The companion collection (name = collection + suffix) holding the store's generation record.
STATE_SUFFIX = "-state"
GENERATION_ID = "generation"


@dataclass
class SyncReport:
    """What one :meth:`PaperStore.sync` did, by paper id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items()}


def _to_metadata(paper: Paper) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": "; ".join(paper.authors),
        "source": paper.source,
        "content_hash": paper.content_hash,
    }
    # The original text only where it differs from the display text (most papers: a third of the bytes saved).
    if paper.original_title != paper.title:
        meta["original_title"] = paper.original_title
    if paper.original_abstract != paper.abstract:
        meta["original_abstract"] = paper.original_abstract
    if paper.year is not None:
        meta["year"] = paper.year
    if paper.url:
        meta["url"] = paper.url
    return meta


def _from_metadata(pid: str, meta: dict[str, Any]) -> Paper:
    authors = str(meta.get("authors") or "")
    return Paper(
        id=pid,
        title=str(meta.get("title", "")),
        abstract=str(meta.get("abstract", "")),
        original_title=str(meta.get("original_title", meta.get("title", ""))),
        original_abstract=str(meta.get("original_abstract", meta.get("abstract", ""))),
        year=int(meta["year"]) if meta.get("year") is not None else None,
        authors=[a for a in authors.split("; ") if a],
        url=meta.get("url"),
        source=str(meta.get("source", "")),
    )


def make_client(settings: Settings) -> Any:
    """A Chroma client: HTTP when ``index.chroma_url`` is set, else persistent on disk."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    url = settings.index.chroma_url
    try:
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            if not parsed.hostname:
                raise StoreError(f"CITEWISE_CHROMA_URL {url!r} has no host")
            return chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
        path = settings.index_path
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except StoreError:
        raise
    except Exception as exc:  # chromadb raises plain exceptions for unreachable servers
        where = url or str(settings.index_path)
        raise StoreError(f"cannot open the Chroma index at {where}: {exc}") from exc


class PaperStore:
    """One Chroma collection of papers, plus a one-record companion collection holding its generation.

    The generation is a fresh random token written before and after every change (sync, add, reset), so a
    reader can tell cheaply whether the store changed since it built its lexical index
    (:mod:`agent.retrieval.snapshot`) without reading any paper.
    """

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self._state: Any = None
        try:
            self.collection = self.client.get_or_create_collection(
                name=settings.index.collection,
                embedding_function=None,
                metadata={"hnsw:space": "cosine", "embed_model": settings.index.embed_model},
            )
        except Exception as exc:
            raise StoreError(f"cannot open collection {settings.index.collection!r}: {exc}") from exc

    # -- generation --------------------------------------------------------
    def _state_collection(self) -> Any:
        if self._state is None:
            name = f"{self.settings.index.collection}{STATE_SUFFIX}"
            self._state = self.client.get_or_create_collection(name=name, embedding_function=None)
        return self._state

    def generation(self) -> str | None:
        """The store's change token (None for a store no Citewise version with generations has written)."""
        got = self._state_collection().get(ids=[GENERATION_ID], include=["metadatas"])
        metas = got.get("metadatas") or []
        if not got["ids"] or not metas or not metas[0]:
            return None
        return str(metas[0].get("generation"))

    def bump_generation(self) -> str:
        """Record that the papers changed (or are about to); returns the new token."""
        token = f"{time.time_ns():x}-{uuid.uuid4().hex[:12]}"
        self._state_collection().upsert(ids=[GENERATION_ID], embeddings=[[0.0]], metadatas=[{"generation": token}])
        return token

    def state(self) -> tuple[str | None, int]:
        """(generation, paper count), the generation read first: what a lexical index is validated against."""
        return self.generation(), self.count()

    # -- reading -----------------------------------------------------------
    def count(self) -> int:
        return int(self.collection.count())

    def _get(self, ids: list[str] | None = None) -> dict[str, Any]:
        return self.collection.get(ids=ids, include=["metadatas"])

    def _pages(self, include: list[str], where: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        size = self.settings.index.page_size
        offset = 0
        while True:
            got = self.collection.get(where=where, limit=size, offset=offset, include=include)  # type: ignore[arg-type]
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])
            if len(got["ids"]) < size:
                return

    def iter_pages(self) -> Iterator[list[Paper]]:
        """Every stored paper, ``index.page_size`` at a time, in the store's own order."""
        for got in self._pages(["metadatas"]):
            yield [_from_metadata(pid, meta or {}) for pid, meta in zip(got["ids"], got["metadatas"] or [])]

    def all_papers(self) -> list[Paper]:
        """Every stored paper, in a stable (id) order (reads them all: for listings, not for search)."""
        papers = [p for page in self.iter_pages() for p in page]
        return sorted(papers, key=lambda p: p.id)

    def get_papers(self, ids: Iterable[str]) -> list[Paper]:
        """Papers with these ids, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        by_id = {pid: _from_metadata(pid, meta) for pid, meta in self._metadata(wanted).items()}
        return [by_id[i] for i in wanted if i in by_id]

    def _metadata(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Stored metadata by id, looked up ``index.page_size`` ids per request; unknown ids are left out."""
        size = self.settings.index.page_size
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), size):
            got = self._get(ids[start : start + size])
            out.update({pid: (meta or {}) for pid, meta in zip(got["ids"], got["metadatas"] or [])})
        return out

    def ids_from(self, sources: list[str]) -> list[str]:
        """Ids of the stored papers read from any of ``sources``."""
        if not sources:
            return []
        where = {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}
        return [pid for got in self._pages([], where) for pid in got["ids"]]

    def dense_search(self, query_embedding: list[float], n: int) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the ``n`` nearest papers, best first."""
        total = self.count()
        if total == 0:
            return []
        res = self.collection.query(query_embeddings=[query_embedding], n_results=min(n, total), include=["distances"])
        return [(pid, 1.0 - float(d)) for pid, d in zip(res["ids"][0], res["distances"][0])]

    def embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        """Stored embeddings by id (used by evidence selection and the faithfulness checker)."""
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {pid: list(vec) for pid, vec in zip(got["ids"], got["embeddings"])}

    # -- writing -----------------------------------------------------------
    def sync(
        self,
        papers: list[Paper],
        sources: list[str],
        progress: Progress | None = None,
        vectors: Mapping[str, Sequence[float]] | None = None,
    ) -> SyncReport:
        """Make the store hold ``papers`` for each of ``sources``; other sources are left alone.

        A paper id already stored from a different source is a conflict: reported, not overwritten.
        ``vectors`` (id -> embedding) are stored as given instead of embedding those papers.
        """
        report, todo = self._plan(papers, sources)
        wanted_ids = {p.id for p in papers}
        report.deleted = [pid for pid in self.ids_from(sources) if pid not in wanted_ids]
        self._apply(report, todo, progress, vectors)
        return report

    def add(
        self, papers: list[Paper], progress: Progress | None = None, vectors: Mapping[str, Sequence[float]] | None = None
    ) -> SyncReport:
        """Add or update ``papers`` and delete nothing (for streaming a large corpus in batches)."""
        report, todo = self._plan(papers, sorted({p.source for p in papers}))
        self._apply(report, todo, progress, vectors)
        return report

    def delete(self, ids: list[str]) -> None:
        """Remove papers by id (unknown ids are ignored)."""
        if ids:
            self.bump_generation()
            size = self.settings.index.page_size
            for start in range(0, len(ids), size):
                self.collection.delete(ids=ids[start : start + size])
            self.bump_generation()

    def _plan(self, papers: list[Paper], sources: list[str]) -> tuple[SyncReport, list[Paper]]:
        report = SyncReport()
        stored = self._metadata([p.id for p in papers])
        todo: list[Paper] = []
        for paper in papers:
            meta = stored.get(paper.id)
            if meta is None:
                todo.append(paper)
                report.added.append(paper.id)
            elif meta.get("source") != paper.source and meta.get("source") not in sources:
                report.conflicts.append(paper.id)
            elif meta.get("content_hash") != paper.content_hash or meta.get("source") != paper.source:
                todo.append(paper)
                report.updated.append(paper.id)
            else:
                report.unchanged.append(paper.id)
        return report, todo

    def _apply(
        self,
        report: SyncReport,
        todo: list[Paper],
        progress: Progress | None,
        vectors: Mapping[str, Sequence[float]] | None,
    ) -> None:
        if report.deleted or todo:
            self.bump_generation()  # before: a lexical index built while we write is seen as stale afterwards
        if report.deleted:
            size = self.settings.index.page_size
            for start in range(0, len(report.deleted), size):
                self.collection.delete(ids=report.deleted[start : start + size])
        total = len(todo)
        if progress:
            progress(0, total)
        step = self.settings.index.add_batch_size
        for start in range(0, total, step):
            batch = todo[start : start + step]
            self.collection.upsert(
                ids=[p.id for p in batch],
                embeddings=self._vectors(batch, vectors),
                documents=[p.embed_text for p in batch] if self.settings.index.store_documents else None,
                metadatas=[_to_metadata(p) for p in batch],
            )
            if progress:
                progress(min(start + step, total), total)
        if report.deleted or todo:
            self.bump_generation()

    def _vectors(self, batch: list[Paper], given: Mapping[str, Sequence[float]] | None) -> np.ndarray:
        """Embeddings for ``batch`` as one float32 array: the given ones, the rest embedded now."""
        given = given or {}
        missing = [p for p in batch if p.id not in given]
        made: dict[str, np.ndarray] = {}
        if missing:
            cfg = self.settings.index
            embedder = get_embedder(cfg.embed_model, cfg.embed_batch_size, cfg.embed_device)
            made = dict(zip((p.id for p in missing), embedder.embed([p.embed_text for p in missing])))
        return np.asarray([given[p.id] if p.id in given else made[p.id] for p in batch], dtype=np.float32)

    def reset(self) -> None:
        """Delete every paper (the collection is recreated empty)."""
        self.bump_generation()
        self.client.delete_collection(self.settings.index.collection)
        self.__init__(self.settings, self.client)  # type: ignore[misc]
        self.bump_generation()


def open_store(settings: Settings) -> PaperStore:
    """Open (creating if needed) the store named by ``settings``."""
    return PaperStore(settings)
