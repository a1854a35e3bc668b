"""Wires the offline faithfulness checker into answers (an :data:`AnswerHook`)."""

from __future__ import annotations

from collections.abc import Callable

from agent.settings import Settings
from agent.types import Answer, Paper


def faithfulness_hook(settings: Settings, mode: str) -> Callable[[Answer, dict[str, Paper]], None]:
    """A hook that fills each sentence's verdict and the answer's faithfulness in place."""

    def hook(answer: Answer, papers: dict[str, Paper]) -> None:
        if answer.refused:
            return
        from agent.faithfulness import check_answer_into

        check_answer_into(answer, papers, settings, mode)

    return hook
