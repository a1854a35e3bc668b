"""The one small interface every LLM backend implements, and its errors.

A backend is chosen by a model string (``local:qwen2.5-coder-1.5b``,
``openai:gpt-4o-mini``, ``hf:/path``, ``fake``); see :mod:`agent.llm.registry`.
Chains only ever see :class:`LLM`, so adding a backend touches one file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, TypedDict


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

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's own tokenizer (tiktoken for OpenAI models)."""

    def close(self) -> None:
        """Release model memory or connections; safe to call twice."""
