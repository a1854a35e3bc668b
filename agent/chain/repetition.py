"""Stop a small model that starts repeating itself.

Greedy decoding with a 1.5B model sometimes loops: the same two or three
sentences again and again until ``max_tokens`` (seen on summaries; a minute
of generation for nothing). :func:`first_repeat` finds the first finished
sentence that repeats an earlier one (compared without citation markers,
case and spacing), so the engine can stop generating there and cut the
answer before it.
"""

from __future__ import annotations

import re

from agent.sentences import split_sentences, strip_markers

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
