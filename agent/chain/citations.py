"""Citation markers: map the model's ``[n]`` to paper ids, drop unknown ones, detect refusals.

The model cites evidence blocks by number; users and the checker see
``[paper-id]``. Mapping happens while streaming (a marker is held back until
its closing bracket arrives), so what the user watches is what gets stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from agent.sentences import marker_ids, outside_quotes, sentence_starts, split_sentences, strip_markers, sub_outside_quotes
from agent.types import Citation, Paper

#: One bracket group of citation numbers: [1], [1, 2], [1][2] is two groups.
_NUM_GROUP = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
_ANY_MARKER = re.compile(r"\[([A-Za-z0-9_.:-]+(?:\s*[,;]\s*[A-Za-z0-9_.:-]+)*)\]")
#: Longest text held back while waiting for a marker to close.
MAX_PENDING = 40
REFUSAL_TEXT = "The abstracts do not say."
_REFUSAL = re.compile(
    r"\b(abstracts? (do|does|did) not (say|state|mention|specify|report|provide|contain)|"
    r"(is|are) not (mentioned|stated|specified|reported|provided|given) in the (abstracts?|excerpts?)|"
    r"excerpts? (do|does) not (say|state|mention|contain)|no information (about|on)|cannot be determined from)\b",
    re.I,
)


class MarkerMapper:
    """Rewrites ``[n]`` to ``[id]`` in a token stream; counts markers it could not resolve."""

    def __init__(self, numbered: dict[int, str]) -> None:
        self.numbered = numbered
        self.unknown = 0
        self._pending = ""

    def _map_group(self, match: re.Match[str]) -> str:
        out = []
        for part in re.split(r"[,;]", match.group(1)):
            num = int(part.strip())
            if num in self.numbered:
                out.append(f"[{self.numbered[num]}]")
            else:
                self.unknown += 1
        return "".join(out)

    def feed(self, piece: str) -> str:
        """Mapped text that is safe to show now."""
        text = self._pending + piece
        cut = text.rfind("[")
        if cut != -1 and "]" not in text[cut:] and len(text) - cut <= MAX_PENDING:
            self._pending, text = text[cut:], text[:cut]
        else:
            self._pending = ""
        return _NUM_GROUP.sub(self._map_group, text)

    def flush(self) -> str:
        """The held-back tail; a marker cut off by the token limit ("[2") is closed."""
        text, self._pending = self._pending, ""
        if re.fullmatch(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*", text):
            text += "]"
        return _NUM_GROUP.sub(self._map_group, text)

    def map_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        for piece in pieces:
            mapped = self.feed(piece)
            if mapped:
                yield mapped
        tail = self.flush()
        if tail:
            yield tail


#: A run of numbered markers ("[1]", "[1][2]", "[1, 2]") and the spaces after it.
_NUM_RUN = re.compile(r"(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]\s*)+")
#: What precedes a marker that is a clause's subject ("while [2] proposes"): the text's or a sentence's start,
#: a comma or semicolon, or a coordinating conjunction (grammar, not a tuned list).
_CLAUSE_START = re.compile(r"(?:^|[.!?;,:]|\b(?:and|but|or|while|whereas|yet|so))\s*$", re.I)


def name_marker_mentions(text: str, names: dict[int, str]) -> str:
    """Numbered markers that the model wrote as words, rewritten as citations (before ``[n]`` becomes an id).

    Asked to cite ``[1]`` and ``[2]`` at the end of each sentence, the small model also uses the numbers as
    the papers' names: "[1][2] Both papers decouple the loss." or "[1] uses a decoupled loss, while [2]
    proposes ...". Shown as ``[p196b093a] uses ...`` that reads as a broken sentence, and a marker that opens a
    sentence joins the sentence before it when answers are split (markers after a full stop cite what precedes
    them), so the previous sentence gains a citation it never had. Here:

    * a single marker that is a clause's subject (at a sentence start or after a comma or a conjunction, and
      followed by a lower-case word) becomes the paper's name followed by its marker ("DCL [1] uses ...");
    * any other run of markers that opens a sentence (before the paper's name, or "Both papers") moves to the
      end of that sentence.

    Markers that follow the words they cite are left alone.
    """
    out: list[str] = []
    moved: list[str] = []  # markers waiting for the end of the sentence they opened
    last = 0
    for m in _NUM_RUN.finditer(text):
        before, after = text[last : m.start()], text[m.end() :]
        if moved:
            before = _close_sentence(before, moved)
        out.append(before)
        last = m.end()
        run = m.group().strip()
        nums = [int(n) for n in re.findall(r"\d+", run)]
        opens_clause = bool(_CLAUSE_START.search(text[: m.start()]))
        if not re.match(r"[A-Za-z]", after) or not opens_clause:
            if moved and re.match(r"\s*(?:[.!?](?:\s|$)|$)", after):  # the sentence's own end citation: merge
                run += "".join(x for x in moved if x not in run)
                moved.clear()
                out.append(run + m.group()[len(m.group().rstrip()) :])
            else:
                out.append(m.group())  # a citation after the words it cites
        elif len(nums) == 1 and nums[0] in names and after[0].islower():
            out.append(f"{names[nums[0]]} {run} ")
        else:
            moved.append(run)
    tail = text[last:]
    out.append(_close_sentence(tail, moved, at_end=True) if moved else tail)
    return "".join(out)


def _close_sentence(text: str, moved: list[str], at_end: bool = False) -> str:
    """``text`` with the ``moved`` markers put before its first sentence-ending stop (or at its end); empties
    ``moved`` once placed."""
    stop = re.search(r"(?<!\d)[.!?](?=\s|$)", text)
    if stop is None:
        if not at_end:
            return text
        stripped = text.rstrip()
        placed = f"{stripped} {''.join(moved)}"
    else:
        placed = f"{text[: stop.start()].rstrip()} {''.join(moved)}{text[stop.start():]}"
    moved.clear()
    return placed


def clean_markers(text: str, allowed: set[str]) -> tuple[str, int]:
    """Remove ``[id]`` markers whose id is not in ``allowed``; returns (text, number removed).

    Bracketed text that is not a citation (e.g. "[CLS]" when no paper has that id) is only
    removed when it looks like an id the model invented for a paper (starts with 'p' + hex).
    """
    removed = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal removed
        ids = [i.strip() for i in re.split(r"[,;]", match.group(1))]
        kept = [i for i in ids if i in allowed]
        dropped = [i for i in ids if i not in allowed and (re.fullmatch(r"p[0-9a-f]{6,}|\d+", i) or len(ids) > 1)]
        if not kept and not dropped:
            return match.group(0)
        removed += len(dropped)
        return "".join(f"[{i}]" for i in kept)

    cleaned = sub_outside_quotes(_ANY_MARKER, repl, text)  # a verbatim quote's own brackets stay
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), removed


def cited_ids(text: str, allowed: set[str]) -> list[str]:
    """Ids cited in ``text``, first appearance first."""
    ids: list[str] = []
    for match in outside_quotes(_ANY_MARKER.finditer(text), text):
        for part in re.split(r"[,;]", match.group(1)):
            pid = part.strip()
            if pid in allowed and pid not in ids:
                ids.append(pid)
    return ids


def is_refusal(text: str) -> bool:
    """True when the answer says the abstracts do not contain the answer."""
    return bool(_REFUSAL.search(text))


def reference_list(papers: list[Paper]) -> list[Citation]:
    return [Citation(id=p.id, title=p.title) for p in papers]


def format_references(citations: list[Citation]) -> str:
    """The reference list appended to an answer."""
    if not citations:
        return ""
    return "References:\n" + "\n".join(f"[{c.id}] {c.title}" for c in citations)


_END_PUNCT = re.compile(r"([.!?]['\")]*)\s*$")


def attach_missing_citations(text: str, choose: Callable[[str], str | None]) -> tuple[str, int]:
    """Give each uncited factual sentence the paper ``choose`` picks for it; returns (text, number attached).

    Small models often drop markers on some sentences (or all of them). ``choose``
    gets the sentence and returns a paper id (the evidence it is closest to) or
    None when no evidence is close enough; the marker goes before the final full
    stop. Line structure (bullets) is kept; refusals and short fragments are left alone.
    """
    attached = 0
    lines_out = []
    for line in text.split("\n"):
        if not line.strip():
            lines_out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        sentences = split_sentences(line)
        fixed = []
        for s in sentences:
            words = strip_markers(s).split()
            if marker_ids(s) or len(words) < 4 or s.rstrip().endswith(":") or is_refusal(s):
                fixed.append(s)
                continue
            pid = choose(strip_markers(s))
            if pid is None:
                fixed.append(s)
                continue
            attached += 1
            m = _END_PUNCT.search(s)
            fixed.append(f"{s[: m.start()].rstrip()} [{pid}]{m.group(1)}" if m else f"{s.rstrip()} [{pid}]")
        lines_out.append(indent + " ".join(fixed))
    return "\n".join(lines_out), attached


def drop_example_echoes(text: str, terms: Iterable[str], source: str) -> tuple[str, int]:
    """Remove the sentences of ``text`` that use a made-up word of the prompt's example.

    A small model sometimes copies the system prompt's format example into
    its answer ("... models widgets as graphs [2]."). A sentence counts as
    such an echo when it contains one of ``terms`` (case-insensitive, also
    inside a longer word) that ``source`` (the evidence and the question)
    does not. Returns the remaining text and how many sentences were dropped.
    """
    lowered = source.lower()
    foreign = [t.lower() for t in terms if t.lower() not in lowered]
    if not foreign:
        return text, 0
    cuts = sorted({0, *sentence_starts(text), len(text)})
    kept: list[str] = []
    dropped = 0
    for a, b in zip(cuts, cuts[1:]):
        span = text[a:b]
        if any(t in strip_markers(span).lower() for t in foreign):
            dropped += 1
            tail = span[len(span.rstrip()) :]
            if "\n" in tail and kept and not kept[-1].endswith("\n"):
                kept.append(tail)  # keep the line break that separated list items
        else:
            kept.append(span)
    return re.sub(r"[ \t]+\n", "\n", "".join(kept)).strip(), dropped
