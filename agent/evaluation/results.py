"""The run directory: results.jsonl written row by row (fsync), run.json, and reading them back.

A row is appended, flushed and fsynced as soon as its question is finished, so
a crash or Ctrl-C loses at most the questions in flight. A process killed in the
middle of a write can leave a torn last line; :meth:`ResultsFile.load` drops it
(and truncates the file back to the last whole row) so that a resumed run
appends cleanly. When a qid appears more than once (an error row retried with
``--retry-errors``), the last row wins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
REPORT = "report.html"
RUN_META = "run.json"


def dumps(obj: Any) -> str:
    """Strict JSON (NaN is not allowed: metrics use null)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` atomically (temp file + rename), pretty-printed."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class ResultsFile:
    """Append-only JSONL of result rows."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / RESULTS
        self.torn_lines = 0

    def load(self, repair: bool = True) -> list[dict[str, Any]]:
        """All whole rows in file order; torn or garbled lines are dropped (and cut out when ``repair``)."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        rows: list[dict[str, Any]] = []
        self.torn_lines = 0
        for raw in data.splitlines():
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                row = json.loads(text)
            except ValueError:
                row = None
            if not isinstance(row, dict) or "qid" not in row:
                self.torn_lines += 1
                continue
            rows.append(row)
        if repair and (self.torn_lines or (data and not data.endswith(b"\n"))):
            tmp = self.path.with_suffix(".jsonl.tmp")
            with tmp.open("w", encoding="utf-8") as f:
                for row in rows:
                    f.write(dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        return rows

    def append(self, row: dict[str, Any]) -> None:
        """Append one row durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = dumps(row) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per qid (the last written), in order of first appearance."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row["qid"]] = row
    return list(latest.values())


def load_run(directory: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """(latest rows, summary, run meta) of a finished or partial run directory (read-only)."""
    results = ResultsFile(directory)
    if not results.path.exists():
        raise FileNotFoundError(f"{directory} has no {RESULTS}: not an eval run directory")
    rows = latest_rows(results.load(repair=False))
    summary_path = directory / SUMMARY
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    meta_path = directory / RUN_META
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    return rows, summary, meta
