"""What the answer engine streams: retrieval, screening decisions, answer text, the finished answer."""

from __future__ import annotations

from dataclasses import dataclass

from agent.chain.classify import QuestionPlan, Turn
from agent.types import Answer, Paper, SearchHit


@dataclass
class RetrievalEvent:
    hits: list[SearchHit]
    plan: QuestionPlan
    retrieve_s: float


@dataclass
class ScreenEvent:
    """One candidate paper decided (quote-built answers): shown as it is made ("✓ DCLR — 'we design ...'")."""

    index: int  # 1-based position in the checking order
    total: int  # candidates to check
    paper: Paper
    included: bool
    p: float
    quote: str
    name: str = ""  # how the answer names the paper (display_name with the corpus' generic names)


@dataclass
class SideEvent:
    """One paper a comparison is about, with the quote it is read from. Every side is announced before any is
    written about, so the reader sees at once which papers are compared (and can stop if one is not the paper
    meant)."""

    index: int  # 1-based position among the compared papers
    total: int  # papers compared
    paper: Paper
    quote: str
    name: str = ""  # how the answer names the paper


@dataclass
class TokenEvent:
    text: str


@dataclass
class DoneEvent:
    answer: Answer
    turn: Turn


Event = RetrievalEvent | ScreenEvent | SideEvent | TokenEvent | DoneEvent
