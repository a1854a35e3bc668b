"""Wires the offline faithfulness checker into answers (an :data:`AnswerHook`), and withholds drafts
that do not answer: none of their sentences supported, or no number for a question that asks for one."""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.chain.citations import REFUSAL_TEXT
from agent.settings import Settings
from agent.types import Answer, Paper

#: Why a draft was withheld; the refusal says it in brackets, so a reader knows the model did try.
UNSUPPORTED = "none of its sentences is supported by the cited abstracts"
NUMBERLESS = "the question asks for a number and the draft gives none"
#: "How many ...", "by how much ...", "what top-1 accuracy / learning rate / FID ...": the answer is a number.
_ASKS_FOR_NUMBER = re.compile(
    r"\b(?:how\s+(?:many|much|long|large|big|fast|often)|by\s+how\s+much|what\s+(?:[\w-]+\s+){0,4}?"
    r"(?:learning\s+rate|batch\s+size|accuracy|score|percentage|number\s+of|top-[15]|f1|bleu|rouge|auc|fid|epochs?|"
    r"dimensions?|temperature|margin|speed-?up|error\s+rate|perplexity|size))\b",
    re.I,
)
#: A question that asks for something else too ("what does X propose, and what score does it reach?").
_COMPOUND = re.compile(r"[,;]?\s+and\s+(?:what|how|which|who|where|why|does|do|is|are)\b", re.I)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|hundreds?|"
    r"thousands?|millions?|billions?|half|twice|double|triple|dozens?)\b",
    re.I,
)


def withheld_note(reason: str) -> str:
    """The bracketed note after the refusal that says why a draft was withheld."""
    return f"(A drafted answer was withheld: {reason}.)"


def faithfulness_hook(settings: Settings, mode: str) -> Callable[[Answer, dict[str, Paper]], None]:
    """A hook that fills each sentence's verdict and the answer's faithfulness in place.

    With ``answer.withhold_unsupported`` an answer none of whose sentences
    is supported becomes a refusal (:func:`withhold_unsupported`).
    """

    def hook(answer: Answer, papers: dict[str, Paper]) -> None:
        if answer.refused:
            return
        from agent.faithfulness import check_answer_into

        check_answer_into(answer, papers, settings, mode)
        if settings.answer.withhold_unsupported:
            withhold_unsupported(answer)

    return hook


def withhold_unsupported(answer: Answer) -> bool:
    """Turn an answer whose every checked sentence is unsupported into a refusal; True if it did.

    On the development questions the 1.5B model answered every unanswerable
    question (invented batch sizes, FIDs, accuracies); in 7 of those 12 drafts
    no sentence was supported, against 2 of 45 answerable drafts. The draft
    stays in ``answer.withheld`` and its verdict in ``answer.faithfulness``.
    """
    checked = [s for s in answer.sentences if s.supported is not None]
    if answer.refused or not checked or any(s.supported for s in checked):
        return False
    _withhold(answer, UNSUPPORTED)
    return True


def withhold_numberless(answer: Answer) -> bool:
    """Turn an answer that gives no number to a question asking only for one into a refusal; True if it did.

    On the development questions the 1.5B model answered two unanswerable
    questions ("What top-1 accuracy does Hydra achieve on ImageNet-1K?") with a
    faithful sentence that states no number at all ("Hydra achieves superior
    performance"): true, but not an answer, and it hid that the abstracts do
    not say. Every answerable question of that kind got a number. Questions
    that also ask for something else are left alone: their draft may answer
    that part. Digits inside names ("GPT-4o") and citation markers do not count.
    """
    if answer.refused or not _ASKS_FOR_NUMBER.search(answer.question) or _COMPOUND.search(answer.question):
        return False
    words = re.sub(r"\[[^\]]*\]", " ", answer.prose)
    words = re.sub(r"\b[A-Za-z][\w.]*-\d[\w.]*|\b[A-Za-z]+\d[\w.-]*", " ", words)  # GPT-4o, Llama2, T5
    if _NUMBER.search(words):
        return False
    _withhold(answer, NUMBERLESS)
    return True


def _withhold(answer: Answer, reason: str) -> None:
    """Keep the draft in ``answer.withheld`` and answer with a refusal that says why."""
    answer.withheld = answer.prose.strip()
    answer.withheld_reason = reason
    answer.answer = f"{REFUSAL_TEXT} {withheld_note(reason)}"
    answer.refused = True
    answer.citations = []
    answer.sentences = []
    answer.table = None
