"""Streaming reads of large JSONL and CSV files: entries are read line by line, never the whole file.

:func:`load_corpus` reads a file at once and rejects one over ``index.max_file_mb``. A ``.jsonl``,
``.ndjson`` or ``.csv`` file over ``index.stream_above_mb`` is read with :func:`stream_papers` instead, in
chunks of papers, with the same validation and de-duplication rules; it must be UTF-8 (a line that is not
is skipped and reported). :func:`agent.index.index_corpus` writes each chunk as it is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from agent.ingest.formats import Problem, RawEntry, jsonl_entry
from agent.ingest.loader import Deduper, entry_to_paper
from agent.types import Paper

STREAMABLE = {".jsonl", ".ndjson", ".csv"}


def streamable(path: Path, above_mb: float) -> bool:
    """True for a JSONL/CSV file big enough to be streamed."""
    try:
        return path.suffix.lower() in STREAMABLE and path.is_file() and path.stat().st_size > above_mb * 2**20
    except OSError:
        return False


def _jsonl_entries(path: Path, source: str, problems: list[Problem]) -> Iterator[RawEntry]:
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(source, n, "malformed", "line is not UTF-8; skipped"))
                continue
            entry = jsonl_entry(line, n, source, problems)
            if entry is not None:
                yield entry


def _csv_entries(path: Path, source: str, problems: list[Problem]) -> Iterator[RawEntry]:
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        try:
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
            missing = {"title", "abstract"} - set(header)
            if missing:
                problems.append(Problem(source, 1, "rejected_file", f"CSV header lacks column(s) {', '.join(sorted(missing))}; found {header}"))
                return
            for row in reader:
                if None in row:
                    problems.append(Problem(source, reader.line_num, "malformed", "more cells than header columns; skipped"))
                    continue
                fields = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
                if any((v or "").strip() for v in fields.values()):
                    yield RawEntry(reader.line_num, fields)
        except (csv.Error, UnicodeDecodeError) as exc:
            problems.append(Problem(source, reader.line_num, "malformed", f"CSV error: {exc}; rest of file skipped"))


def stream_papers(
    path: Path, chunk: int, dedupe: Deduper, problems: list[Problem]
) -> Iterator[list[Paper]]:
    """Validated, de-duplicated papers of ``path`` in lists of up to ``chunk``; problems are appended as met."""
    source = str(path)
    reader = _csv_entries if path.suffix.lower() == ".csv" else _jsonl_entries
    batch: list[Paper] = []
    for entry in reader(path, source, problems):
        item = entry_to_paper(entry, source)
        if not isinstance(item, Problem):
            item = dedupe.take(item, entry, source)
        if isinstance(item, Problem):
            problems.append(item)
            continue
        batch.append(item)
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch
