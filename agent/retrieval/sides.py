"""Which paper each side of a comparison is about.

A side searched on its own is one token ("CODE", "CSD", "DELLA"): the dense
model and BM25 blur it, and the best hit is often a paper that merely uses the
word (code generation for "CODE"). Each side is therefore searched with the
rest of the question as its context (the other sides' names taken out), and
among those hits a paper that *defines* the side's name (the name index:
title, "(CSD)", "called CVIB"; for an acronym nobody defines, one whose words
it abbreviates: "CPC", "Contrastive Predictive Coding") wins over one that does not. Sides with a
defined name are resolved first, then the others, and no paper serves two
sides, so "AdaVAE and DELLA" cannot both become AdaVAE.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agent.retrieval.names import spells_out
from agent.types import SearchHit

if TYPE_CHECKING:
    from agent.retrieval.hybrid import Retriever


def context_query(question: str, side: str, others: list[str]) -> str:
    """``question`` with the other sides' text removed, so it describes ``side`` and what is asked of it."""
    out = question
    for other in sorted(others, key=len, reverse=True):
        if other and other.lower() not in side.lower():
            out = re.sub(re.escape(other), " ", out, flags=re.I)
    return " ".join(out.split())


def resolve_sides(retriever: Retriever, question: str, sides: list[str], depth: int) -> list[SearchHit]:
    """One hit per side that resolves to a paper, in the sides' order; distinct papers.

    ``depth``: hits of each side's context query among which the paper is chosen.
    """
    named = {side: [pid for pid, _ in retriever.names.search(side, specific=True)] for side in sides}
    order = sorted(range(len(sides)), key=lambda i: (not named[sides[i]], i))  # defined names first
    chosen: dict[int, SearchHit] = {}
    taken: set[str] = set()
    for i in order:
        side = sides[i]
        query = context_query(question, side, [s for s in sides if s != side])
        hits = [h for h in retriever.search(query, depth) if h.paper.id not in taken]
        defines = [h for h in hits if h.paper.id in named[side]]
        if not named[side] and side.isupper():  # an acronym no paper defines: one whose words it abbreviates
            defines = [h for h in hits if spells_out(side, f"{h.paper.title}. {h.paper.abstract}")]
        if defines:
            pick = defines[0]
        elif named[side]:
            # The name is defined, but by no paper near the context: the name is the stronger signal.
            pid = next((p for p in named[side] if p not in taken), None)
            found = retriever.papers.get_many([pid]) if pid else {}
            pick = SearchHit(paper=found[pid], score=0.0, ranks={"name": 1}) if pid in found else None
        else:
            pick = hits[0] if hits else None
        if pick is not None:
            chosen[i] = pick
            taken.add(pick.paper.id)
    return [chosen[i] for i in sorted(chosen)]


def side_finds_another(retriever: Retriever, question: str, sides: list[str], hits: list[SearchHit], n: int) -> bool:
    """True when a side, searched with the rest of ``question`` as its context, finds first another of the
    question's best ``n`` ``hits`` than the best one: the sides are different papers. Described sides share words with
    many abstracts, so the best hit's mentioning them all is not enough: "the clustering-based negative sampling
    approach" and "the debiased one for unsupervised sentence embeddings" are both in ClusterNS's abstract, while the
    second side finds DCLR, the question's second hit. (A side that finds a paper the question itself ranks lower is
    a clause, not a paper: "and how do its learned tokens".)"""
    best, others = hits[0].paper.id, {h.paper.id for h in hits[1:n]}
    for side in sides:
        found = retriever.search(context_query(question, side, [s for s in sides if s != side]), 1)
        if found and found[0].paper.id != best and found[0].paper.id in others:
            return True
    return False
