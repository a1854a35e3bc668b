"""The lexical snapshot: BM25 and name indexes persisted next to the store, so no process reads every paper.

A snapshot is a directory ``<lexical_path>/<collection>-<digest of the store>/build-*`` (a server's
collection by its id, an on-disk store by its path) holding
the bm25s index (memory-mapped on open), a read-only SQLite file with the name and title index and the set
of indexed ids, and ``manifest.json``, written last, with the store's generation and paper count as read
before the build (:meth:`agent.index.store.PaperStore.state`). ``current``, a symlink replaced atomically
(``os.replace``), names the snapshot in use: readers never see a half-written one, and a reader that opened
the previous one keeps its open files after it is removed.

:func:`open_current` opens ``current`` and says whether its manifest still matches the store's state;
:func:`rebuild` makes a new one when it does not (a paper was added, changed or removed since, by this
process or any other client of the same Chroma server). The indexing commands rebuild right after they write, so other processes start on a fresh one.
One process builds at a time: a build holds ``.build.lock`` (``flock``), and a process that waited for it
opens the snapshot the other one built when it matches the store, instead of building its own.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.index.store import PaperStore
from agent.ingest.normalize import title_key
from agent.retrieval.lexical import BM25Builder, BM25Index
from agent.retrieval.names import NameIndex, paper_names
from agent.settings import Settings
from agent.types import Paper

#: Bumped when the files of a snapshot change shape; an older snapshot is rebuilt (2: the name index holds the
#: initials of abstracts' capitalised names, agent.retrieval.names.name_initialisms; 3: names introduced as "we
#: propose X"; 4: "we present a new framework X", "X (long form)").
FORMAT = 4
MANIFEST = "manifest.json"
CURRENT = "current"
NAMES_DB = "names.sqlite"
LEXICAL_DIR = "lexical"
BUILD_PREFIX = "build-"
#: An unfinished build directory (no manifest) older than this was left by a killed process: removed.
ABANDONED_BUILD_S = 6 * 3600
#: The lock file a build holds (one build at a time across processes).
BUILD_LOCK = ".build.lock"
#: Builds under way in this process, removed if it exits first (a background rebuild is a daemon thread).
_IN_PROGRESS: set[Path] = set()
#: Most ``?`` parameters in one SQLite statement (SQLite's default limit is far above).
SQL_CHUNK = 500

#: Progress callback: (papers read, papers in the store).
Progress = Callable[[int, int], None]


def snapshot_root(settings: Settings, store: PaperStore) -> Path:
    """The directory of the snapshots of ``store`` (the collection ``settings`` name).

    A Chroma server's collection is known by its id, so the same server reached under another URL
    (``localhost`` or ``127.0.0.1``, another port behind a proxy) shares one snapshot instead of building
    its own (11 minutes at a million papers); an on-disk store by its path."""
    if settings.index.chroma_url:
        where = f"chroma-collection:{store.collection.id}"
    else:
        where = str(settings.index_path.expanduser().resolve())
    digest = hashlib.blake2b(f"{where}\n{settings.index.collection}".encode(), digest_size=6).hexdigest()
    return settings.lexical_path / f"{settings.index.collection}-{digest}"


class StoredNameIndex(NameIndex):
    """The :class:`NameIndex` lookups answered from a snapshot's SQLite file (opened read-only, immutable)."""

    def __init__(self, db: "SnapshotDB", max_title_words: int) -> None:
        super().__init__([])
        self.db = db
        self.max_title_words = max_title_words

    def lookup_names(self, keys: list[str]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for key, pid, strength in self.db.select("SELECT key, id, strength FROM names WHERE key IN ({})", keys):
            out.setdefault(key, {})[pid] = strength
        return out

    def lookup_titles(self, keys: list[str]) -> dict[str, str]:
        return dict(self.db.select("SELECT key, id FROM titles WHERE key IN ({})", keys))


class SnapshotDB:
    """A read-only connection to a snapshot's SQLite file, shared by threads."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    def select(self, sql: str, values: list[str]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            for start in range(0, len(values), SQL_CHUNK):
                chunk = values[start : start + SQL_CHUNK]
                rows.extend(self._conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall())
        return rows

    def has(self, pid: str) -> bool:
        return bool(self.select("SELECT 1 FROM papers WHERE id IN ({})", [pid]))

    def ids(self) -> Iterable[str]:
        with self._lock:
            rows = self._conn.execute("SELECT id FROM papers ORDER BY id").fetchall()
        return [r[0] for r in rows]


@dataclass
class Snapshot:
    """An opened snapshot: what :class:`agent.retrieval.hybrid.Retriever` searches."""

    path: Path
    manifest: dict[str, Any]
    bm25: BM25Index
    names: StoredNameIndex
    db: SnapshotDB

    @property
    def count(self) -> int:
        return int(self.manifest["papers"])

    def fresh_for(self, state: tuple[str | None, int]) -> bool:
        return _matches(self.manifest, state)


def _matches(manifest: dict[str, Any], state: tuple[str | None, int]) -> bool:
    generation, count = state
    return manifest.get("format") == FORMAT and manifest.get("generation") == generation and manifest.get("count") == count


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_names(path: Path, pages: Iterable[list[Paper]], builder: BM25Builder, progress: Progress | None, total: int) -> tuple[int, int]:
    """Write the SQLite file while feeding ``builder``; returns (papers, longest title in words)."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
        "CREATE TABLE papers (id TEXT PRIMARY KEY) WITHOUT ROWID;"
        "CREATE TABLE titles (key TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE names (key TEXT NOT NULL, id TEXT NOT NULL, strength REAL NOT NULL);"
    )
    done = max_words = 0
    for page in pages:
        builder.add(page)
        keys = [(title_key(p.title), p.id) for p in page]
        max_words = max([max_words, *(len(k.split()) for k, _ in keys)])
        conn.executemany("INSERT OR IGNORE INTO papers VALUES (?)", [(p.id,) for p in page])
        conn.executemany("INSERT OR REPLACE INTO titles VALUES (?, ?)", keys)
        conn.executemany(
            "INSERT INTO names VALUES (?, ?, ?)", [(k, p.id, s) for p in page for k, s in paper_names(p).items()]
        )
        done += len(page)
        if progress:
            progress(done, total)
    conn.execute("CREATE INDEX names_key ON names (key)")
    conn.commit()
    conn.close()
    return done, max_words


@atexit.register
def _remove_unfinished() -> None:
    for path in list(_IN_PROGRESS):
        shutil.rmtree(path, ignore_errors=True)


def build_snapshot(store: PaperStore, settings: Settings, progress: Progress | None = None) -> Path:
    """Make ``current`` match the store: a new snapshot read page by page (older ones dropped), or the one
    another process finished while this one waited for the build lock. Returns its path."""
    root = snapshot_root(settings, store)
    root.mkdir(parents=True, exist_ok=True)
    with (root / BUILD_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = store.state()  # before reading: a write during the build leaves the snapshot stale, not wrong
            done = current_snapshot(settings, store)
            if done is not None and done.fresh_for(state):
                return done.path
            return _build(store, settings, root, state, progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(store: PaperStore, settings: Settings, root: Path, state: tuple[str | None, int], progress: Progress | None) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX, dir=root))
    _IN_PROGRESS.add(tmp)
    try:
        builder = BM25Builder()
        papers, max_words = _write_names(tmp / NAMES_DB, store.iter_pages(), builder, progress, state[1])
        builder.finish().save(tmp)
        manifest = {
            "format": FORMAT,
            "generation": state[0],
            "count": state[1],
            "papers": papers,
            "max_title_words": max_words,
            "collection": settings.index.collection,
            "store": settings.index.chroma_url or str(settings.index_path),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        link = root / f".{CURRENT}-{uuid.uuid4().hex}"
        os.symlink(tmp.name, link)
        os.replace(link, root / CURRENT)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _IN_PROGRESS.discard(tmp)
    _remove_old(root, keep=tmp.name)
    return tmp


def _remove_old(root: Path, keep: str) -> None:
    now = time.time()
    current = os.path.basename(os.readlink(root / CURRENT)) if (root / CURRENT).is_symlink() else keep
    for path in root.glob(f"{BUILD_PREFIX}*"):
        if path.name in (keep, current) or not path.is_dir():
            continue
        finished = (path / MANIFEST).exists()
        if finished or now - path.stat().st_mtime > ABANDONED_BUILD_S:
            shutil.rmtree(path, ignore_errors=True)


def load_snapshot(path: Path) -> Snapshot | None:
    """Open the snapshot at ``path``; None when it is missing, unfinished or of another format."""
    manifest = _read_manifest(path)
    if manifest is None or manifest.get("format") != FORMAT:
        return None
    try:
        db = SnapshotDB(path / NAMES_DB)
        bm25 = BM25Index.load(path)
    except (OSError, ValueError, sqlite3.Error):
        return None
    return Snapshot(path, manifest, bm25, StoredNameIndex(db, int(manifest.get("max_title_words", 0))), db)


def current_snapshot(settings: Settings, store: PaperStore) -> Snapshot | None:
    """The snapshot ``current`` names, whatever the store's state (None when there is none)."""
    link = snapshot_root(settings, store) / CURRENT
    if not link.exists():
        return None
    return load_snapshot(link.resolve())


def open_current(store: PaperStore, settings: Settings) -> tuple[Snapshot | None, bool]:
    """The current snapshot (None when there is none) and whether the store changed since it was built."""
    snap = current_snapshot(settings, store)
    return snap, snap is None or not snap.fresh_for(store.state())


def rebuild(store: PaperStore, settings: Settings, progress: Progress | None = None) -> Snapshot:
    """Build (or wait for another process's build of) the snapshot of the store now, and open it."""
    built = load_snapshot(build_snapshot(store, settings, progress))
    if built is None:  # pragma: no cover - only when the disk fails under us
        raise OSError(f"the lexical index just built under {snapshot_root(settings, store)} cannot be opened")
    return built
