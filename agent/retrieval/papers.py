"""The papers a retriever can return, fetched from the store by id when needed (never all at start)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

from agent.index.store import PaperStore
from agent.retrieval.snapshot import Snapshot
from agent.types import Paper


class PaperMap(Mapping[str, Paper]):
    """Id -> paper over the snapshot's ids; papers come from the store in pages and a small LRU cache.

    Membership and length are the snapshot's (no store call); :meth:`get_many` fetches all misses of one
    search in a single request. Iterating lists every id (reads the snapshot's id table, not the papers);
    ``values()``/``items()`` fetch every paper and are for small corpora and listings only.
    """

    def __init__(self, store: PaperStore, snapshot: Snapshot, cache_size: int) -> None:
        self.store = store
        self.snapshot = snapshot
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Paper] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.snapshot.count

    def __iter__(self) -> Iterator[str]:
        return iter(self.snapshot.db.ids())

    def __contains__(self, pid: object) -> bool:
        if not isinstance(pid, str):
            return False
        with self._lock:
            if pid in self._cache:
                return True
        return self.snapshot.db.has(pid)

    def __getitem__(self, pid: str) -> Paper:
        found = self.get_many([pid])
        if pid not in found:
            raise KeyError(pid)
        return found[pid]

    def items(self) -> list[tuple[str, Paper]]:  # type: ignore[override]
        """Every (id, paper), fetched a page of ids per request (not one request per paper)."""
        ids = list(self)
        size = self.store.settings.index.page_size
        out: list[tuple[str, Paper]] = []
        for start in range(0, len(ids), size):
            out.extend((p.id, p) for p in self.store.get_papers(ids[start : start + size]))
        return out

    def values(self) -> list[Paper]:  # type: ignore[override]
        return [p for _, p in self.items()]

    def get_many(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The stored papers among ``ids`` (ids no longer stored are left out)."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, Paper] = {}
        with self._lock:
            for pid in wanted:
                if pid in self._cache:
                    self._cache.move_to_end(pid)
                    out[pid] = self._cache[pid]
        missing = [pid for pid in wanted if pid not in out]
        if missing:
            fetched = self.store.get_papers(missing)
            with self._lock:
                for paper in fetched:
                    out[paper.id] = paper
                    self._cache[paper.id] = paper
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out
