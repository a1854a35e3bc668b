"""The "Check a draft" tab: audit pasted text or an uploaded .tex/.md file against the indexed papers.

An uploaded draft is untrusted and is validated like a corpus upload
(:func:`agent.ui.corpus.validate_upload`: extension, size, NUL bytes, UTF-8)
before it is parsed; pasted text gets the same size limit. Results are shown
sentence by sentence (mark, line, reason, quote, suggestions), every piece of
draft and abstract text escaped, and the self-contained HTML report of
:mod:`agent.audit.report` is offered for download from a fixed temp folder
(one file per browser session, replaced on the next check).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from agent.audit import DRAFT_EXTENSIONS, Auditor, AuditReport, open_auditor, parse_draft
from agent.audit.report import LABELS, render_report
from agent.ui.corpus import UploadRejected, validate_upload
from agent.ui.render import esc

#: Verdicts shown as a good / bad / neutral mark in the chat's colours.
MARK_CLASS = {
    "supported": "cw-ok",
    "unsupported": "cw-bad",
    "unknown_key": "cw-bad",
    "better_source": "cw-warn",
    "uncited": "cw-warn",
    "not_checkable": "cw-unk",
}

_LOCK = threading.Lock()
_AUDITORS: dict[int, Auditor] = {}


class DraftRejected(ValueError):
    """A draft that cannot be checked, with a user-facing reason."""


def draft_text(pasted: str | None, upload: str | None, max_mb: float) -> tuple[str, str]:
    """(text, name) of the draft to check: the uploaded file when given, else the pasted text."""
    if upload:
        name = Path(str(upload)).name
        try:
            text = validate_upload(Path(upload), name, max_mb, DRAFT_EXTENSIONS)
        except UploadRejected as exc:
            raise DraftRejected(f"{name}: {exc}") from None
        return text, name
    text = pasted or ""
    if not text.strip():
        raise DraftRejected("paste a draft or upload a .tex / .md file first")
    if len(text.encode("utf-8")) > max_mb * 2**20:
        raise DraftRejected(f"the pasted draft is over the {max_mb:g} MiB limit (audit.max_draft_mb)")
    return text, "pasted draft"


def auditor_for(services) -> Auditor:  # noqa: ANN001 - agent.ui.services.Services
    """One fast-mode auditor per services object (its checker caches abstract embeddings)."""
    key = id(services)
    auditor = _AUDITORS.get(key)
    if auditor is None:
        auditor = _AUDITORS.setdefault(key, open_auditor(services.settings, "fast", retriever=services.retriever))
    return auditor


def run_audit(
    services,  # noqa: ANN001 - agent.ui.services.Services
    pasted: str | None,
    upload: str | None,
    session: str,
    progress: Callable[[int, int], None] | None = None,
    tmp_root: Path | None = None,
) -> tuple[AuditReport, str]:
    """Audit the draft; returns the report and the path of its downloadable HTML file."""
    text, name = draft_text(pasted, upload, services.settings.audit.max_draft_mb)
    parsed = parse_draft(text, name=name if upload else None)
    if not parsed.sentences:
        raise DraftRejected(f"{name}: no sentences found to check")
    with _LOCK:  # one audit at a time: the checker's caches are not thread-safe
        auditor = auditor_for(services)
        auditor.refresh()  # papers may have been added in the Corpus tab
        report = auditor.audit(parsed, progress)
    report.source = name
    return report, write_download(report, session, tmp_root)


def write_download(report: AuditReport, session: str, tmp_root: Path | None = None) -> str:
    """The report as a file for the download button, at a fixed place per session (atomically replaced)."""
    key = hashlib.sha1(session.encode("utf-8")).hexdigest()[:16]
    folder = (tmp_root or Path(tempfile.gettempdir())) / "citewise-audits" / key
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "citation-audit.html"
    part = out.with_suffix(f".{os.getpid()}.part")
    part.write_text(render_report(report), encoding="utf-8")
    part.replace(out)
    return str(out)


def results_html(report: AuditReport) -> str:
    """Summary badges, then one row per sentence: mark, line, text, reason, quote and suggestions."""
    summary = report.summary()
    badges = " ".join(
        f'<span class="cw-badge {MARK_CLASS[v]}" data-verdict="{v}"><span class="cw-icon" aria-hidden="true">'
        f"{LABELS[v][0]}</span> {esc(LABELS[v][1])}: {n}</span>"
        for v, n in summary.items()
    )
    items = []
    for row in report.sentences:
        icon, label = LABELS[row.verdict]
        extra = ""
        if row.quote and row.verdict != "not_checkable":
            extra += f'<div class="cw-ev">“{esc(row.quote)}”</div>'
        for s in row.suggestions:
            extra += f'<div class="cw-ev">↪ [{esc(s.id)}] {esc(s.title)}: “{esc(s.quote)}”</div>'
        items.append(
            f'<li class="cw-audit-row {MARK_CLASS[row.verdict]}" data-verdict="{row.verdict}" title="{esc(label)}: {esc(row.reason)}">'
            f'<span class="cw-icon" aria-hidden="true">{icon}</span> <span class="cw-meta">line {row.line}</span> '
            f"<b>{esc(label)}</b> — {esc(row.text)}"
            f'<div class="cw-ev">{esc(row.reason)}</div>{extra}</li>'
        )
    notes = "".join(f"<li>{esc(p)}</li>" for p in report.problems)
    notes_html = f'<div class="cw-refs-h">Notes</div><ul class="cw-checks">{notes}</ul>' if notes else ""
    return (
        f'<div class="cw-audit"><div class="cw-meta">{esc(report.source)} · {esc(report.format)} · '
        f"{len(report.sentences)} sentences · {report.seconds:.1f} s</div><div>{badges}</div>"
        f'{notes_html}<ul class="cw-checks cw-audit-list">{"".join(items)}</ul></div>'
    )
