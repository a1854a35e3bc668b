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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from agent.errors import StoreError
from agent.index.embeddings import embedder_for
from agent.settings import Settings
from agent.types import Paper

#: Progress callback: (papers done, papers to do).
Progress = Callable[[int, int], None]


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
        "original_title": paper.original_title,
        "original_abstract": paper.original_abstract,
        "authors": "; ".join(paper.authors),
        "source": paper.source,
        "content_hash": paper.content_hash,
    }
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
        original_title=str(meta.get("original_title", "")),
        original_abstract=str(meta.get("original_abstract", "")),
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
    """One Chroma collection of papers."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
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
            raise StoreError(
                f"the index at {where} was embedded with {self.stored_embed_model!r}, but index.embed_model is "
                f"{self.settings.index.embed_model!r}: their vectors cannot be compared. Run `citewise index` to "
                f"re-embed the stored papers with the new model, or set CITEWISE_INDEX__EMBED_MODEL="
                f"{self.stored_embed_model} to keep using the old one"
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
        got = self.collection.get(include=["documents", "metadatas"])
        ids, docs, metas = got["ids"], got["documents"] or [], got["metadatas"] or []
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
                documents=docs[start : start + step],
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

    # -- reading -----------------------------------------------------------
    def count(self) -> int:
        return int(self.collection.count())

    def _get(self, ids: list[str] | None = None) -> dict[str, Any]:
        return self.collection.get(ids=ids, include=["metadatas"])

    def all_papers(self) -> list[Paper]:
        """Every stored paper, in a stable (id) order."""
        got = self._get()
        papers = [_from_metadata(pid, meta or {}) for pid, meta in zip(got["ids"], got["metadatas"] or [])]
        return sorted(papers, key=lambda p: p.id)

    def get_papers(self, ids: Iterable[str]) -> list[Paper]:
        """Papers with these ids, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        got = self._get(wanted)
        by_id = {pid: _from_metadata(pid, meta or {}) for pid, meta in zip(got["ids"], got["metadatas"] or [])}
        return [by_id[i] for i in wanted if i in by_id]

    def dense_search(self, query_embedding: list[float], n: int) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the ``n`` nearest papers, best first."""
        total = self.count()
        if total == 0:
            return []
        self.check_embedder()
        res = self.collection.query(query_embeddings=[query_embedding], n_results=min(n, total), include=["distances"])
        return [(pid, 1.0 - float(d)) for pid, d in zip(res["ids"][0], res["distances"][0])]

    def embeddings(self, ids: list[str]) -> dict[str, list[float]]:
        """Stored embeddings by id (used by evidence selection and the faithfulness checker)."""
        self.check_embedder()
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {pid: list(vec) for pid, vec in zip(got["ids"], got["embeddings"])}

    # -- writing -----------------------------------------------------------
    def sync(self, papers: list[Paper], sources: list[str], progress: Progress | None = None) -> SyncReport:
        """Make the store hold ``papers`` for each of ``sources``; other sources are left alone.

        A paper id already stored from a different source is a conflict: reported, not overwritten.
        A store embedded with another model is re-embedded first (:meth:`reembed`).
        """
        report = SyncReport()
        if self.embedder_changed:
            self.reembed(progress)
        existing = self._get()
        stored = {pid: (meta or {}) for pid, meta in zip(existing["ids"], existing["metadatas"] or [])}
        wanted_ids = {p.id for p in papers}
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
        report.deleted = [pid for pid, meta in stored.items() if meta.get("source") in sources and pid not in wanted_ids]

        if report.deleted:
            self.collection.delete(ids=report.deleted)
        total = len(todo)
        if progress:
            progress(0, total)
        if todo:
            embedder = embedder_for(self.settings)
            step = self.settings.index.add_batch_size
            for start in range(0, total, step):
                batch = todo[start : start + step]
                vectors = embedder.embed([p.embed_text for p in batch])
                self.collection.upsert(
                    ids=[p.id for p in batch],
                    embeddings=[v.tolist() for v in vectors],
                    documents=[p.embed_text for p in batch],
                    metadatas=[_to_metadata(p) for p in batch],
                )
                if progress:
                    progress(min(start + step, total), total)
        return report

    def reset(self) -> None:
        """Delete every paper (the collection is recreated empty)."""
        self.client.delete_collection(self.settings.index.collection)
        self.__init__(self.settings, self.client)  # type: ignore[misc]


def open_store(settings: Settings) -> PaperStore:
    """Open (creating if needed) the store named by ``settings``."""
    return PaperStore(settings)
