"""A deterministic ``fake`` backend for unit tests of the chains and the UI.

It answers from the evidence in the prompt without any model: in the LAST user
message, an evidence block starts with a line like ``[3] Some title`` (regex
``^\\[(\\d+)\\] `` at line start) and continues with evidence-sentence lines up
to the next blank line or block header. The answer is each block's first
evidence sentence followed by `` [n]``, joined by spaces; with no evidence it
is :data:`REFUSAL`. Leading bullet markers (``-``, ``*``, ``•``) and
whitespace are stripped from evidence lines. Text streams word by word.

Variants: ``fake:refuse`` always refuses, ``fake:error`` raises
:class:`EndpointError` when streamed, ``fake:slow`` sleeps
:data:`SLOW_DELAY_S` per word and :data:`SLOW_DECISION_S` per yes/no decision (for UI /
stop-button tests; a list answer is decisions and quotes, no generation), ``fake:nocite``
gives the same answer without citation markers (as small models sometimes do).
Tokens are whitespace-separated words.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from agent.llm.base import LLM, ChatMessage, EndpointError, LLMError, Usage
from agent.llm.registry import register
from agent.llm.streaming import StopFilter

if TYPE_CHECKING:
    from agent.settings import Settings

REFUSAL = "The abstracts do not say."
SLOW_DELAY_S = 0.2
SLOW_DECISION_S = 1.0
VARIANTS = ("", "refuse", "error", "slow", "nocite")

_HEADER = re.compile(r"^\[(\d+)\] ")
_BULLET = re.compile(r"^(?:[-*•]\s+)")


def fake_answer(text: str) -> str:
    """The answer the fake model gives to a user message ``text`` (no variant)."""
    parts: list[str] = []
    current: str | None = None  # citation number of the open block
    sentence_taken = False
    for raw in text.splitlines():
        header = _HEADER.match(raw)
        if header:
            current, sentence_taken = header.group(1), False
            continue
        line = _BULLET.sub("", raw.strip())
        if current is None:
            continue
        if not raw.strip():
            current = None  # a blank line closes the block
            continue
        if not sentence_taken and line:
            parts.append(f"{line} [{current}]")
            sentence_taken = True
    return " ".join(parts) if parts else REFUSAL


class FakeLLM(LLM):
    """Evidence-echoing stand-in for a real model; see the module docstring."""

    def __init__(self, name: str, variant: str = "", context_window: int = 4096) -> None:
        if variant not in VARIANTS:
            known = ", ".join("fake" + (f":{v}" if v else "") for v in VARIANTS)
            raise LLMError(f"unknown fake variant {variant!r}; known: {known}")
        super().__init__(name=name, context_window=context_window)
        self.variant = variant

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the answer word by word (first word bare, later ones with a leading space)."""
        self.last_usage = Usage(tokens_in=sum(self.count_tokens(m["content"]) for m in messages))
        if self.variant == "error":
            raise EndpointError(f"{self.name}: simulated endpoint failure")
        if self.variant == "refuse":
            answer = REFUSAL
        else:
            last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            answer = fake_answer(last_user)
            if self.variant == "nocite":
                answer = re.sub(r" \[\d+\]", "", answer)
        words = answer.split()
        if max_tokens is not None:
            words = words[: max(max_tokens, 0)]
        stops = StopFilter(stop)
        for i, word in enumerate(words):
            if self.variant == "slow":
                time.sleep(SLOW_DELAY_S)
            piece = stops.feed(word if i == 0 else " " + word)
            self.last_usage.tokens_out += 1
            if piece:
                yield piece
            if stops.stopped:
                return
        tail = stops.flush()
        if tail:
            yield tail

    def choice_logprobs(self, messages: list[ChatMessage], choices: Sequence[str]) -> dict[str, float] | None:
        """Deterministic yes/no: P(first choice) = share of the question's content words found in the evidence.

        The question is the last user message's ``Question:`` line; the
        evidence is its ``[n] Title`` blocks (see :func:`fake_answer`). Words
        of four or more letters count. The other choices share the rest.
        Without a ``Question:`` line it cannot tell and returns None.
        """
        self.last_usage = Usage(tokens_in=sum(self.count_tokens(m["content"]) for m in messages), tokens_out=1)
        if self.variant == "error":
            raise EndpointError(f"{self.name}: simulated endpoint failure")
        if self.variant == "slow":
            time.sleep(SLOW_DECISION_S)
        text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        asked = re.search(r"^Question:\s*(.*)$", text, re.M)
        if asked is None:  # not a screening prompt (e.g. a claim judge): callers fall back to the reply's word
            return None
        evidence, inside = [], False
        for line in text.splitlines():
            inside = bool(_HEADER.match(line)) or (inside and bool(line.strip()))
            if inside:
                evidence.append(line)
        words = set(re.findall(r"[a-z]{4,}", (asked.group(1) if asked else "").lower()))
        found = set(re.findall(r"[a-z]{4,}", " ".join(evidence).lower()))
        p = 0.0 if self.variant == "refuse" or not words else len(words & found) / len(words)
        p = min(max(p, 1e-6), 1 - 1e-6)
        rest = math.log((1 - p) / max(len(choices) - 1, 1))
        return {c: (math.log(p) if i == 0 else rest) for i, c in enumerate(choices)}

    def count_tokens(self, text: str) -> int:
        """Whitespace word count."""
        return len(text.split())


@register("fake")
def _make_fake(spec: str, settings: Settings) -> LLM:
    variant = spec.strip().lower()
    name = "fake" + (f":{variant}" if variant else "")
    return FakeLLM(name, variant, context_window=settings.llm.n_ctx)
