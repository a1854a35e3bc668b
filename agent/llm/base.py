"""The one small interface every LLM backend implements, and its errors.

A backend is chosen by a model string (``local:qwen2.5-coder-1.5b``,
``openai:gpt-4o-mini``, ``hf:/path``, ``fake``); see :mod:`agent.llm.registry`.
Chains only ever see :class:`LLM`, so adding a backend touches one file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class Usage:
    """Token counts of the most recent call (filled in by ``stream``/``complete``)."""

    tokens_in: int = 0
    tokens_out: int = 0


class LLMError(RuntimeError):
    """Base of every model error; the CLI prints its message and exits non-zero."""


class ModelFileError(LLMError):
    """A model file is missing, incomplete or fails its checksum."""


class EndpointError(LLMError):
    """A hosted endpoint is unreachable, timed out or refused the request."""


class MalformedOutputError(LLMError):
    """A backend returned something that is not a usable completion."""


@dataclass
class LLM(ABC):
    """A chat model. ``name`` is the full model string that selected it."""

    name: str
    context_window: int = 4096
    last_usage: Usage = field(default_factory=Usage)

    @abstractmethod
    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the completion's text in pieces as they are generated; update ``last_usage``."""

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> str:
        """The whole completion as one string."""
        return "".join(self.stream(messages, max_tokens=max_tokens, stop=stop))

    def choice_logprobs(self, messages: list[ChatMessage], choices: Sequence[str]) -> dict[str, float] | None:
        """Log-probability of each of ``choices`` (e.g. "YES", "NO") being how the reply starts.

        Each choice is scored by its first token in its usual spellings
        (``YES``/``Yes``/``yes``), from one forward pass over the prompt and
        no sampling. A yes/no judge can then use a threshold tuned on labelled
        data instead of the greedy word. None when this backend cannot tell
        (callers fall back to :meth:`complete`).
        """
        return None

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's own tokenizer (tiktoken for OpenAI models)."""

    def close(self) -> None:
        """Release model memory or connections; safe to call twice."""


def spellings(choice: str) -> list[str]:
    """The spellings of a choice whose first token counts for it: as given, Capitalized, UPPER and lower."""
    return list(dict.fromkeys([choice, choice.capitalize(), choice.upper(), choice.lower()]))


def first_token_logprobs(
    logits: Any, choices: Sequence[str], first_token: Callable[[str], int | None]
) -> dict[str, float]:
    """Log-probabilities of ``choices`` from next-token ``logits`` (one row over the vocabulary).

    A choice's probability is the sum over the distinct first tokens of its
    :func:`spellings`; ``first_token`` maps a spelling to its first token id.
    """
    import numpy as np

    row = np.asarray(logits, dtype=np.float64).ravel()
    top = row.max()
    log_z = top + np.log(np.exp(row - top).sum())
    out: dict[str, float] = {}
    for choice in choices:
        ids = {t for t in (first_token(s) for s in spellings(choice)) if t is not None and 0 <= t < row.size}
        if not ids:
            out[choice] = float("-inf")
            continue
        vals = row[sorted(ids)]
        m = vals.max()
        out[choice] = float(m + np.log(np.exp(vals - m).sum()) - log_z)
    return out
