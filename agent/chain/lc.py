"""The only place Citewise touches LangChain.

:class:`CitewiseChatModel` adapts our :class:`~agent.llm.base.LLM` to a
LangChain chat model, and :func:`build_generation_chain` composes the
answer step as an LCEL pipeline (messages -> model -> text), streamed. When
LangChain's API moves, this file is what changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import ConfigDict

from agent.llm.base import LLM, ChatMessage

_ROLES = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}


def to_langchain(messages: list[ChatMessage]) -> list[BaseMessage]:
    return [_ROLES[m["role"]](content=m["content"]) for m in messages]


def _from_langchain(messages: list[BaseMessage]) -> list[ChatMessage]:
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]  # type: ignore[misc]


class CitewiseChatModel(BaseChatModel):
    """A LangChain chat model backed by any Citewise :class:`LLM` backend."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    llm: Any
    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return f"citewise:{self.llm.name}"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llm: LLM = self.llm
        for piece in llm.stream(_from_langchain(messages), max_tokens=self.max_tokens, stop=stop):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class GenerationChain:
    """The answer step as an LCEL pipeline (messages -> LangChain messages -> chat model), streamed as text.

    The pipeline deliberately ends at the model: an LCEL sequence with a
    transforming step after the model (``| StrOutputParser()``) reads the
    model's stream to the end even when the caller stops early (langchain-core
    1.8), so a stop button or the engine's loop guard would leave the model
    generating. Text is taken from the chunks here instead.
    """

    def __init__(self, llm: LLM, max_tokens: int | None) -> None:
        self.runnable: Runnable[list[ChatMessage], Any] = RunnableLambda(to_langchain) | CitewiseChatModel(
            llm=llm, max_tokens=max_tokens
        )

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]:
        """The answer's text pieces; closing this iterator stops the model at its next token."""
        chunks = self.runnable.stream(messages)
        try:
            for chunk in chunks:
                text = chunk.content if isinstance(chunk.content, str) else str(chunk.content)
                if text:
                    yield text
        finally:
            chunks.close()  # type: ignore[attr-defined]

    def invoke(self, messages: list[ChatMessage]) -> str:
        """The whole answer at once."""
        return "".join(self.stream(messages))


def build_generation_chain(llm: LLM, max_tokens: int | None) -> GenerationChain:
    """messages -> LangChain messages -> chat model -> plain text (streamable, stoppable)."""
    return GenerationChain(llm, max_tokens)
