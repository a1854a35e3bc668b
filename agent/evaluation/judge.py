"""Optional LLM judge of key-point coverage (e.g. a hosted ``openai:<model>``), never required.

One call per question: the numbered key points and the answer, and the judge
replies one line per key point, ``<n>: yes`` or ``<n>: no``. A key point the
reply does not mention is ``None`` (not judged), so a judge that ignores the
format yields nulls, not zeros.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.prompts import Prompt

if TYPE_CHECKING:
    from agent.llm import LLM

JUDGE_PROMPT = Prompt(
    name="eval-judge",
    version="eval-judge-v1",
    variables=("question", "answer", "points"),
    system=(
        "You grade answers about research papers. For each numbered key point, decide whether the answer "
        "states it (paraphrase is fine; a contradiction or omission is not). Reply with one line per key point, "
        "exactly in the form '<number>: yes' or '<number>: no', and nothing else."
    ),
    user="Question: {question}\n\nAnswer:\n{answer}\n\nKey points:\n{points}",
)
_LINE = re.compile(r"^\s*(?:key point\s*)?(\d+)\s*[:.)-]\s*(yes|no)\b", re.I | re.M)


def parse_verdicts(text: str, n: int) -> list[bool | None]:
    """Verdict per key point from the judge's reply (None where it gave none)."""
    out: list[bool | None] = [None] * n
    for m in _LINE.finditer(text):
        i = int(m.group(1)) - 1
        if 0 <= i < n and out[i] is None:
            out[i] = m.group(2).lower() == "yes"
    return out


def judge_key_points(llm: LLM, question: str, answer: str, key_points: Sequence[str]) -> list[bool | None]:
    """Ask ``llm`` which key points the answer states."""
    if not key_points:
        return []
    points = "\n".join(f"{i}. {p}" for i, p in enumerate(key_points, start=1))
    messages = JUDGE_PROMPT.render(question=question, answer=answer, points=points)
    reply = llm.complete(messages, max_tokens=8 * len(key_points) + 16)
    return parse_verdicts(reply, len(key_points))
