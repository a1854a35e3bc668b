"""Sentence splitting that understands scientific prose and citation markers.

Shared by the answer chain (which cites per sentence) and the faithfulness
checker. Three public functions:

* :func:`split_sentences` - robust to abbreviations (``e.g.``, ``i.e.``,
  ``et al.``, ``vs.``, ``Fig.``, ``U.S.``), decimals (``4.6``), initials
  (``A. madagascariensis``), numbered / bulleted lists, and citation markers
  written after the full stop (``... works. [p1][p2]`` stays one sentence).
* :func:`cited_sentences` - each sentence of an answer with its citation ids.
* :func:`strip_markers` - the text without its ``[id]`` markers.

A hand-written splitter is used rather than pysbd: pysbd (last release 2021)
cuts ``works. [p1][p2] Next`` after the full stop, leaving the markers at the
start of the next sentence, which attributes citations to the wrong sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from agent.types import SentenceResult

#: One citation id, as produced by ``agent.ingest.normalize.paper_id`` (and more).
ID_PATTERN = r"[A-Za-z0-9_.:-]+"
#: A citation marker: ``[id]`` or ``[id1, id2]`` (commas or semicolons).
MARKER_RE = re.compile(rf"\[\s*({ID_PATTERN}(?:\s*[,;]\s*{ID_PATTERN})*)\s*\]")
_ID_RE = re.compile(ID_PATTERN)

# Abbreviations after which a full stop does not end a sentence (lowercased,
# without their final period).
_ABBREVIATIONS = frozenset(
    """
    e.g i.e et al al cf vs etc approx resp viz incl esp w.r.t wrt
    fig figs eq eqs eqn sec secs tab tabs ref refs appx
    dr mr mrs ms prof jr sr inc ltd corp dept univ
    """.split()
)
# Abbreviations only when a number follows ("No. 5", "p. 12", "ca. 300").
_NUMERIC_ABBREVIATIONS = frozenset(
    """
    no nos p pp vol ch chap app ca v min max avg est st co
    jan feb mar apr jun jul aug sep sept oct nov dec
    """.split()
)
# Abbreviations that end a sentence when the next word is capitalized.
_SOFT_ABBREVIATIONS = frozenset({"etc", "al", "inc", "ltd", "co", "corp", "jr", "sr"})

_CLOSERS = "\"'”’)]}»"
_MARKERS_AHEAD = re.compile(rf"(?:\s*{MARKER_RE.pattern})+")
_MARKER_BEFORE = re.compile(rf"{MARKER_RE.pattern}\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\(?\d{1,2}[.)]|\(?[a-zA-Z][.)])\s+")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_ENUMERATOR_BEFORE = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)\(?\d{1,2}$")


def _find_markers_end(text: str, pos: int) -> int:
    """End of citation markers starting at ``pos`` (after optional whitespace), or ``pos``."""
    m = _MARKERS_AHEAD.match(text, pos)
    return m.end() if m else pos


def _is_abbreviation(text: str, dot: int, next_char: str) -> bool:
    """Whether the period at ``dot`` belongs to an abbreviation, initial or list number."""
    before = text[max(0, dot - 40) : dot]
    m = _WORD_BEFORE.search(before)
    if m:
        word = m.group(1)
        low = word.lower().rstrip(".")
        if low in _NUMERIC_ABBREVIATIONS and next_char.isdigit():
            return True
        if low in _ABBREVIATIONS or word.lower() in _ABBREVIATIONS:
            if low in _SOFT_ABBREVIATIONS and next_char.isupper() and low != "al":
                return False
            return True
        # "et al." - "al" is listed; "U.S." / "e.g." style dotted abbreviations.
        if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):
            return True
        # A single capital letter: an initial ("A. madagascariensis", "J. Smith").
        if len(word) == 1 and word.isupper():
            return True
    # A list number at the start of a line, of the text or of a sentence: "1. First item".
    m = _ENUMERATOR_BEFORE.search(before)
    if m and (m.group(0)[:1].isspace() or m.group(0)[:1] in ".!?:;" or dot < 40):
        return True
    return False


def sentence_starts(text: str) -> list[int]:
    """Offsets in ``text`` where a new sentence (or list item) starts.

    A boundary is only known once the next sentence has begun, so a streamed
    text that ends in a full stop has no boundary there yet.
    """
    cuts: list[int] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "\n":
            # A blank line, or a new list item, starts a new sentence.
            j = i + 1
            rest = text[j:]
            if rest.startswith("\n") or _LIST_ITEM.match(rest) or rest.lstrip(" \t").startswith(("#", "|")):
                cuts.append(j)
            elif text[:i].rstrip().endswith(":"):
                cuts.append(j)
            i += 1
            continue
        if ch not in ".!?":
            i += 1
            continue
        # Run of terminal punctuation, then closing quotes/brackets.
        j = i
        while j < n and text[j] in ".!?":
            j += 1
        while j < n and text[j] in _CLOSERS:
            j += 1
        # Citation markers written after the full stop belong to this sentence
        # (and make the stop a sentence end even after "D." or "etc.").
        after_punct = j
        j = _find_markers_end(text, j)
        # So does a stop right after markers ("... [p1]. word2vec ..."): the next sentence may start lowercase.
        cited_end = j > after_punct or bool(ch == "." and _MARKER_BEFORE.search(text, max(0, i - 120), i))
        # A sentence ends only before whitespace (or at the very end).
        if j >= n:
            break
        if not text[j].isspace():
            i = j if j > i else i + 1
            continue
        k = j
        while k < n and text[k].isspace():
            k += 1
        if k >= n:
            break
        nxt = text[k]
        if ch == ".":
            if text[i + 1 : i + 2].isdigit():  # decimal such as 4.6 (no space, handled above)
                i = j
                continue
            if not cited_end and _is_abbreviation(text, i, nxt):
                i = j
                continue
        # The next sentence must look like a sentence start.
        starts = nxt.isupper() or nxt.isdigit() or nxt in "\"'“‘([*-•#|" or not nxt.isalpha()
        if nxt == "[" and MARKER_RE.match(text, k):
            starts = False  # markers not consumed (e.g. "[0, 1]" after a lowercase word)
        if nxt.islower():
            starts = cited_end
        if starts:
            cuts.append(k)
        i = j
    return cuts


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; markers after a full stop stay with their sentence."""
    if not text or not text.strip():
        return []
    cuts = [0, *sentence_starts(text), len(text)]
    out: list[str] = []
    for a, b in zip(cuts, cuts[1:]):
        piece = " ".join(text[a:b].split())
        if piece:
            out.append(piece)
    # A piece that is only citation markers joins the sentence before it.
    merged: list[str] = []
    for piece in out:
        if merged and not strip_markers(piece).strip(" .;,"):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


#: A verbatim quote in an answer: what is bracketed inside it is the paper's own text ("rate ratio [RR]", "the
#: [CLS] token", "[1-8]"), not a citation.
_QUOTE = re.compile(r"“[^“”]*”")


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every verbatim quote (“…”) in ``text``."""
    return [m.span() for m in _QUOTE.finditer(text)]


def _quoted(m: re.Match[str], spans: list[tuple[int, int]]) -> bool:
    return any(a < m.start() and m.end() < b for a, b in spans)


def outside_quotes(matches: Iterable[re.Match[str]], text: str) -> list[re.Match[str]]:
    """Those of ``matches`` (of ``text``) that are not inside a verbatim quote."""
    spans = quoted_spans(text)
    return [m for m in matches if not _quoted(m, spans)]


def sub_outside_quotes(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], text: str) -> str:
    """``pattern.sub(repl, text)``, leaving the matches inside verbatim quotes as they are."""
    spans = quoted_spans(text)
    return pattern.sub(lambda m: m.group(0) if _quoted(m, spans) else repl(m), text)


def markers(text: str) -> list[re.Match[str]]:
    """The citation markers of ``text``: bracketed ids outside verbatim quotes."""
    return outside_quotes(MARKER_RE.finditer(text), text)


def marker_ids(text: str) -> list[str]:
    """Citation ids in ``text``, in order of appearance, without repeats."""
    ids: list[str] = []
    for m in markers(text):
        for pid in _ID_RE.findall(m.group(1)):
            if pid not in ids:
                ids.append(pid)
    return ids


def strip_markers(text: str) -> str:
    """``text`` without citation markers, with the spaces they leave tidied."""
    out = sub_outside_quotes(MARKER_RE, lambda m: "", text)
    out = re.sub(r"\s+([.,;:!?)])", r"\1", out)
    return " ".join(out.split())


def cited_sentences(answer: str) -> list[SentenceResult]:
    """Each sentence of ``answer`` (markers kept in its text) with its citation ids in order."""
    return [SentenceResult(text=s, citations=marker_ids(s)) for s in split_sentences(answer)]


__all__ = [
    "MARKER_RE", "cited_sentences", "marker_ids", "markers", "outside_quotes", "quoted_spans", "split_sentences", "strip_markers",
    "sub_outside_quotes",
]
