"""Wires the offline faithfulness checker into answers (an :data:`AnswerHook`)."""

from __future__ import annotations

from collections.abc import Callable

from agent.chain.citations import REFUSAL_TEXT
from agent.settings import Settings
from agent.types import Answer, Paper

#: Appended to the refusal when a draft was withheld, so a reader knows the model did try.
WITHHELD_NOTE = "(A drafted answer was withheld: none of its sentences is supported by the cited abstracts.)"


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
    prose = answer.answer.split("\n\nReferences:\n")[0].strip()
    answer.withheld = prose
    answer.answer = f"{REFUSAL_TEXT} {WITHHELD_NOTE}"
    answer.refused = True
    answer.citations = []
    answer.sentences = []
    answer.table = None
    return True
