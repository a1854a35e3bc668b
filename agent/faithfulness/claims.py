"""Split an answer sentence into atomic claims.

A sentence such as "X does A [p1], while Y does B [p2]." holds two claims,
each with its own citation; "X does A, and it also does B [p1]." holds two
claims that share the sentence's citation. Checking each claim on its own
keeps one supported half from hiding an unsupported one, and lets a
citation placed mid-sentence be checked against its own half.

Rules (deliberately conservative: a wrong split hurts less than a missed one
only when both halves still read as claims):

1. a citation marker followed by more clause text ends a claim;
2. ``;``, ``, while``, ``, whereas``, ``, but``, ``, although`` and
   ``, and``/``, and then`` followed by a new subject (a pronoun, determiner
   or name) end a claim;
3. a piece with fewer than three content words is merged back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.faithfulness.text import content_stems
from agent.sentences import MARKER_RE, marker_ids, outside_quotes, strip_markers


@dataclass
class Claim:
    """One atomic claim: its text (markers removed), citations and the sentence it came from."""

    text: str
    citations: list[str] = field(default_factory=list)
    sentence_index: int = 0


_MARKER_GROUP = re.compile(rf"(?:\s*{MARKER_RE.pattern})+")
_CLAUSE_SPLIT = re.compile(
    r"\s*;\s+|,\s+(?=(?:while|whereas|but|although|though|yet)\s)|\s+(?=(?:whereas)\s)"
    r"|,\s+(?:and\s+)?(?=that\s)"
    r"|,\s+and\s+(?=(?:then\s+)?(?:it|its|they|their|this|these|that|those|the|a|an|both|each|[A-Z][A-Za-z0-9-]*)\b)"
)
_LEADING_CONJ = re.compile(r"^(?:and|while|whereas|but|although|though|yet|then|also)\s+", re.I)
_MIN_CONTENT = 3


def _marker_segments(sentence: str) -> list[tuple[str, list[str]]]:
    """Cut after each citation-marker group that is followed by more clause text."""
    segments: list[tuple[str, list[str]]] = []
    start = 0
    for m in outside_quotes(_MARKER_GROUP.finditer(sentence), sentence):
        rest = sentence[m.end() :]
        if len(content_stems(strip_markers(rest))) >= _MIN_CONTENT:
            piece = sentence[start : m.end()]
            segments.append((piece, marker_ids(piece)))
            start = m.end()
    tail = sentence[start:]
    if tail.strip():
        segments.append((tail, marker_ids(tail)))
    return segments


def _clause_pieces(text: str) -> list[str]:
    pieces = [p for p in _CLAUSE_SPLIT.split(text) if p and p.strip(" ,;.")]
    merged: list[str] = []
    for p in pieces:
        p = _LEADING_CONJ.sub("", p.strip(" ,;"))
        if merged and len(content_stems(p)) < _MIN_CONTENT:
            merged[-1] = f"{merged[-1]}, {p}"
        elif merged and len(content_stems(merged[-1])) < _MIN_CONTENT:
            merged[-1] = f"{merged[-1]}, {p}"
        else:
            merged.append(p)
    return merged


def _tidy(text: str) -> str:
    t = strip_markers(text).strip(" ,;")
    t = _LEADING_CONJ.sub("", t)
    if t and t[-1] not in ".!?":
        t += "."
    return t[:1].upper() + t[1:] if t else t


def split_claims(sentence: str, citations: list[str] | None = None, sentence_index: int = 0) -> list[Claim]:
    """The atomic claims of one answer sentence (markers kept in ``sentence``).

    Each claim carries the markers of its own part of the sentence, or the
    sentence's ``citations`` (default: all its markers) when its part has none.
    """
    all_ids = list(citations) if citations is not None else marker_ids(sentence)
    claims: list[Claim] = []
    for seg_text, seg_ids in _marker_segments(sentence):
        ids = seg_ids or all_ids
        for piece in _clause_pieces(strip_markers(seg_text)):
            text = _tidy(piece)
            if text.strip(" ."):
                claims.append(Claim(text=text, citations=list(ids), sentence_index=sentence_index))
    # Re-merge fragments too small to be claims (e.g. a trailing "[p1]" segment).
    out: list[Claim] = []
    for c in claims:
        if out and len(content_stems(c.text)) < _MIN_CONTENT:
            prev = out[-1]
            prev.text = prev.text.rstrip(".") + ", " + c.text[:1].lower() + c.text[1:]
            prev.citations = list(dict.fromkeys(prev.citations + c.citations))
        else:
            out.append(c)
    if not out:
        out = [Claim(text=_tidy(sentence) or sentence, citations=all_ids, sentence_index=sentence_index)]
    return out
