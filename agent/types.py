"""Citewise's own data types, shared by every layer.

Nothing here imports LangChain, Chroma or a model runtime: these are the
shapes the CLI, evals and UI depend on, so library churn stays elsewhere.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field

QuestionType = Literal["single", "list", "compare", "summary", "out_of_scope"]


class Paper(BaseModel):
    """One paper: display text plus the original text it came from."""

    id: str = Field(description="Stable id; survives re-indexing.")
    title: str = Field(description="Title, whitespace and LaTeX escapes normalized for display.")
    abstract: str = Field(description="Abstract, normalized for display.")
    original_title: str = Field(default="", description="Title exactly as read from the source.")
    original_abstract: str = Field(default="", description="Abstract exactly as read from the source.")
    year: int | None = None
    authors: list[str] = Field(default_factory=list)
    url: str | None = None
    source: str = Field(default="", description="Where the paper was read from (file path or 'bundled:<name>').")

    @property
    def content_hash(self) -> str:
        """Hash of what gets embedded: a change here means re-embedding."""
        text = f"{self.title}\n{self.abstract}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def embed_text(self) -> str:
        """The text embedded and lexically indexed for this paper."""
        return f"{self.title}. {self.abstract}"


class SearchHit(BaseModel):
    """A retrieved paper with its fused score, each retriever's rank (1-based) and raw score."""

    paper: Paper
    score: float
    ranks: dict[str, int] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)


class Citation(BaseModel):
    id: str
    title: str


class Evidence(BaseModel):
    id: str
    quote: str


class SentenceResult(BaseModel):
    """One answer sentence, its citations and (once checked) its faithfulness verdict."""

    text: str
    citations: list[str] = Field(default_factory=list)
    supported: bool | None = None
    score: float | None = None
    evidence: Evidence | None = None
    reason: str | None = None


class ScreenedPaper(BaseModel):
    """One candidate paper's screening decision: does its abstract address the question?"""

    id: str
    title: str
    included: bool
    p: float = Field(description="The model's probability that the paper addresses the question (YES vs NO).")
    quote: str = Field(description="The abstract sentence closest to the question (what the decision read first).")
    name: str = Field(default="", exclude=True, description="How the answer names the paper (shown in the UI; not in the JSON).")


class FaithfulnessVerdict(BaseModel):
    verdict: Literal["faithful", "unfaithful"]
    score: float
    mode: Literal["fast", "thorough"] = "fast"


class Timings(BaseModel):
    retrieve_s: float = 0.0
    first_token_s: float | None = None
    total_s: float = 0.0


class Answer(BaseModel):
    """A cited answer. ``public_json`` gives the documented CLI shape."""

    question: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    sentences: list[SentenceResult] = Field(default_factory=list)
    refused: bool = False
    model: str = ""
    prompt_version: str = ""
    timings: Timings = Field(default_factory=Timings)
    question_type: QuestionType | None = None
    retrieved: list[Citation] = Field(default_factory=list)
    removed_citations: int = 0
    auto_citations: int = Field(default=0, description="Markers added to sentences the model left uncited.")
    table: str | None = Field(default=None, description="Markdown comparison table (paper x aspect), if any.")
    tokens_in: int = 0
    tokens_out: int = 0
    faithfulness: FaithfulnessVerdict | None = None
    withheld: str | None = Field(
        default=None,
        description="The model's draft when it was withheld (the answer is then a refusal); see withheld_reason.",
    )
    withheld_reason: str | None = Field(
        default=None,
        description="Why the draft was withheld: no sentence supported by the cited abstracts, or no number given "
        "for a question that asks for one.",
    )
    withheld_sentences: list[SentenceResult] = Field(
        default_factory=list,
        description="Sentences of the draft taken out of the answer text because the checker found them unsupported "
        "(output policy answer.remove_unsupported_sentences), each with its verdict and reason; never shown as claims.",
    )
    screened: list[ScreenedPaper] = Field(
        default_factory=list,
        description="Quote-built answers: every candidate paper the model decided on, in the order checked, with "
        "its probability and the quote it read.",
    )
    notes: str | None = Field(
        default=None,
        description="Text after the answer that makes no claim about a paper's content (papers considered and not "
        "included, how many candidates were checked); not checked for faithfulness.",
    )
    step_seconds: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Quote-built answers: where the model and checker time went, {step: {'s': seconds, 'calls': n}} "
        "for screen (yes/no decisions), write (written sentences, table cells, contrast) and check (the checker on "
        "written sentences); every answer checked by a hook also has final_check (the whole answer's faithfulness check, "
        "fast or thorough). Recorded in eval rows; not part of the ask --json shape.",
    )
    screened_evidence: list[Evidence] = Field(
        default_factory=list,
        description="Titles and abstract sentences of retrieved papers kept out of the evidence because they address "
        "the reader or the model instead of describing research (evidence hygiene); quoted here as inert data.",
    )

    @property
    def prose(self) -> str:
        """The answer text without the reference list the chain appends ("\n\nReferences:\n[id] title ...")."""
        text = self.answer
        cut = text.rfind("\n\nReferences:\n")
        if cut < 0 and text.startswith("References:\n"):
            cut = 0
        return text[:cut] if cut >= 0 else text

    def public_json(self) -> dict:
        """The JSON object printed by ``citewise ask --json``."""
        out = {
            "question": self.question,
            "answer": self.answer,
            "citations": [c.model_dump() for c in self.citations],
            "sentences": [
                {k: v for k, v in s.model_dump().items() if v is not None or k in ("text", "citations")}
                for s in self.sentences
            ],
            "refused": self.refused,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "timings": self.timings.model_dump(),
            "question_type": self.question_type,
            "retrieved": [c.model_dump() for c in self.retrieved],
            "removed_citations": self.removed_citations,
            "auto_citations": self.auto_citations,
            "table": self.table,
            "tokens": {"in": self.tokens_in, "out": self.tokens_out},
        }
        if self.faithfulness is not None:
            out["faithfulness"] = {"verdict": self.faithfulness.verdict, "score": self.faithfulness.score}
        if self.withheld is not None:
            out["withheld"] = self.withheld
            out["withheld_reason"] = self.withheld_reason
        if self.withheld_sentences:
            out["withheld_sentences"] = [
                {k: v for k, v in s.model_dump().items() if v is not None or k in ("text", "citations")}
                for s in self.withheld_sentences
            ]
        if self.screened:
            out["screened"] = [s.model_dump() for s in self.screened]
        if self.notes:
            out["notes"] = self.notes
        if self.screened_evidence:
            out["screened_evidence"] = [e.model_dump() for e in self.screened_evidence]
        return out
