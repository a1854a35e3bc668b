"""Strict reading of JSON Lines files: one object per line, bad lines reported by number.

The eval question sets and the faithfulness check cases share this reader, so
both report a broken line the same way ("line 3: invalid JSON: ...") and skip
blank lines, while each format keeps its own field rules (a ``parse``
callback that raises ``ValueError`` with a message naming the field).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class LineProblem:
    """A line of a JSONL file that could not be used (1-based line number)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def str_list(obj: Mapping[str, Any], key: str) -> list[str]:
    """``obj[key]`` as a list of strings ([] when absent or null); ValueError naming the key otherwise."""
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{key}' must be a list of strings")
    return list(value)


def parse_jsonl(lines: Iterable[str], parse: Callable[[Any, int], T]) -> tuple[list[T], list[LineProblem]]:
    """Parse every non-blank line with ``parse(obj, line_number)``; bad lines become problems, not errors."""
    items: list[T] = []
    problems: list[LineProblem] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        try:
            items.append(parse(obj, number))
        except ValueError as exc:
            problems.append(LineProblem(number, str(exc)))
    return items, problems
