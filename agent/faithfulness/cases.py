"""Labelled or unlabelled check cases in JSONL, as read by ``citewise check`` and the benchmark.

One JSON object per line::

    {"cid": "c1", "question": "...", "answer": "... [p1].",
     "contexts": [{"id": "p1", "title": "...", "abstract": "..."}],
     "label": "faithful" | "unfaithful",          # optional
     "unsupported": ["sentence", ...],            # optional
     "error_kind": "number"}                      # optional

Instead of ``contexts`` a line may give ``"context_ids": ["p1", ...]``, which a
resolver (the index) turns into papers. Required: ``cid`` (string or
integer), ``answer`` (string), and ``contexts`` or ``context_ids``;
``question`` is optional. A malformed line is reported with its number and
skipped; the others are still read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.types import Paper

#: Resolves paper ids against an index; returns the papers found.
Resolver = Callable[[list[str]], list[Paper]]

LABELS = ("faithful", "unfaithful")


@dataclass
class Case:
    cid: str
    answer: str
    contexts: dict[str, tuple[str, str]]
    question: str = ""
    label: str | None = None
    unsupported: list[str] = field(default_factory=list)
    error_kind: str | None = None
    line: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class CaseError(ValueError):
    """One line cannot be used."""


def _str_list(obj: dict, key: str) -> list[str]:
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CaseError(f"'{key}' must be a list of strings")
    return value


def parse_case(obj: object, line: int, resolver: Resolver | None = None) -> Case:
    """Validate one decoded JSON line and build its :class:`Case`."""
    if not isinstance(obj, dict):
        raise CaseError(f"expected a JSON object, got {type(obj).__name__}")
    for key in ("cid", "answer"):
        if key not in obj:
            raise CaseError(f"missing field '{key}'")
    cid = obj["cid"]
    if isinstance(cid, bool) or not isinstance(cid, (str, int)):
        raise CaseError("'cid' must be a string or an integer")
    answer = obj["answer"]
    if not isinstance(answer, str):
        raise CaseError("'answer' must be a string")
    question = obj.get("question", "")
    if question is None:
        question = ""
    if not isinstance(question, str):
        raise CaseError("'question' must be a string")
    label = obj.get("label")
    if label is not None and label not in LABELS:
        raise CaseError(f"'label' must be one of {', '.join(LABELS)}, got {label!r}")
    error_kind = obj.get("error_kind")
    if error_kind is not None and not isinstance(error_kind, str):
        raise CaseError("'error_kind' must be a string")
    unsupported = _str_list(obj, "unsupported")

    warnings: list[str] = []
    contexts: dict[str, tuple[str, str]] = {}
    if "contexts" in obj:
        raw = obj["contexts"]
        if not isinstance(raw, list):
            raise CaseError("'contexts' must be a list of {id, title, abstract} objects")
        for i, ctx in enumerate(raw):
            if not isinstance(ctx, dict):
                raise CaseError(f"contexts[{i}] must be an object")
            for key in ("id", "title", "abstract"):
                if not isinstance(ctx.get(key), str):
                    raise CaseError(f"contexts[{i}] needs a string '{key}'")
            contexts[ctx["id"]] = (ctx["title"], ctx["abstract"])
    elif "context_ids" in obj:
        ids = _str_list(obj, "context_ids")
        if resolver is None:
            raise CaseError("'context_ids' needs an index to resolve them")
        papers = resolver(ids)
        contexts = {p.id: (p.title, p.abstract) for p in papers}
        missing = [i for i in ids if i not in contexts]
        if ids and not contexts:
            raise CaseError(f"none of the context ids is in the index: {', '.join(ids[:5])}")
        if missing:
            warnings.append(f"context ids not in the index: {', '.join(missing)}")
    else:
        raise CaseError("missing field 'contexts' (or 'context_ids')")
    return Case(
        cid=str(cid), answer=answer, contexts=contexts, question=question, label=label,
        unsupported=unsupported, error_kind=error_kind, line=line, warnings=warnings,
    )


def needs_index(lines: Iterable[str]) -> bool:
    """Whether any line uses ``context_ids`` (so the index must be opened)."""
    for text in lines:
        if '"context_ids"' in text:
            return True
    return False


def parse_lines(lines: Iterable[str], resolver: Resolver | None = None) -> tuple[list[Case], list[LineError]]:
    cases: list[Case] = []
    errors: list[LineError] = []
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(LineError(n, f"invalid JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            cases.append(parse_case(obj, n, resolver))
        except CaseError as exc:
            errors.append(LineError(n, str(exc)))
    return cases, errors


def load_cases(path: str | Path, resolver: Resolver | None = None) -> tuple[list[Case], list[LineError]]:
    """Read a JSONL file of cases; raises ``FileNotFoundError`` if it is missing."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_lines(text.splitlines(), resolver)
