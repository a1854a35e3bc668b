"""The paper index: Chroma storage with our own embeddings, and the indexing job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.index.store import PaperStore, Progress, SyncReport, open_store
from agent.ingest import LoadResult, Problem, load_corpus
from agent.settings import Settings


def index_corpus(
    store: PaperStore, paths: list[Path] | None, settings: Settings, progress: Progress | None = None
) -> tuple[LoadResult, SyncReport]:
    """Read ``paths`` (the bundled corpus when empty) and sync them into ``store``."""
    from agent.ingest.loader import Deduper
    from agent.ingest.stream import streamable

    dedupe = Deduper()
    streamed = [Path(p) for p in paths or [] if streamable(Path(p), settings.index.stream_above_mb)]
    rest = [p for p in paths or [] if Path(p) not in streamed]
    loaded = load_corpus(rest or None, settings.index.max_file_mb, dedupe) if rest or not paths else LoadResult()
    report = store.sync(loaded.papers, loaded.sources, progress)
    for path in streamed:
        _index_stream(store, path, settings, dedupe, loaded, report, progress)
    if report.added or report.updated or report.deleted:
        refresh_lexical(store, settings)
    return loaded, report


def _index_stream(
    store: PaperStore,
    path: Path,
    settings: Settings,
    dedupe: Any,
    loaded: LoadResult,
    report: SyncReport,
    progress: Progress | None,
) -> None:
    """Write a large JSONL/CSV file chunk by chunk as it is read; then delete its papers no longer in it."""
    from agent.ingest.stream import stream_papers

    source = str(path)
    size = max(1, path.stat().st_size)
    wanted: set[str] = set()
    problems: list = []
    done = 0
    for chunk in stream_papers(path, settings.index.page_size, dedupe, problems):
        part = store.add(chunk)
        for name in ("added", "updated", "unchanged", "conflicts"):
            getattr(report, name).extend(getattr(part, name))
        wanted.update(p.id for p in chunk)
        done += len(chunk)
        loaded.streamed += len(chunk)
        if progress:
            read = sum(len(p.embed_text) for p in chunk) * done / len(chunk)  # bytes so far, roughly
            progress(done, max(done, int(done * size / max(read, 1.0))))
    loaded.problems.extend(problems)
    if any(p.kind == "rejected_file" for p in problems) or (done == 0 and not problems):
        if done == 0 and not problems:
            loaded.problems.append(Problem(source, None, "rejected_file", "no entries found"))
        loaded.rejected_sources.append(source)
        return
    loaded.sources.append(source)
    gone = [pid for pid in store.ids_from([source]) if pid not in wanted]
    store.delete(gone)
    report.deleted.extend(gone)


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
