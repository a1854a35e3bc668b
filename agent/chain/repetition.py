"""Stop a small model that starts repeating itself, or goes on too long.

Greedy decoding with a 1.5B model sometimes loops: the same two or three
sentences again and again until ``max_tokens`` (seen on summaries; a minute
of generation for nothing). :func:`first_repeat` finds the first finished
sentence that repeats an earlier one (compared without citation markers,
case and spacing), so the engine can stop generating there and cut the
answer before it. :class:`SoftLimit` ends a long answer at the first
sentence end after a token count, so a long list or summary is not cut
mid-sentence by the hard ``max_tokens``.
"""

from __future__ import annotations

import re

from agent.llm.base import LLM
from agent.sentences import sentence_starts, split_sentences, strip_markers

#: Sentences shorter than this (in words) may legitimately repeat ("It does not.").
MIN_WORDS = 4


def _key(sentence: str) -> str:
    return re.sub(r"\W+", " ", strip_markers(sentence).lower()).strip()


def first_repeat(text: str, complete: bool = False) -> int | None:
    """Character offset where the first repeated sentence of ``text`` starts, or None.

    The last sentence counts only when ``complete`` (during streaming it may
    still be growing).
    """
    sentences = split_sentences(text)
    if not complete:
        sentences = sentences[:-1]
    seen: set[str] = set()
    pos = 0
    for sentence in sentences:
        found = re.compile(r"\s+".join(map(re.escape, sentence.split()))).search(text, pos)
        if found is None:  # the splitter changed more than spacing; give up rather than cut wrongly
            return None
        start, pos = found.start(), found.end()
        key = _key(sentence)
        if len(key.split()) >= MIN_WORDS:
            if key in seen:
                return start
            seen.add(key)
    return None


class SoftLimit:
    """Stop a long answer at the end of the sentence in progress once it has ``tokens`` tokens.

    ``llm.max_tokens`` cuts an answer wherever it is; this limit lets the
    sentence (or list item) that is being written finish, then stops. The
    model's own tokenizer counts (``llm.count_tokens``), so the limit means
    the same for every backend.
    """

    def __init__(self, llm: LLM, tokens: int) -> None:
        self.llm = llm
        self.tokens = tokens
        self.reached_at: int | None = None  # character offset where the limit was reached
        self.cut_at: int | None = None  # where the answer ends, once the limit stopped it

    def feed(self, text: str, piece: str) -> tuple[str, bool]:
        """Given the text so far and the next piece: the part of the piece to keep, and whether to stop."""
        if self.tokens <= 0:
            return piece, False
        full = text + piece
        if self.reached_at is None:
            if self.llm.count_tokens(full) < self.tokens:
                return piece, False
            self.reached_at = len(full)
            return piece, False
        cut = next((b for b in sentence_starts(full) if b >= self.reached_at), None)
        if cut is None:
            return piece, False
        self.cut_at = cut
        return full[len(text) : cut].rstrip() if cut > len(text) else "", True
