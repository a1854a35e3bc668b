"""Load corpus files into validated, de-duplicated :class:`~agent.types.Paper` objects.

Rules (documented in the README and ``citewise index --help``):
- A file that cannot be read at all — missing, empty, binary, in no encoding
  :mod:`agent.ingest.decoding` can read, too large, an unknown extension, a CSV
  without ``title``/``abstract`` columns — is *rejected*: reported, nothing
  taken from it, other files still load.
- A file that is not UTF-8 (UTF-16, cp1252, ...) is read and a *notice* names
  the encoding used.
- An entry with a bad line, no title or no abstract is *skipped* and reported
  with its file and line.
- A duplicate (same normalized title as an earlier entry) is *skipped* and
  reported with the line of the first copy.
Nothing is dropped without a :class:`Problem` saying so.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from agent.errors import IngestError
from agent.ingest.decoding import Decoded, UndecodableError, decode_bytes
from agent.ingest.formats import READERS, Problem, RawEntry
from agent.ingest.normalize import VALID_ID, clean_display, paper_id, title_key
from agent.types import Paper

BUNDLED_NAME = "papers-page.txt"
BUNDLED_SOURCE = f"bundled:{BUNDLED_NAME}"


@dataclass
class LoadResult:
    """Papers read from one or more files, and every problem met on the way."""

    papers: list[Paper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: Things worth knowing that lost nothing (kind ``encoding``: a file was not UTF-8).
    notices: list[Problem] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    rejected_sources: list[str] = field(default_factory=list)
    #: Papers read from streamed files (written to the store as read, not kept in ``papers``).
    streamed: int = 0

    @property
    def read_count(self) -> int:
        """Papers read, kept or streamed."""
        return len(self.papers) + self.streamed

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"papers": self.read_count}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out


def bundled_corpus_text() -> str:
    """The default corpus shipped inside the package."""
    return resources.files("agent.data").joinpath(BUNDLED_NAME).read_text(encoding="utf-8")


def read_source(path: Path, max_bytes: int) -> tuple[Decoded, str]:
    """Return (decoded text, source name) of a corpus file, or raise :class:`IngestError`."""
    source = str(path)
    if not path.exists():
        raise IngestError(f"{source}: no such file")
    if not path.is_file():
        raise IngestError(f"{source}: not a regular file")
    if path.suffix.lower() not in READERS:
        known = ", ".join(sorted(READERS))
        raise IngestError(f"{source}: unknown format {path.suffix or '(no extension)'!r}; use one of {known}")
    size = path.stat().st_size
    if size == 0:
        raise IngestError(f"{source}: empty file; rejected")
    if size > max_bytes:
        raise IngestError(f"{source}: {size / 2**20:.1f} MiB is over the {max_bytes / 2**20:.1f} MiB limit; rejected")
    try:
        decoded = decode_bytes(path.read_bytes())
    except UndecodableError as exc:
        raise IngestError(f"{source}: {exc}; rejected") from None
    if not decoded.text.strip():
        raise IngestError(f"{source}: only whitespace; rejected")
    return decoded, source


def _authors(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [clean_display(str(a)) for a in value if str(a).strip()]
    parts = re.split(r";| and ", str(value))
    return [clean_display(a) for a in parts if a.strip()]


def _year(value: Any) -> int | None:
    if value is None or value == "":
        return None
    match = re.search(r"\b(1[89]\d\d|20\d\d|21\d\d)\b", str(value))
    if not match:
        raise ValueError(f"year {value!r} is not a year")
    return int(match.group(1))


def entry_to_paper(entry: RawEntry, source: str) -> Paper | Problem:
    """Validate one raw entry; a :class:`Problem` explains a rejection."""
    f = entry.fields
    title = f.get("title")
    abstract = f.get("abstract")
    if not isinstance(title, str) or not title.strip():
        return Problem(source, entry.line, "missing_title", "entry without a title; skipped")
    if not isinstance(abstract, str) or not abstract.strip():
        return Problem(source, entry.line, "missing_abstract", f"entry without an abstract ({clean_display(title)[:60]!r}); skipped")
    try:
        year = _year(f.get("year"))
    except ValueError as exc:
        return Problem(source, entry.line, "bad_field", f"{exc}; skipped")
    raw_id = f.get("id")
    pid = str(raw_id).strip() if raw_id not in (None, "") else paper_id(title)
    if not VALID_ID.match(pid):
        return Problem(source, entry.line, "bad_field", f"id {raw_id!r} must be 1-64 of A-Z a-z 0-9 _ . : -; skipped")
    url = f.get("url")
    return Paper(
        id=pid,
        title=clean_display(title),
        abstract=clean_display(abstract),
        original_title=title,
        original_abstract=abstract,
        year=year,
        authors=_authors(f.get("authors")),
        url=str(url).strip() if url else None,
        source=source,
    )


class Deduper:
    """Keeps the first copy of each paper across the files of one run.

    Only a true duplicate is merged: the same id given by the user, or (without one) the same normalized
    title AND abstract. Different papers do share titles ("Editorial", reprints, SciFact has 3 such pairs):
    a paper whose title is taken by a different abstract keeps its own id, derived from both. Content keys
    are held as 16-byte digests, so a streamed file of a million papers costs tens of MB here.
    """

    def __init__(self) -> None:
        self.seen_content: dict[bytes, str] = {}
        self.seen_ids: dict[str, str] = {}

    def take(self, item: Paper, entry: RawEntry, source: str) -> Paper | Problem:
        user_id = bool(entry.fields.get("id"))
        raw = f"id\n{item.id}" if user_id else f"content\n{title_key(item.title)}\n{title_key(item.abstract)}"
        key = hashlib.blake2b(raw.encode("utf-8"), digest_size=16).digest()
        where = f"{source}:{entry.line}"
        if key in self.seen_content:
            return Problem(source, entry.line, "duplicate", f"duplicate of the paper at {self.seen_content[key]} (same title and abstract); skipped")
        if item.id in self.seen_ids and not user_id and item.id == paper_id(item.title):
            item = item.model_copy(update={"id": paper_id(item.title, item.abstract)})
        if item.id in self.seen_ids:
            return Problem(source, entry.line, "duplicate", f"id {item.id!r} already used at {self.seen_ids[item.id]}; skipped")
        self.seen_content[key] = where
        self.seen_ids[item.id] = where
        return item


def parse_text(text: str, source: str, suffix: str) -> tuple[list[RawEntry], list[Problem]]:
    """Run the reader for ``suffix`` over ``text``."""
    return READERS[suffix](text, source)


def load_corpus(paths: list[Path] | None, max_file_mb: float = 50.0, dedupe: Deduper | None = None) -> LoadResult:
    """Read ``paths`` (the bundled corpus when empty) into one de-duplicated result.

    ``dedupe`` carries what was already taken when other files of the same run are streamed.
    """
    result = LoadResult()
    dedupe = dedupe or Deduper()
    inputs: list[tuple[str, str, str]] = []  # (text, source, suffix)
    if not paths:
        inputs.append((bundled_corpus_text(), BUNDLED_SOURCE, ".txt"))
    for path in paths or []:
        try:
            decoded, source = read_source(Path(path), int(max_file_mb * 2**20))
        except IngestError as exc:
            result.problems.append(Problem(str(path), None, "rejected_file", str(exc).split(": ", 1)[-1]))
            result.rejected_sources.append(str(path))
            continue
        if not decoded.is_utf8:
            result.notices.append(Problem(source, None, "encoding", f"not UTF-8; read as {decoded.describe()}"))
        inputs.append((decoded.text, source, Path(path).suffix.lower()))

    for text, source, suffix in inputs:
        entries, problems = parse_text(text, source, suffix)
        result.problems.extend(problems)
        if any(p.kind == "rejected_file" for p in problems):
            result.rejected_sources.append(source)
            continue
        result.sources.append(source)
        taken = 0
        for entry in entries:
            item = entry_to_paper(entry, source)
            if not isinstance(item, Problem):
                item = dedupe.take(item, entry, source)
            if isinstance(item, Problem):
                result.problems.append(item)
                continue
            result.papers.append(item)
            taken += 1
        if taken == 0 and not entries:
            result.problems.append(Problem(source, None, "rejected_file", "no entries found"))
            result.rejected_sources.append(source)
            result.sources.remove(source)
    return result
