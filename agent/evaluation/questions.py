"""Evaluation question sets: the JSONL format, strict loading, and gold resolution.

One JSON object per line::

    {"qid": "q001", "type": "single", "question": "...",
     "gold_titles": ["..."], "gold_ids": ["p1a2b3c4"],      # gold_ids optional
     "key_points": ["..."], "borderline_titles": ["..."]}    # borderline optional

``type`` is single | list | compare | summary | unanswerable. Gold papers are
matched by normalized title (:func:`agent.ingest.normalize.title_key`), so a
set written for one copy of the corpus works on another; ``gold_ids`` are the
project's ids and are used as given. Extra keys (e.g. ``paraphrased``) are kept
but ignored. ``expected_label`` (yes / no / maybe) is set by the PubMedQA adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.ingest.normalize import title_key
from agent.jsonl import LineProblem, parse_jsonl, str_list

QUESTION_TYPES = ("single", "list", "compare", "summary", "unanswerable")
LABELS = ("yes", "no", "maybe")


@dataclass
class EvalQuestion:
    qid: str
    type: str
    question: str
    gold_titles: list[str] = field(default_factory=list)
    gold_ids: list[str] = field(default_factory=list)
    key_points: list[str] = field(default_factory=list)
    borderline_titles: list[str] = field(default_factory=list)
    borderline_ids: list[str] = field(default_factory=list)
    expected_label: str | None = None
    line: int = 0

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"


def parse_question(obj: Any, line: int = 0) -> EvalQuestion:
    """One question from a decoded JSON value; ``ValueError`` says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    for key in ("qid", "type", "question"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise ValueError(f"missing or empty string field {key!r}")
    if obj["type"] not in QUESTION_TYPES:
        raise ValueError(f"unknown type {obj['type']!r} (expected one of {', '.join(QUESTION_TYPES)})")
    label = obj.get("expected_label")
    if label is not None and label not in LABELS:
        raise ValueError(f"expected_label must be one of {', '.join(LABELS)}")
    return EvalQuestion(
        qid=obj["qid"].strip(),
        type=obj["type"],
        question=obj["question"],
        gold_titles=str_list(obj, "gold_titles"),
        gold_ids=str_list(obj, "gold_ids"),
        key_points=str_list(obj, "key_points"),
        borderline_titles=str_list(obj, "borderline_titles"),
        borderline_ids=str_list(obj, "borderline_ids"),
        expected_label=label,
        line=line,
    )


def parse_lines(lines: Iterable[str]) -> tuple[list[EvalQuestion], list[LineProblem]]:
    """Questions and the problems of bad lines (1-based line numbers); blank lines are skipped."""
    parsed, problems = parse_jsonl(lines, parse_question)
    questions: list[EvalQuestion] = []
    seen: dict[str, int] = {}
    for q in parsed:
        if q.qid in seen:
            problems.append(LineProblem(q.line, f"duplicate qid {q.qid!r} (first on line {seen[q.qid]})"))
            continue
        seen[q.qid] = q.line
        questions.append(q)
    problems.sort(key=lambda p: p.line)
    return questions, problems


def load_questions(path: Path) -> tuple[list[EvalQuestion], list[LineProblem]]:
    """Read a JSONL question file (UTF-8)."""
    return parse_lines(path.read_text(encoding="utf-8").splitlines())


@dataclass
class Gold:
    """A question's gold and borderline papers as ids of the index being evaluated."""

    ids: set[str]
    borderline: set[str]
    unresolved: list[str]


def resolve_gold(q: EvalQuestion, ids_by_title_key: Mapping[str, str]) -> Gold:
    """Map gold / borderline titles onto ids by normalized title; titles not in the index are reported."""
    unresolved: list[str] = []
    gold = set(q.gold_ids)
    for title in q.gold_titles:
        pid = ids_by_title_key.get(title_key(title))
        if pid is None:
            unresolved.append(title)
        else:
            gold.add(pid)
    borderline = set(q.borderline_ids)
    for title in q.borderline_titles:
        pid = ids_by_title_key.get(title_key(title))
        if pid is not None:
            borderline.add(pid)
    return Gold(ids=gold, borderline=borderline - gold, unresolved=unresolved)
