"""Comparison tables (paper x aspect), extracted from the abstracts themselves.

Cells are quoted abstract sentences chosen by cue words, not generated text:
the table costs no model call on a slow CPU and cannot misstate a paper.
"""

from __future__ import annotations

import re

from agent.sentences import split_sentences
from agent.types import Paper

#: Aspect -> cue pattern; the first abstract sentence matching the cue fills the cell.
ASPECTS: dict[str, re.Pattern[str]] = {
    "Problem": re.compile(r"\b(however|challenge|limitation|problem|suffer|struggle|difficult|issue|lack)\w*", re.I),
    "Approach": re.compile(r"\b(we (propose|introduce|present|develop|design)|our (method|approach|model|framework)|this (paper|work))\b", re.I),
    "Result": re.compile(r"\b(experiment|results?|outperform|achiev|demonstrat|show(s|n)? that|improv)\w*", re.I),
}
#: Longest cell, in words.
MAX_CELL_WORDS = 28


def _shorten(sentence: str) -> str:
    words = sentence.split()
    text = " ".join(words[:MAX_CELL_WORDS]) + (" …" if len(words) > MAX_CELL_WORDS else "")
    return text.replace("|", "/")


def comparison_table(papers: list[Paper]) -> str:
    """A markdown table with one row per paper and one column per aspect."""
    header = "| Paper | " + " | ".join(ASPECTS) + " |"
    rule = "|---" * (len(ASPECTS) + 1) + "|"
    rows = [header, rule]
    for paper in papers:
        sents = split_sentences(paper.abstract)
        used: set[int] = set()
        cells = []
        for pattern in ASPECTS.values():
            idx = next((i for i, s in enumerate(sents) if i not in used and pattern.search(s)), None)
            if idx is None:
                cells.append("—")
                continue
            used.add(idx)
            cells.append(_shorten(sents[idx]))
        rows.append(f"| [{paper.id}] {paper.title.replace('|', '/')} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
