"""Hybrid lexical + dense retrieval with direct name matching."""

from __future__ import annotations

from agent.index import ensure_indexed, open_store
from agent.retrieval.fusion import rrf_fuse
from agent.retrieval.hybrid import Method, Retriever
from agent.settings import Settings


def open_retriever(settings: Settings, auto_index: bool = True) -> Retriever:
    """A retriever over the configured store; indexes the bundled corpus on first use."""
    store = open_store(settings)
    if auto_index:
        ensure_indexed(store, settings)
    return Retriever(store, settings)


__all__ = ["Method", "Retriever", "open_retriever", "rrf_fuse"]
