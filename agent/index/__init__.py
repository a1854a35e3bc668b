"""The paper index: Chroma storage with our own embeddings, and the indexing job."""

from __future__ import annotations

from pathlib import Path

from agent.index.store import PaperStore, Progress, SyncReport, open_store
from agent.ingest import LoadResult, load_corpus
from agent.settings import Settings


def index_corpus(
    store: PaperStore, paths: list[Path] | None, settings: Settings, progress: Progress | None = None
) -> tuple[LoadResult, SyncReport]:
    """Read ``paths`` (the bundled corpus when empty) and sync them into ``store``."""
    loaded = load_corpus(paths, settings.index.max_file_mb)
    report = store.sync(loaded.papers, loaded.sources, progress)
    if report.added or report.updated or report.deleted:
        refresh_lexical(store, settings)
    return loaded, report


def refresh_lexical(store: PaperStore, settings: Settings) -> None:
    """Rebuild the persisted BM25 and name indexes after a write, so the next process starts on fresh ones."""
    from agent.retrieval.snapshot import build_snapshot

    build_snapshot(store, settings)


def ensure_indexed(store: PaperStore, settings: Settings) -> SyncReport | None:
    """Index the bundled corpus when the store is empty (first run); otherwise do nothing."""
    if store.count() > 0:
        return None
    return index_corpus(store, None, settings)[1]


__all__ = ["PaperStore", "SyncReport", "ensure_indexed", "index_corpus", "open_store", "refresh_lexical"]
