"""The Chroma index: incremental sync, interrupted runs, and both client modes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import chroma_run, free_port

from agent.index import index_corpus, open_store
from agent.settings import Settings

ABSTRACT = "We propose a graph method for recommendation that improves recall by 4.6% on three public datasets."


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


def rows(n: int, tweak: int | None = None) -> list[dict]:
    out = []
    for i in range(n):
        abstract = f"{ABSTRACT} Paper number {i}."
        if i == tweak:
            abstract += " A changed sentence."
        out.append({"title": f"Test paper {i}", "abstract": abstract, "id": f"t{i}"})
    return out


def test_incremental_sync_adds_updates_deletes(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(settings)
    f = jsonl(tmp_path / "c.jsonl", rows(5))
    _, report = index_corpus(store, [f], settings)
    assert report.summary()["added"] == 5 and store.count() == 5

    # Unchanged corpus: nothing is embedded at all.
    import agent.index.store as store_mod

    def no_embedder(*a, **k):
        raise AssertionError("re-index of an unchanged corpus must not embed")

    monkeypatch.setattr(store_mod, "embedder_for", no_embedder)
    _, report = index_corpus(open_store(settings), [f], settings)
    assert report.summary() == {"added": 0, "updated": 0, "unchanged": 5, "deleted": 0, "conflicts": 0}
    monkeypatch.undo()
    os.environ["CITEWISE_HOME"] = str(settings.home)

    # One abstract changed, one paper removed.
    f = jsonl(tmp_path / "c.jsonl", rows(4, tweak=2))
    _, report = index_corpus(open_store(settings), [f], settings)
    assert report.updated == ["t2"] and report.deleted == ["t4"] and len(report.unchanged) == 3
    papers = {p.id: p for p in open_store(settings).all_papers()}
    assert set(papers) == {"t0", "t1", "t2", "t3"}
    assert papers["t2"].abstract.endswith("A changed sentence.")


def test_other_sources_are_left_alone_and_conflicts_reported(settings: Settings, tmp_path: Path) -> None:
    store = open_store(settings)
    a = jsonl(tmp_path / "a.jsonl", rows(2))
    b = jsonl(tmp_path / "b.jsonl", [{"title": "Other", "abstract": ABSTRACT, "id": "t0"}, {"title": "New", "abstract": ABSTRACT, "id": "n1"}])
    index_corpus(store, [a], settings)
    _, report = index_corpus(store, [b], settings)
    assert report.conflicts == ["t0"] and report.added == ["n1"]
    assert {p.id for p in store.all_papers()} == {"t0", "t1", "n1"}
    assert store.get_papers(["t0"])[0].title == "Test paper 0"


KILL_SCRIPT = """
import sys, time
from pathlib import Path
import agent.index.store as store_mod
from agent.index import index_corpus, open_store
from agent.settings import Settings
orig = store_mod.PaperStore.sync
s = Settings()
store = open_store(s)
real_upsert = store.collection.upsert
calls = 0
def slow_upsert(**kw):
    global calls
    real_upsert(**kw)
    calls += 1
    print("batch", calls, flush=True)
    time.sleep(30)
store.collection.upsert = slow_upsert
index_corpus(store, [Path(sys.argv[1])], s)
"""


def test_kill_minus_9_midway_leaves_an_index_that_opens_and_a_rerun_completes(settings: Settings, tmp_path: Path) -> None:
    f = jsonl(tmp_path / "c.jsonl", rows(10))
    env = {**os.environ, "CITEWISE_HOME": str(settings.home), "CITEWISE_INDEX__ADD_BATCH_SIZE": "4"}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(f)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # first batch written, process now sleeping
    assert line.startswith("batch 1"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    store = open_store(settings)
    assert store.count() == 4  # the batch that finished is there, nothing half-written
    _, report = index_corpus(store, [f], settings)
    assert len(report.added) == 6 and len(report.unchanged) == 4
    assert open_store(settings).count() == 10


@pytest.fixture
def chroma_server(tmp_path: Path):
    """A real `chroma run` server on loopback."""
    with chroma_run(tmp_path / "server-data", stop_timeout_s=20) as url:
        yield url


@pytest.mark.slow
def test_http_client_against_real_chroma_server(chroma_server: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEWISE_CHROMA_URL", chroma_server)
    s = Settings()
    assert s.index.chroma_url == chroma_server
    store = open_store(s)
    f = jsonl(tmp_path / "c.jsonl", rows(3))
    _, report = index_corpus(store, [f], s)
    assert len(report.added) == 3
    assert not (home / "chroma").exists()  # nothing written to the local store
    from agent.retrieval import open_retriever

    hits = open_retriever(s, auto_index=False).search("graph recommendation paper number 1", 3)
    assert {h.paper.id for h in hits} == {"t0", "t1", "t2"}
    _, report = index_corpus(open_store(s), [f], s)
    assert len(report.unchanged) == 3


def test_unreachable_server_is_a_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.errors import StoreError

    monkeypatch.setenv("CITEWISE_CHROMA_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="cannot"):
        open_store(Settings())
