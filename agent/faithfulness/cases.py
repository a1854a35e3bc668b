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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.jsonl import LineProblem, parse_jsonl, str_list
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


#: A malformed line of a cases file (the shared JSONL reader's problem type).
LineError = LineProblem


class CaseError(ValueError):
    """One line cannot be used."""


def _str_list(obj: dict, key: str) -> list[str]:
    try:
        return str_list(obj, key)
    except ValueError as exc:
        raise CaseError(str(exc)) from exc


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
    """Cases and the problems of bad lines (1-based line numbers); blank lines are skipped."""
    return parse_jsonl(lines, lambda obj, line: parse_case(obj, line, resolver))


def load_cases(path: str | Path, resolver: Resolver | None = None) -> tuple[list[Case], list[LineError]]:
    """Read a JSONL file of cases; raises ``FileNotFoundError`` if it is missing."""
    text = Path(path).read_text(encoding="utf-8")
    return parse_lines(text.splitlines(), resolver)
