"""Check a finished :class:`~agent.types.Answer` in place (the answer engine's hook).

The checker (MiniLM embedder, optional judge model) is built once per settings
object and mode and reused, so checking an answer in a chat costs only the
checking itself.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from agent.faithfulness.checker import FaithfulnessChecker
from agent.faithfulness.judge import load_judge

if TYPE_CHECKING:
    from agent.settings import Settings
    from agent.types import Answer, Paper

_LOCK = threading.Lock()
_CHECKERS: dict[tuple[str, str], FaithfulnessChecker] = {}


def checker_for(settings: Settings, mode: str) -> FaithfulnessChecker:
    """A cached checker for ``settings``; thorough mode loads the judge model once."""
    # Keyed by the settings' content, not id(): a freed Settings' id can be reused by a different one.
    key = (settings.model_dump_json(include={"index", "llm", "faithfulness"}), mode)
    with _LOCK:
        checker = _CHECKERS.get(key)
        if checker is None:
            judge = load_judge(settings.faithfulness.judge_model, settings) if mode == "thorough" else None
            checker = FaithfulnessChecker(settings, judge=judge)
            _CHECKERS[key] = checker
        return checker


def check_answer_into(answer: Answer, papers: dict[str, Paper], settings: Settings, mode: str) -> None:
    """Fill ``answer.sentences`` verdicts and ``answer.faithfulness`` against the retrieved ``papers``."""
    contexts = {p.id: (p.title, p.abstract) for p in papers.values()}
    cited = {pid: contexts[pid] for c in answer.citations if (pid := c.id) in contexts}
    result = checker_for(settings, mode).check(answer.prose, cited, retrieved=contexts, mode=mode)
    answer.sentences = result.sentences
    answer.faithfulness = result.verdict
