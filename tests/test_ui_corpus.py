"""Upload validation and the upload report (no embedding model: the store is a stand-in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.index.store import SyncReport
from agent.types import Paper
from agent.ui import corpus


class MemoryStore:
    """Just enough of PaperStore for ingest_uploads: count, all_papers, sync (same rules, no embeddings)."""

    def __init__(self, papers: list[Paper] | None = None) -> None:
        self.papers = {p.id: p for p in papers or []}

    def count(self) -> int:
        return len(self.papers)

    def all_papers(self) -> list[Paper]:
        return sorted(self.papers.values(), key=lambda p: p.id)

    def sync(self, papers, sources, progress=None) -> SyncReport:
        report = SyncReport()
        for p in papers:
            old = self.papers.get(p.id)
            if old is None:
                report.added.append(p.id)
            elif old.source != p.source and old.source not in sources:
                report.conflicts.append(p.id)
                continue
            elif old.content_hash != p.content_hash:
                report.updated.append(p.id)
            else:
                report.unchanged.append(p.id)
                continue
            self.papers[p.id] = p
        if progress:
            progress(len(report.added) + len(report.updated), len(report.added) + len(report.updated))
        return report


def _write(tmp: Path, name: str, data: bytes | str) -> Path:
    path = tmp / "incoming" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _jsonl(*rows) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


GOOD = {"id": "new1", "title": "Mitigating False Negatives in Contrastive Retrieval", "abstract": "We detect false negatives in retrieval training and drop them, which improves recall on three benchmarks."}


def test_rejects_bad_extension(tmp_path):
    path = _write(tmp_path, "evil.exe", "MZ...")
    with pytest.raises(corpus.UploadRejected, match="unsupported file type .exe"):
        corpus.validate_upload(path, "evil.exe", 10)
    with pytest.raises(corpus.UploadRejected, match="no extension"):
        corpus.validate_upload(path, "README", 10)


def test_rejects_too_large_empty_binary_and_undecodable(tmp_path):
    big = _write(tmp_path, "big.jsonl", "x" * 3000)
    with pytest.raises(corpus.UploadRejected, match="over the 0.001 MiB upload limit"):
        corpus.validate_upload(big, "big.jsonl", 0.001)
    with pytest.raises(corpus.UploadRejected, match="empty"):
        corpus.validate_upload(_write(tmp_path, "e.jsonl", ""), "e.jsonl", 10)
    with pytest.raises(corpus.UploadRejected, match="binary"):
        corpus.validate_upload(_write(tmp_path, "b.csv", b"title,abstract\n\x00\x01"), "b.csv", 10)
    with pytest.raises(corpus.UploadRejected, match="not text in any encoding tried"):
        corpus.validate_upload(_write(tmp_path, "g.txt", bytes(range(0x80, 0x100)) * 3), "g.txt", 10)
    corpus.validate_upload(_write(tmp_path, "l.txt", "caf\xe9 cr\xe8me".encode("latin-1")), "l.txt", 10)  # read as cp1252
    corpus.validate_upload(_write(tmp_path, "u.txt", "café".encode("utf-16")), "u.txt", 10)
    with pytest.raises(corpus.UploadRejected, match="whitespace"):
        corpus.validate_upload(_write(tmp_path, "w.txt", "  \n\n"), "w.txt", 10)


def test_safe_name_strips_directories_and_odd_characters():
    assert corpus.safe_name("../../etc/passwd.jsonl") == "passwd.jsonl"
    assert corpus.safe_name("..\\..\\x y<z>.CSV") == "x_y_z.csv"
    assert corpus.safe_name(".hidden.bib") == "hidden.bib"
    assert corpus.safe_name("<script>.jsonl").startswith("script")


def test_upload_adds_papers_and_reports_skipped_entries(tmp_path):
    store = MemoryStore([Paper(id="old1", title="Existing Paper On Graphs", abstract="An existing abstract about graphs and more.", source="bundled:x")])
    text = _jsonl(
        GOOD,
        "{not json",
        {"title": "No Abstract Here"},
        {"title": "Existing paper on graphs", "abstract": "An existing abstract about graphs and more."},
    )
    upload = _write(tmp_path, "mine.jsonl", text)
    bad = _write(tmp_path, "notes.exe", "x")
    refreshed = []
    report = corpus.ingest_uploads(store, [(upload, "mine.jsonl"), (bad, "notes.exe")], tmp_path / "uploads", 1.0, after=lambda: refreshed.append(1))
    assert report.added == 1 and report.before == 1 and report.after == 2
    assert refreshed == [1]
    assert (tmp_path / "uploads" / "mine.jsonl").is_file()
    html = corpus.report_html(report)
    assert "Added 1 paper" in html and "1 → 2 papers" in html
    assert "notes.exe" in html and "unsupported file type" in html
    # every skipped entry is reported with the file name the user uploaded, its line and why
    assert "mine.jsonl:2" in html  # malformed JSON line
    assert "mine.jsonl:3" in html and "without an abstract" in html
    assert "already indexed as [old1]" in html
    assert str(tmp_path) not in html  # server paths are not shown


def test_reupload_updates_instead_of_duplicating(tmp_path):
    store = MemoryStore()
    first = _write(tmp_path, "a.jsonl", _jsonl(GOOD))
    corpus.ingest_uploads(store, [(first, "a.jsonl")], tmp_path / "uploads", 1.0)
    changed = dict(GOOD, abstract=GOOD["abstract"] + " Code is released.")
    second = _write(tmp_path, "again/a.jsonl", _jsonl(changed))
    report = corpus.ingest_uploads(store, [(second, "a.jsonl")], tmp_path / "uploads", 1.0)
    assert report.sync is not None and report.sync.updated == ["new1"] and store.count() == 1


def test_file_without_entries_is_rejected_with_reason(tmp_path):
    store = MemoryStore()
    path = _write(tmp_path, "t.csv", "name,text\nfoo,bar\n")
    report = corpus.ingest_uploads(store, [(path, "t.csv")], tmp_path / "uploads", 1.0)
    assert report.added == 0 and store.count() == 0
    assert [f.accepted for f in report.files] == [False]
    assert "t.csv" in corpus.report_html(report)


def test_report_escapes_file_names(tmp_path):
    store = MemoryStore()
    path = _write(tmp_path, "x.exe", "x")
    report = corpus.ingest_uploads(store, [(path, "<img src=x onerror=alert(1)>.exe")], tmp_path / "uploads", 1.0)
    html = corpus.report_html(report)
    assert "<img" not in html


def test_filter_and_rows():
    papers = [
        Paper(id="a", title="False Negatives", abstract="x", year=2020, source="/srv/home/uploads/u.jsonl"),
        Paper(id="b", title="Graphs", abstract="nothing", source="bundled:papers-page.txt"),
    ]
    assert [p.id for p in corpus.filter_papers(papers, "false NEG")] == ["a"]
    assert corpus.filter_papers(papers, "  ") == papers
    assert corpus.paper_rows(papers)[0] == ["a", "False Negatives", "2020", "u.jsonl"]
    assert corpus.paper_rows(papers)[1][3] == "bundled:papers-page.txt"


def test_upload_in_utf16_is_read_and_the_report_names_the_encoding(tmp_path):
    store = MemoryStore()
    fields = dict(GOOD, title="Größe “matters” für Café")
    path = _write(tmp_path, "win.jsonl", _jsonl(fields).encode("utf-16"))
    report = corpus.ingest_uploads(store, [(path, "win.jsonl")], tmp_path / "uploads", 1.0)
    assert report.added == 1 and store.all_papers()[0].title == "Größe “matters” für Café"
    [outcome] = report.files
    assert outcome.accepted and outcome.message == "not UTF-8; read as UTF-16 (byte-order mark)"
    assert "read as UTF-16" in corpus.report_html(report)
