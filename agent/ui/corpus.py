"""The Corpus tab's logic: validate uploads, index them, report, and browse the papers.

Uploads are untrusted. Before anything is parsed, a file must have one of the
supported extensions, be non-empty, within ``ui.max_upload_mb`` and text in an
encoding :mod:`agent.ingest.decoding` can read (UTF-8, UTF-16, cp1252, ...; the
report names the encoding when it was not UTF-8). Accepted files are copied under ``<home>/uploads`` with
a sanitized name (re-uploading a file of the same name replaces what it added
before) and indexed with the same loader as ``citewise index``; the report
says what was added, updated, skipped and why, by file and line. Nothing is
ever served back from these paths.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.index.store import PaperStore, SyncReport
from agent.ingest import load_corpus, paper_id, title_key
from agent.ingest.decoding import UndecodableError, decode_bytes
from agent.ingest.formats import READERS, Problem
from agent.types import Paper
from agent.ui.render import esc

#: Extensions accepted in the upload box (those the loader can read).
ACCEPTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(READERS))
#: Longest kept file-name stem.
MAX_STEM = 60
#: Rows shown in the paper browser at once.
MAX_ROWS = 500

_INGEST_LOCK = threading.Lock()


class UploadRejected(ValueError):
    """A file that fails validation before parsing."""


@dataclass
class FileOutcome:
    name: str
    accepted: bool
    message: str = ""


@dataclass
class UploadReport:
    """What one upload did."""

    files: list[FileOutcome] = field(default_factory=list)
    sync: SyncReport | None = None
    problems: list[Problem] = field(default_factory=list)
    before: int = 0
    after: int = 0

    @property
    def added(self) -> int:
        return len(self.sync.added) if self.sync else 0


def safe_name(name: str) -> str:
    """A file name reduced to ``[A-Za-z0-9._-]`` (no directories, no leading dot)."""
    base = Path(str(name).replace("\\", "/")).name
    suffix = Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", base[: len(base) - len(suffix)] if suffix else base).strip("._") or "upload"
    return stem[:MAX_STEM] + suffix


def validate_upload(path: Path, name: str, max_mb: float, accepted: tuple[str, ...] = ACCEPTED_EXTENSIONS) -> str:
    """Raise :class:`UploadRejected` with a user-facing reason when ``path`` may not be read; else return its text.

    ``accepted``: the extensions allowed (corpus formats by default; the draft checker passes its own).
    """
    suffix = Path(str(name)).suffix.lower()
    if suffix not in accepted:
        shown = suffix or "(no extension)"
        raise UploadRejected(f"unsupported file type {shown}; accepted: {', '.join(accepted)}")
    try:
        size = path.stat().st_size
    except OSError:
        raise UploadRejected("the uploaded file could not be read") from None
    if size == 0:
        raise UploadRejected("empty file")
    limit = int(max_mb * 2**20)
    if size > limit:
        raise UploadRejected(f"{size / 2**20:.1f} MiB is over the {max_mb:g} MiB upload limit")
    try:
        text = decode_bytes(path.read_bytes()).text
    except UndecodableError as exc:
        raise UploadRejected(str(exc)) from None
    if not text.strip():
        raise UploadRejected("only whitespace")
    return text


def stage_uploads(
    files: list[tuple[Path, str]], uploads_dir: Path, max_mb: float
) -> tuple[list[tuple[Path, str]], list[FileOutcome]]:
    """Validate ``(temp path, original name)`` pairs and copy the good ones into ``uploads_dir``.

    Returns the staged ``(path, display name)`` pairs and one outcome per rejected file.
    """
    uploads_dir.mkdir(parents=True, exist_ok=True)
    root = uploads_dir.resolve()
    staged: list[tuple[Path, str]] = []
    rejected: list[FileOutcome] = []
    used: set[str] = set()
    for tmp, name in files:
        shown = Path(str(name).replace("\\", "/")).name or "upload"
        try:
            validate_upload(Path(tmp), shown, max_mb)
        except UploadRejected as exc:
            rejected.append(FileOutcome(shown, False, str(exc)))
            continue
        target_name = safe_name(shown)
        if target_name in used:
            rejected.append(FileOutcome(shown, False, "another file in this upload has the same name"))
            continue
        used.add(target_name)
        dest = (uploads_dir / target_name).resolve()
        if dest.parent != root:  # pragma: no cover - safe_name strips directories
            rejected.append(FileOutcome(shown, False, "invalid file name"))
            continue
        shutil.copyfile(tmp, dest)
        staged.append((dest, shown))
    return staged, rejected


def _rename(problem: Problem, names: dict[str, str]) -> Problem:
    """The problem with the staged path replaced by the name the user uploaded."""
    source = names.get(problem.source, Path(problem.source).name)
    message = problem.message
    for path, shown in names.items():
        message = message.replace(path, shown)
    return Problem(source, problem.line, problem.kind, message)


def ingest_uploads(
    store: PaperStore,
    files: list[tuple[Path, str]],
    uploads_dir: Path,
    max_mb: float,
    progress: Callable[[int, int], None] | None = None,
    after: Callable[[], None] | None = None,
) -> UploadReport:
    """Validate, stage and index uploaded files; ``after`` runs once the store changed (e.g. refresh)."""
    with _INGEST_LOCK:
        report = UploadReport(before=store.count())
        staged, rejected = stage_uploads(files, uploads_dir, max_mb)
        report.files.extend(rejected)
        if not staged:
            report.after = report.before
            return report
        names = {str(path): shown for path, shown in staged}
        loaded = load_corpus([path for path, _ in staged], max_mb)
        problems = [_rename(p, names) for p in loaded.problems]
        # A paper already indexed from another file (same normalized title and abstract) is a duplicate, not a
        # new paper; one that only shares its title with an indexed paper is kept under an id of its own.
        ours = set(loaded.sources)
        indexed = [p for p in store.all_papers() if p.source not in ours]
        existing = {(title_key(p.title), title_key(p.abstract)): p.id for p in indexed}
        taken = {p.id for p in indexed}
        keep: list[Paper] = []
        for paper in loaded.papers:
            other = existing.get((title_key(paper.title), title_key(paper.abstract)))
            if other is not None and other != paper.id:
                problems.append(
                    Problem(names.get(paper.source, paper.source), None, "duplicate", f"{paper.title[:60]!r} is already indexed as [{other}]; skipped")
                )
                continue
            if other is None and paper.id in taken and paper.id == paper_id(paper.title):
                paper = paper.model_copy(update={"id": paper_id(paper.title, paper.abstract)})
            keep.append(paper)
        sync = store.sync(keep, loaded.sources, progress) if loaded.sources else SyncReport()
        for pid in sync.conflicts:
            problems.append(Problem("", None, "conflict", f"id [{pid}] is already used by a paper from another file; not replaced"))
        rejected_sources = {names.get(s, s) for s in loaded.rejected_sources}
        notices = [_rename(p, names) for p in loaded.notices]
        for _, shown in staged:
            reasons = [p.message for p in problems + notices if p.source == shown and p.kind in ("rejected_file", "encoding")]
            report.files.append(FileOutcome(shown, shown not in rejected_sources, "; ".join(reasons)))
        report.sync = sync
        report.problems = [p for p in problems if p.kind != "rejected_file"]
        if after is not None and (sync.added or sync.updated or sync.deleted):
            after()
        report.after = store.count()
        return report


def report_html(report: UploadReport) -> str:
    """The upload report: per-file outcome, counts, and every skipped entry with its reason."""
    parts = ['<div class="cw-report">']
    sync = report.sync or SyncReport()
    ok = any(f.accepted for f in report.files)
    icon, cls = ("✓", "cw-ok") if ok and sync.added else (("•", "cw-unk") if ok else ("✗", "cw-bad"))
    parts.append(
        f'<div class="cw-badge {cls}"><span class="cw-icon" aria-hidden="true">{icon}</span> '
        f"Added {len(sync.added)} paper{'s' if len(sync.added) != 1 else ''}, updated {len(sync.updated)}, "
        f"unchanged {len(sync.unchanged)}, removed {len(sync.deleted)}, skipped {len(report.problems)} · "
        f"index: {report.before} → {report.after} papers</div>"
    )
    if report.files:
        rows = "".join(
            f'<li class="{"cw-ok" if f.accepted else "cw-bad"}"><span class="cw-icon" aria-hidden="true">'
            f'{"✓" if f.accepted else "✗"}</span> <b>{esc(f.name)}</b>: {"read" if f.accepted else "rejected"}'
            f'{" — " + esc(f.message) if f.message else ""}</li>'
            for f in report.files
        )
        parts.append(f'<div class="cw-refs-h">Files</div><ul class="cw-checks">{rows}</ul>')
    if sync.added:
        shown = ", ".join(f"[{esc(i)}]" for i in sync.added[:30]) + (" …" if len(sync.added) > 30 else "")
        parts.append(f'<div class="cw-meta">Added: {shown}</div>')
    if report.problems:
        rows = "".join(f"<li><b>{esc(p.kind.replace('_', ' '))}</b> — {esc(str(p))}</li>" for p in report.problems[:200])
        more = f"<li>… and {len(report.problems) - 200} more</li>" if len(report.problems) > 200 else ""
        parts.append(f'<div class="cw-refs-h">Skipped entries</div><ul class="cw-checks">{rows}{more}</ul>')
    parts.append("</div>")
    return "".join(parts)


# -- browsing ---------------------------------------------------------------
def source_label(source: str) -> str:
    return source if source.startswith("bundled:") else Path(source).name


def filter_papers(papers: list[Paper], query: str) -> list[Paper]:
    """Papers whose id, title, authors or abstract contain every word of ``query`` (case-insensitive)."""
    words = [w for w in query.lower().split() if w]
    if not words:
        return papers
    out = []
    for p in papers:
        hay = f"{p.id} {p.title} {' '.join(p.authors)} {p.abstract}".lower()
        if all(w in hay for w in words):
            out.append(p)
    return out


def paper_rows(papers: list[Paper]) -> list[list[str]]:
    """Rows of the paper table: id, title, year, source."""
    return [[p.id, p.title, str(p.year or ""), source_label(p.source)] for p in papers[:MAX_ROWS]]


PAPER_COLUMNS = ["id", "title", "year", "source"]
