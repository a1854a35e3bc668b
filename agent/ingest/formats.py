"""Readers for the corpus formats Citewise accepts.

Each reader turns one file into :class:`RawEntry` items (fields as found, plus
the line they start on) and :class:`Problem` items (what was wrong, where).
Turning entries into papers, de-duplicating and validating happens in
:mod:`agent.ingest.loader`, once for every format.

Formats:
- **page text** (``.txt``): a saved listing page — optional header lines, then
  title line / abstract line pairs (the bundled corpus).
- **JSONL** (``.jsonl``, ``.ndjson``): one object per line with ``title``,
  ``abstract`` and optional ``id``, ``year``, ``authors``, ``url``.
- **CSV** (``.csv``): a header row with the same column names.
- **BibTeX** (``.bib``, ``.bibtex``): entries with an ``abstract`` field,
  parsed with ``bibtexparser``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Header lines of a saved listing page, dropped before pairing.
PAGE_HEADER = re.compile(r"^(Get trending papers in your email inbox.*)$")
#: A newsletter button glued onto the first title of a saved page.
PAGE_TITLE_PREFIX = "Subscribe"
#: A "title" longer than this is really a paragraph: the title line is missing.
MAX_TITLE_CHARS = 400
#: An "abstract" shorter than this is really the next title: the abstract is missing.
MIN_ABSTRACT_CHARS = 40


@dataclass
class Problem:
    """Something wrong with one entry (or a whole file), with where it is."""

    source: str
    line: int | None
    kind: str  # malformed | missing_title | missing_abstract | duplicate | bad_field | rejected_file
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


@dataclass
class RawEntry:
    """Fields of one entry as read, before validation."""

    line: int
    fields: dict[str, Any] = field(default_factory=dict)


Reader = Callable[[str, str], tuple[list[RawEntry], list[Problem]]]


def read_page_text(text: str, source: str) -> tuple[list[RawEntry], list[Problem]]:
    """Pair title and abstract lines of a saved listing page, resynchronizing after a gap."""
    entries: list[RawEntry] = []
    problems: list[Problem] = []
    lines = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), start=1)]
    lines = [(n, ln) for n, ln in lines if ln and not PAGE_HEADER.match(ln)]
    i = 0
    first = True
    while i < len(lines):
        n, title = lines[i]
        if first and title.startswith(PAGE_TITLE_PREFIX) and len(title) > len(PAGE_TITLE_PREFIX):
            title = title[len(PAGE_TITLE_PREFIX) :]
        first = False
        if len(title) > MAX_TITLE_CHARS:
            problems.append(Problem(source, n, "missing_title", "a paragraph where a title was expected (entry without a title); skipped"))
            i += 1
            continue
        if i + 1 >= len(lines) or len(lines[i + 1][1]) < MIN_ABSTRACT_CHARS:
            problems.append(Problem(source, n, "missing_abstract", f"title without an abstract: {title[:80]!r}; skipped"))
            i += 1
            continue
        entries.append(RawEntry(n, {"title": title, "abstract": lines[i + 1][1]}))
        i += 2
    return entries, problems


def jsonl_entry(line: str, n: int, source: str, problems: list[Problem]) -> RawEntry | None:
    """Line ``n`` of a JSONL file as an entry; None for a blank line, or a bad one (reported in ``problems``)."""
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        problems.append(Problem(source, n, "malformed", f"invalid JSON ({exc.msg} at column {exc.colno}); skipped"))
        return None
    if not isinstance(obj, dict):
        problems.append(Problem(source, n, "malformed", f"expected a JSON object, got {type(obj).__name__}; skipped"))
        return None
    return RawEntry(n, obj)


def read_jsonl(text: str, source: str) -> tuple[list[RawEntry], list[Problem]]:
    """One JSON object per line; blank lines are ignored."""
    problems: list[Problem] = []
    entries = [e for n, line in enumerate(text.splitlines(), start=1) if (e := jsonl_entry(line, n, source, problems))]
    return entries, problems


def read_csv(text: str, source: str) -> tuple[list[RawEntry], list[Problem]]:
    """A header row naming at least ``title`` and ``abstract`` (any case)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = {"title", "abstract"} - set(header)
    if missing:
        return [], [Problem(source, 1, "rejected_file", f"CSV header lacks column(s) {', '.join(sorted(missing))}; found {header}")]
    entries: list[RawEntry] = []
    problems: list[Problem] = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                problems.append(Problem(source, line, "malformed", "more cells than header columns; skipped"))
                continue
            fields = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
            if all(not (v or "").strip() for v in fields.values()):
                continue
            entries.append(RawEntry(line, fields))
    except csv.Error as exc:
        problems.append(Problem(source, reader.line_num, "malformed", f"CSV error: {exc}; rest of file skipped"))
    return entries, problems


_BRACES = re.compile(r"[{}]")
_SPACES = re.compile(r"\s+")
#: bibtexparser logs each failed block as a multi-line warning; ours replace them.
BIBTEX_LOGGER = "bibtexparser"


def _failed_block_reason(block: Any) -> str:
    """One line saying why bibtexparser could not use ``block``."""
    from bibtexparser.model import DuplicateBlockKeyBlock, DuplicateFieldKeyBlock

    if isinstance(block, DuplicateBlockKeyBlock):
        first = getattr(block.previous_block, "start_line", None)
        where = f" (first at line {first + 1})" if first is not None else ""
        return f"duplicate citation key {block.key!r}{where}"
    if isinstance(block, DuplicateFieldKeyBlock):
        return f"field(s) {', '.join(sorted(block.duplicate_keys))} given twice"
    error = getattr(block, "error", None)
    reason = getattr(error, "abort_reason", None) or str(error or type(block).__name__)
    return _SPACES.sub(" ", reason).strip().rstrip(".")


def read_bibtex(text: str, source: str) -> tuple[list[RawEntry], list[Problem]]:
    """BibTeX entries; the citation key becomes the paper id (through :func:`key_to_id` when it has odd characters).

    A block the parser cannot read becomes one line-numbered ``malformed``
    problem (the parser's own log output is silenced) and the rest of the file
    is still read.
    """
    import bibtexparser

    from agent.ingest.normalize import key_to_id

    logging.getLogger(BIBTEX_LOGGER).setLevel(logging.CRITICAL + 1)
    try:
        library = bibtexparser.parse_string(text)
    except Exception as exc:  # noqa: BLE001 - a parser bug on odd input: reject the file, say why
        reason = _SPACES.sub(" ", str(exc)).strip() or type(exc).__name__
        return [], [Problem(source, None, "rejected_file", f"the BibTeX parser failed ({reason})")]
    entries: list[RawEntry] = []
    problems: list[Problem] = []
    for block in library.failed_blocks:
        line = getattr(block, "start_line", None)
        why = " ".join(str(getattr(getattr(block, "error", None), "abort_reason", "") or "").split())
        problems.append(
            Problem(source, (line + 1) if line is not None else None, "malformed", f"unreadable BibTeX entry: {_failed_block_reason(block)}; skipped")
        )
    for entry in library.entries:
        line = (entry.start_line + 1) if getattr(entry, "start_line", None) is not None else 0
        fields: dict[str, Any] = {f.key.lower(): _BRACES.sub("", str(f.value)) for f in entry.fields}
        fields["id"] = key_to_id(entry.key)
        if "author" in fields and "authors" not in fields:
            fields["authors"] = [a.strip() for a in fields.pop("author").split(" and ") if a.strip()]
        if "url" not in fields and fields.get("doi"):
            fields["url"] = f"https://doi.org/{fields['doi']}"
        entries.append(RawEntry(line, fields))
    return entries, problems


READERS: dict[str, Reader] = {
    ".txt": read_page_text,
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".csv": read_csv,
    ".bib": read_bibtex,
    ".bibtex": read_bibtex,
}
