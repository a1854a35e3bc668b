"""The pieces every draft reader shares: sentences, problems, and the cleaned text that remembers, for
every character, its offset in the original (so a sentence reports the line the user wrote it on).

Citations are replaced by placeholder markers (``[cite:N]``) before sentence splitting
(:mod:`agent.audit.parse`), so keys with any characters survive the splitter.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Literal

Format = Literal["latex", "markdown", "plain"]

#: Placeholder written where a citation stood; N indexes :attr:`Out.cites`.
PLACEHOLDER = "[cite:{}]"
#: Written before the placeholder of a textual citation (``\\citet{a} shows``, ``@a shows``): not a letter, so
#: the splitter starts a sentence there instead of handing the citation to the sentence before.
TEXTUAL = "\ue000"
_PLACEHOLDER_RE = re.compile(r"\ue000?\[cite:(\d+)\]")

#: Math kept in the text when, stripped of commands, it is this short and simple (``$95\\%$``, ``$\\beta=4$``).
_SIMPLE_MATH = re.compile(r"[A-Za-z0-9.,%<>=+\-×\s]{1,24}")
#: Math commands that read as a word or symbol; math using any other command is dropped.
MATH_WORDS = {"times": "×", "cdot": "·", "le": "<=", "leq": "<=", "ge": ">=", "geq": ">=", "approx": "≈", "sim": "~",
              "pm": "±", "%": "%", "percent": "%"}
_GREEK = frozenset("alpha beta gamma delta epsilon varepsilon eta theta lambda mu nu pi rho sigma tau phi chi psi omega".split())


@dataclass
class DraftProblem:
    """Something odd in the draft that the audit worked around, with its line."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class DraftSentence:
    """One sentence: the line it starts on, its cleaned text (citations shown as ``[key, ...]`` where they
    stood), the text checked (without citations), and its citation keys in order."""

    line: int
    text: str
    citations: list[str] = field(default_factory=list)
    heading: bool = False
    claim: str = ""


@dataclass
class ParsedDraft:
    format: Format
    sentences: list[DraftSentence]
    problems: list[DraftProblem] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """Every cited key, in order of first appearance."""
        return list(dict.fromkeys(k for s in self.sentences for k in s.citations))


class Out:
    """Cleaned text with, per character, its offset in the original."""

    def __init__(self, text: str) -> None:
        self.src = text
        self.chars: list[str] = []
        self.offs: list[int] = []
        self.cites: list[list[str]] = []
        self.headings: list[tuple[int, int]] = []
        self.problems: list[DraftProblem] = []
        self._newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def copy(self, a: int, b: int) -> None:
        self.chars.extend(self.src[a:b])
        self.offs.extend(range(a, b))

    def put(self, s: str, at: int) -> None:
        self.chars.extend(s)
        self.offs.extend([at] * len(s))

    def cite(self, keys: list[str], at: int, textual: bool = False) -> None:
        self.put(f"{' ' if not textual else TEXTUAL}{PLACEHOLDER.format(len(self.cites))}", at)
        self.cites.append(keys)

    def brk(self, at: int) -> None:
        self.put("\n\n", at)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self._newlines, offset) + 1

    def problem(self, offset: int, message: str) -> None:
        self.problems.append(DraftProblem(self.line_of(offset), message))

    @property
    def pos(self) -> int:
        return len(self.chars)


def match_brace(text: str, i: int, end: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``i`` (escapes and comments respected), or -1."""
    depth = 0
    j = i
    while j < end:
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "%":
            nl = text.find("\n", j, end)
            j = end if nl < 0 else nl + 1
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def match_bracket(text: str, i: int, end: int) -> int:
    """Index of the ``]`` closing the optional argument at ``i`` (braces nest), or -1 (none on this line)."""
    depth = 0
    j = i + 1
    while j < end and text[j] != "\n":
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "]" and depth <= 0:
            return j
        j += 1
    return -1


def skip_ws(text: str, i: int, end: int) -> int:
    while i < end and text[i] in " \t":
        i += 1
    return i


def math_text(body: str) -> str:
    """The text kept for a piece of inline math: simple numbers and relations, else nothing."""
    def word(m: re.Match[str]) -> str:
        name = m.group(1)
        return name if name in _GREEK else MATH_WORDS.get(name, "\x00")

    plain = re.sub(r"\\([A-Za-z]+)", word, body)
    plain = re.sub(r"\\(.)", r"\1", plain)
    plain = " ".join(plain.replace("{", "").replace("}", "").replace("^", "").replace("_", "").split())
    return plain if _SIMPLE_MATH.fullmatch(plain) else ""
