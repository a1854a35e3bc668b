"""``citewise audit``: check each sentence of a draft against the papers it cites.

    from agent.audit import open_auditor, parse_draft
    auditor = open_auditor(settings)                       # the indexed library + the checker
    report = auditor.audit(parse_draft(text, name="related.tex"))
    report.public_json()                                   # {"sentences": [...], "summary": {...}}

Importing this package loads no model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agent.audit.audit import VERDICTS, Auditor, AuditReport, SentenceAudit, Suggestion
from agent.audit.parse import DraftProblem, DraftSentence, ParsedDraft, detect_format, parse_draft
from agent.errors import CitewiseError
from agent.settings import Settings

#: Draft file types read by ``citewise audit`` and the UI's "Check a draft" tab.
DRAFT_EXTENSIONS: tuple[str, ...] = (".tex", ".ltx", ".latex", ".md", ".markdown", ".txt")
#: Bytes sniffed for NUL (binary files).
SNIFF_BYTES = 8192
_BIB_KEY = re.compile(r"^[ \t]*@[A-Za-z]+[ \t]*[{(][ \t]*([^,\s]+)[ \t]*,", re.M)


class DraftError(CitewiseError):
    """A draft that cannot be read."""


def decode_draft(data: bytes, source: str) -> str:
    """Text of a draft file's bytes, or :class:`DraftError` saying why not."""
    if b"\x00" in data[:SNIFF_BYTES]:
        raise DraftError(f"{source}: binary file (NUL bytes), not a draft")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DraftError(f"{source}: not UTF-8 text (bad byte at offset {exc.start}, line {line})") from None
    if not text.strip():
        raise DraftError(f"{source}: empty draft")
    return text


def read_draft(path: Path, max_mb: float) -> str:
    """Read a draft file, or raise :class:`DraftError` with a clear message."""
    source = str(path)
    if not path.exists():
        raise DraftError(f"{source}: no such file")
    if not path.is_file():
        raise DraftError(f"{source}: not a regular file")
    size = path.stat().st_size
    if size > max_mb * 2**20:
        raise DraftError(f"{source}: {size / 2**20:.1f} MiB is over the {max_mb:g} MiB limit (audit.max_draft_mb)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DraftError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    return decode_draft(data, source)


def bib_keys(paths: list[Path]) -> dict[str, str]:
    """Every entry key written in these BibTeX files (key -> "file:line"), parsed or not."""
    keys: dict[str, str] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError:
            continue
        for m in _BIB_KEY.finditer(text):
            keys.setdefault(m.group(1), f"{path}:{text.count(chr(10), 0, m.start()) + 1}")
    return keys


def open_auditor(settings: Settings, mode: str | None = None, retriever: Any | None = None) -> Auditor:
    """An :class:`Auditor` over the configured index with the faithfulness checker (thorough loads the judge)."""
    from agent.faithfulness import FaithfulnessChecker, load_judge

    mode = mode or settings.faithfulness.mode
    if retriever is None:
        from agent.retrieval import open_retriever

        retriever = open_retriever(settings)
    judge = load_judge(None, settings) if mode == "thorough" else None
    checker = FaithfulnessChecker(settings, judge=judge)
    return Auditor(settings, retriever, checker, mode)


__all__ = [
    "DRAFT_EXTENSIONS",
    "VERDICTS",
    "AuditReport",
    "Auditor",
    "DraftError",
    "DraftProblem",
    "DraftSentence",
    "ParsedDraft",
    "SentenceAudit",
    "Suggestion",
    "bib_keys",
    "decode_draft",
    "detect_format",
    "open_auditor",
    "parse_draft",
    "read_draft",
]
