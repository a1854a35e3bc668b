"""The Chroma-backed paper store: persistent on disk, or a Chroma server.

Papers are stored with their own embeddings (from :mod:`agent.index.embeddings`;
Chroma's default embedding function would download a model) and metadata that
holds everything needed to rebuild a :class:`~agent.types.Paper`, including a
content hash. :meth:`PaperStore.sync` uses the hash so that re-indexing an
unchanged corpus embeds nothing, a changed abstract is re-embedded and a paper
removed from its source file is deleted. Writes go in small batches, each one
durable, so a killed run leaves a store that opens and a re-run that finishes
the job.

The collection's metadata names the embedding model its vectors came from
(``embed_model``). When ``index.embed_model`` names another model, searches
refuse with a message to re-index, and :meth:`PaperStore.sync` (``citewise
index``) first re-embeds every stored paper into a new collection that then
replaces the old one (a killed run leaves the old collection in place). The
two runtimes of one model (ONNX and torch) give the same vectors and need no
re-embedding.
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
from agent.index.embeddings import EmbeddingModelError, embedder_for, resolve_model_path
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


#: Suffix of the collection that a re-embedding fills before it replaces the old one.
REEMBED_SUFFIX = "-reembed"


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
        self.collection = self._open(settings.index.collection)
        if self.collection.count() == 0:
            self._finish_reembed()
        #: The model the stored vectors came from (stores made before this was checked: the configured one).
        self.stored_embed_model = str((self.collection.metadata or {}).get("embed_model") or settings.index.embed_model)

    def _open(self, name: str) -> Any:
        try:
            return self.client.get_or_create_collection(
                name=name,
                embedding_function=None,
                metadata={"hnsw:space": "cosine", "embed_model": self.settings.index.embed_model},
            )
        except Exception as exc:
            raise StoreError(f"cannot open collection {name!r}: {exc}") from exc

    # -- the embedder --------------------------------------------------------
    @property
    def embedder_changed(self) -> bool:
        """True when the stored vectors come from another model than ``index.embed_model``."""
        return self.stored_embed_model != self.settings.index.embed_model

    def check_embedder(self) -> None:
        """Raise :class:`StoreError` when stored vectors and query vectors would come from different models."""
        if self.embedder_changed:
            where = self.settings.index.chroma_url or str(self.settings.index_path)
            old = self.stored_embed_model
            try:  # only offer the old model when this install can still load it (a replaced bundled version cannot)
                resolve_model_path(old)
                keep = f", or set CITEWISE_INDEX__EMBED_MODEL={old} to keep using the old one"
            except EmbeddingModelError:
                keep = f" ({old} is not available in this install)"
            raise StoreError(
                f"the index at {where} was embedded with {old!r}, but index.embed_model is "
                f"{self.settings.index.embed_model!r}: their vectors cannot be compared. Run `citewise index` to "
                f"re-embed the stored papers with the new model{keep}"
            )

    def reembed(self, progress: Progress | None = None) -> int:
        """Re-embed every stored paper with the configured model; returns how many.

        The vectors go into a fresh collection (the new model may have another
        dimension) that replaces the old one only when complete.
        """
        name = self.settings.index.collection
        tmp_name = name + REEMBED_SUFFIX
        try:
            self.client.delete_collection(tmp_name)  # left by a killed re-embedding
        except Exception:
            pass
        got = self.collection.get(include=["metadatas"])
        ids, metas = got["ids"], got["metadatas"] or []
        # The embedded text is rebuilt from the metadata (Chroma documents are not stored: index.store_documents).
        docs = [_from_metadata(pid, meta or {}).embed_text for pid, meta in zip(ids, metas)]
        keep_docs = self.settings.index.store_documents
        target = self._open(tmp_name)
        embedder = embedder_for(self.settings)
        step = self.settings.index.add_batch_size
        if progress:
            progress(0, len(ids))
        for start in range(0, len(ids), step):
            vectors = embedder.embed([d or "" for d in docs[start : start + step]])
            target.upsert(
                ids=ids[start : start + step],
                embeddings=[v.tolist() for v in vectors],
                documents=docs[start : start + step] if keep_docs else None,
                metadatas=metas[start : start + step],
            )
            if progress:
                progress(min(start + step, len(ids)), len(ids))
        target.modify(metadata={"embed_model": self.settings.index.embed_model, "reembed_complete": True})
        self.client.delete_collection(name)
        target.modify(name=name)
        self.collection = self._open(name)
        self.stored_embed_model = self.settings.index.embed_model
        return len(ids)

    def _finish_reembed(self) -> None:
        """A run killed between dropping the old collection and renaming the new one: rename it now."""
        name = self.settings.index.collection
        try:
            done = self.client.get_collection(name + REEMBED_SUFFIX)
        except Exception:  # no such collection: the usual case
            return
        if (done.metadata or {}).get("reembed_complete"):
            self.client.delete_collection(name)
            done.modify(name=name)
            self.collection = self._open(name)

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
        """(id, cosine similarity) of the ``n`` nearest papers, best first (fewer when the store holds fewer).

        No count first: Chroma answers a short list for a small store, and counting costs about 100 ms a
        query at a million papers."""
        self.check_embedder()
        res = self.collection.query(query_embeddings=[query_embedding], n_results=n, include=["distances"])
        if not res["ids"] or not res["ids"][0]:
            return []
        return [(pid, 1.0 - float(d)) for pid, d in zip(res["ids"][0], res["distances"][0])]

    def embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        """Stored embeddings by id (used by evidence selection and the faithfulness checker)."""
        self.check_embedder()
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
        A store embedded with another model is re-embedded first (:meth:`reembed`).
        ``vectors`` (id -> embedding) are stored as given instead of embedding those papers.
        """
        if self.embedder_changed:
            self.reembed(progress)
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
            embedder = embedder_for(self.settings)
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
