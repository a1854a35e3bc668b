"""The persisted lexical snapshot (no full-corpus load per process) and streamed ingestion of big files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from agent.settings import Settings

DIM = 8


class TinyEmbedder:
    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % DIM] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.index.store as store_mod
    import agent.retrieval.hybrid as hybrid_mod

    monkeypatch.setattr(store_mod, "embedder_for", lambda *a, **k: TinyEmbedder())
    monkeypatch.setattr(hybrid_mod, "embedder_for", lambda *a, **k: TinyEmbedder())


def rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"p{i}", "title": f"Paper {i}: Method{i}Net for graphs", "abstract": f"We study topic {i} with Method{i}Net and find gains of {i}%."}
        for i in range(start, start + n)
    ]


def write(path: Path, items: list[dict], extra: list[str] = ()) -> Path:
    path.write_text("\n".join([json.dumps(r) for r in items] + list(extra)) + "\n", encoding="utf-8")
    return path


def test_snapshot_is_reused_then_rebuilt_when_another_client_writes(settings: Settings, tmp_path: Path, tiny: None) -> None:
    from agent.index import index_corpus, open_store
    from agent.retrieval import Retriever
    from agent.retrieval.snapshot import CURRENT, snapshot_root

    index_corpus(open_store(settings), [write(tmp_path / "a.jsonl", rows(5))], settings)
    first = Retriever(open_store(settings), settings)
    assert len(first.papers) == 5 and "p3" in first.papers and "nope" not in first.papers
    again = Retriever(open_store(settings), settings)
    assert again.snapshot.path == first.snapshot.path  # opened, not rebuilt

    # Another client writes without rebuilding (as an older version or a killed run would): the count and
    # generation no longer match, so the next start rebuilds.
    from agent.types import Paper

    open_store(settings).add([Paper(id="late", title="LateNet: a late paper", abstract="LateNet arrives after the snapshot.", source="x")])
    later = Retriever(open_store(settings), settings)
    assert later.snapshot.path != first.snapshot.path and len(later.papers) == 6
    # The tiny fake embedder is noise: the rebuilt lexical snapshot is what must find the late paper.
    assert later.search("What is LateNet?", 3, method="bm25")[0].paper.id == "late"
    builds = [p for p in snapshot_root(settings, open_store(settings)).iterdir() if p.name != CURRENT and not p.name.startswith(".")]
    assert len(builds) == 1  # the old snapshot was removed
    # The first retriever still answers from the snapshot it opened (its files stay readable).
    assert first.search("Method3Net", 1, method="bm25")[0].paper.id == "p3"
    # An update with the same count changes the generation: stale too.
    open_store(settings).add([Paper(id="late", title="LateNet: a late paper", abstract="LateNet now says something else.", source="x")])
    assert not later.snapshot.fresh_for(open_store(settings).state())


def test_a_big_stale_store_answers_at_once_and_rebuilds_in_the_background(settings: Settings, tmp_path: Path, tiny: None) -> None:
    from agent.index import index_corpus, open_store
    from agent.retrieval import Retriever
    from agent.types import Paper

    s = settings.with_overrides(**{"retrieval.background_rebuild_above": 3})
    index_corpus(open_store(s), [write(tmp_path / "a.jsonl", rows(5))], s)
    first = Retriever(open_store(s), s)
    open_store(s).add([Paper(id="late", title="LateNet: a late paper", abstract="LateNet arrives after the snapshot.", source="x")])
    later = Retriever(open_store(s), s)
    # It started on the previous snapshot (no wait for the build) and fetches the new paper by id already.
    assert "late" in later.papers.get_many(["late", "p1"])
    later.wait_for_rebuild(60)
    assert not later.rebuilding
    assert later.snapshot.path != first.snapshot.path and later.snapshot.fresh_for(open_store(s).state())
    assert len(later.papers) == 6
    assert later.search("What is LateNet?", 3, method="bm25")[0].paper.id == "late"
    # Below the threshold the rebuild comes first, as before.
    small = settings.with_overrides(**{"retrieval.background_rebuild_above": 100})
    open_store(small).add([Paper(id="later", title="LaterNet", abstract="LaterNet is later still.", source="x")])
    r = Retriever(open_store(small), small)
    assert not r.rebuilding and r.snapshot.fresh_for(open_store(small).state())


def test_concurrent_builds_wait_for_one_another_and_build_once(settings: Settings, tmp_path: Path, tiny: None) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from agent.index import index_corpus, open_store
    from agent.retrieval.snapshot import CURRENT, build_snapshot, snapshot_root
    from agent.types import Paper

    index_corpus(open_store(settings), [write(tmp_path / "a.jsonl", rows(5))], settings)
    open_store(settings).add([Paper(id="late", title="LateNet", abstract="LateNet arrives late.", source="x")])
    with ThreadPoolExecutor(3) as pool:  # each call opens the lock file itself, as separate processes do
        paths = list(pool.map(lambda _: build_snapshot(open_store(settings), settings), range(3)))
    assert len(set(paths)) == 1  # the later callers found the first one's snapshot fresh
    builds = [p for p in snapshot_root(settings, open_store(settings)).iterdir() if p.name != CURRENT and not p.name.startswith(".")]
    assert builds == [paths[0]]
    # A fresh snapshot is not rebuilt.
    assert build_snapshot(open_store(settings), settings) == paths[0]


def test_a_broken_snapshot_is_rebuilt(settings: Settings, tmp_path: Path, tiny: None) -> None:
    from agent.index import index_corpus, open_store
    from agent.retrieval import Retriever
    from agent.retrieval.snapshot import MANIFEST

    index_corpus(open_store(settings), [write(tmp_path / "a.jsonl", rows(4))], settings)
    snap = Retriever(open_store(settings), settings).snapshot
    (snap.path / MANIFEST).write_text("{not json", encoding="utf-8")
    r = Retriever(open_store(settings), settings)
    assert r.snapshot.path != snap.path and len(r.papers) == 4


def test_paper_map_fetches_by_id_and_lists_ids(settings: Settings, tmp_path: Path, tiny: None) -> None:
    from agent.index import index_corpus, open_store
    from agent.retrieval import Retriever

    index_corpus(open_store(settings), [write(tmp_path / "a.jsonl", rows(6))], settings)
    r = Retriever(open_store(settings), settings)
    assert sorted(r.papers) == [f"p{i}" for i in range(6)]
    assert r.papers["p2"].title.startswith("Paper 2")
    with pytest.raises(KeyError):
        r.papers["missing"]
    assert {pid: p.id for pid, p in r.papers.items()} == {f"p{i}": f"p{i}" for i in range(6)}


def test_big_jsonl_is_streamed_with_the_same_rules(settings: Settings, tmp_path: Path, tiny: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.index import index_corpus, open_store
    from agent.retrieval import Retriever

    s = settings.with_overrides(**{"index.stream_above_mb": 1e-6, "index.page_size": 3, "index.max_file_mb": 1e-6})
    items = rows(10)
    f = write(tmp_path / "big.jsonl", items, ["{broken", json.dumps(items[0])])
    seen: list[tuple[int, int]] = []
    loaded, report = index_corpus(open_store(s), [f], s, lambda d, t: seen.append((d, t)))
    assert loaded.read_count == 10 and loaded.papers == [] and loaded.sources == [str(f)]
    assert len(report.added) == 10 and seen and seen[-1][0] == 10
    kinds = sorted(p.kind for p in loaded.problems)
    assert kinds == ["duplicate", "malformed"]
    # Re-index with two papers gone: they are deleted, the rest unchanged.
    write(tmp_path / "big.jsonl", items[:8])
    loaded, report = index_corpus(open_store(s), [f], s)
    assert sorted(report.deleted) == ["p8", "p9"] and len(report.unchanged) == 8
    r = Retriever(open_store(s), s)
    assert len(r.papers) == 8 and r.search("Method5Net", 1, method="bm25")[0].paper.id == "p5"


def test_big_csv_is_streamed_and_a_bad_header_rejects_it(settings: Settings, tmp_path: Path, tiny: None) -> None:
    from agent.index import index_corpus, open_store

    s = settings.with_overrides(**{"index.stream_above_mb": 1e-6})
    good = tmp_path / "big.csv"
    good.write_text("id,title,abstract\n" + "".join(f'c{i},"Title {i}","An abstract, with a comma, number {i}."\n' for i in range(5)), encoding="utf-8")
    loaded, report = index_corpus(open_store(s), [good], s)
    assert loaded.read_count == 5 and len(report.added) == 5
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n", encoding="utf-8")
    loaded, report = index_corpus(open_store(s), [bad], s)
    assert loaded.rejected_sources == [str(bad)] and open_store(s).count() == 5
    assert os.path.exists(good)
