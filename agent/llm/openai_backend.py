"""The ``openai:<model>`` backend: OpenAI or any OpenAI-compatible endpoint.

Uses the official ``openai`` client with ``settings.llm.openai_base_url`` (None
means api.openai.com), ``timeout_s`` and ``max_retries`` (the client retries
connection errors, timeouts, 408/409/429 and 5xx with exponential backoff).
The API key is read from the environment variable named by
``settings.llm.openai_api_key_env`` and is never stored in settings, logged or
included in an error message; a custom endpoint without a key gets a dummy
one, since local servers (llama.cpp, vLLM, Ollama) usually ignore it.

Errors are mapped onto the package's own: unreachable / timed out ->
:class:`EndpointError` ("cannot reach <url> ..."), an HTTP error status ->
:class:`EndpointError` with the status, and a stream with no choices, no
content or non-JSON events -> :class:`MalformedOutputError`.

Token counts use tiktoken, seeded offline (see :mod:`agent.llm.tokens`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agent.llm import tokens
from agent.llm.base import LLM, ChatMessage, EndpointError, LLMError, MalformedOutputError, Usage
from agent.llm.registry import register

if TYPE_CHECKING:
    from agent.settings import Settings

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
#: Key sent to a custom endpoint when no key is configured.
DUMMY_KEY = "not-needed"
#: Reasoning models reject a temperature other than the default.
_NO_TEMPERATURE_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{4,})")


class OpenAILLM(LLM):
    """A chat model behind an OpenAI-compatible HTTP API; see the module docstring."""

    def __init__(self, model: str, settings: Settings) -> None:
        if not model:
            raise LLMError("'openai:' needs a model name, e.g. 'openai:gpt-4o-mini'")
        cfg = settings.llm
        super().__init__(name=f"openai:{model}", context_window=cfg.n_ctx)
        self.model = model
        self.base_url = cfg.openai_base_url
        self.url = (cfg.openai_base_url or OPENAI_DEFAULT_URL).rstrip("/")
        self.temperature = cfg.temperature
        self.default_max_tokens = cfg.max_tokens
        self.max_retries = cfg.max_retries
        self.timeout_s = cfg.timeout_s
        self._settings = settings
        self._encoding: Any = None

        api_key = os.environ.get(cfg.openai_api_key_env) or None
        if api_key is None:
            if cfg.openai_base_url is None:
                raise LLMError(
                    f"no OpenAI API key: set the environment variable {cfg.openai_api_key_env}, "
                    "or point CITEWISE_OPENAI_BASE_URL at an OpenAI-compatible server"
                )
            api_key = DUMMY_KEY
        self._secrets = [api_key] if api_key != DUMMY_KEY else []

        try:
            from openai import OpenAI
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise LLMError(f"the 'openai:' backend needs the openai package: {exc}") from exc
        self._client: Any = OpenAI(
            api_key=api_key,
            base_url=cfg.openai_base_url,
            timeout=cfg.timeout_s,
            max_retries=cfg.max_retries,
        )

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Stream the chat completion, raising this package's errors instead of the client's."""
        if self._client is None:
            raise LLMError(f"{self.name} was closed")
        usage = Usage()
        self.last_usage = usage
        pieces: list[str] = []
        finish_reason: str | None = None
        saw_choices = False
        reported_usage = False
        try:
            response = self._client.chat.completions.create(**self._request(messages, max_tokens, stop))
            for chunk in response:
                chunk_usage = getattr(chunk, "usage", None)
                if chunk_usage is not None and getattr(chunk_usage, "prompt_tokens", None) is not None:
                    usage.tokens_in = int(chunk_usage.prompt_tokens or 0)
                    usage.tokens_out = int(getattr(chunk_usage, "completion_tokens", 0) or 0)
                    reported_usage = True
                choices = getattr(chunk, "choices", None)
                if not choices:
                    continue
                saw_choices = True
                choice = choices[0]
                finish_reason = getattr(choice, "finish_reason", None) or finish_reason
                delta = getattr(choice, "delta", None)
                text = getattr(delta, "content", None) if delta is not None else None
                if isinstance(text, str) and text:
                    pieces.append(text)
                    yield text
        except Exception as exc:
            mapped = self._map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        if not saw_choices:
            raise MalformedOutputError(f"{self.url} returned a completion without choices for {self.model!r}")
        if not pieces:
            raise MalformedOutputError(
                f"{self.url} returned no content for {self.model!r} (finish_reason={finish_reason!r})"
            )
        if not reported_usage:
            usage.tokens_in = self._estimate_prompt_tokens(messages)
            usage.tokens_out = self.count_tokens("".join(pieces))

    def count_tokens(self, text: str) -> int:
        """tiktoken count (exact for OpenAI models, an approximation for other served models)."""
        if self._encoding is None:
            self._encoding = tokens.encoding_for_model(self.model, self._settings)
        return len(self._encoding.encode(text, disallowed_special=()))

    def close(self) -> None:
        """Close the HTTP connection pool; safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # ------------------------------------------------------------------ helpers

    def _request(self, messages: list[ChatMessage], max_tokens: int | None, stop: list[str] | None) -> dict[str, Any]:
        limit = max_tokens or self.default_max_tokens
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
        }
        if self.base_url is None:
            # api.openai.com: newer models only accept max_completion_tokens; ask for usage.
            request["max_completion_tokens"] = limit
            request["stream_options"] = {"include_usage": True}
        else:
            request["max_tokens"] = limit
        if not self.model.lower().startswith(_NO_TEMPERATURE_PREFIXES):
            request["temperature"] = self.temperature
        if stop:
            request["stop"] = stop
        return request

    def _estimate_prompt_tokens(self, messages: list[ChatMessage]) -> int:
        # OpenAI's documented chat overhead: ~4 tokens per message plus 3 for the reply primer.
        return sum(self.count_tokens(m["content"]) + 4 for m in messages) + 3

    def _map_error(self, exc: Exception) -> LLMError | None:
        """This package's error for a client/transport error, or None to re-raise as is."""
        import httpx
        import openai

        if isinstance(exc, LLMError):
            return exc
        if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
            cause = exc.__cause__ or exc.__context__
            if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
                detail = f"no answer within {self.timeout_s:g} s"
            else:
                detail = str(cause) if cause is not None and str(cause) else str(exc)
            return EndpointError(self._scrub(f"cannot reach {self.url}: {detail} (after {self.max_retries} retries)"))
        if isinstance(exc, openai.APIStatusError):
            return EndpointError(
                self._scrub(f"{self.url} answered HTTP {exc.status_code} for model {self.model!r}: {exc.message}")
            )
        if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
            return MalformedOutputError(self._scrub(f"{self.url} returned output that is not valid JSON: {exc}"))
        if isinstance(exc, openai.APIError):
            return EndpointError(self._scrub(f"{self.url} reported an error: {exc}"))
        return None

    def _scrub(self, text: str) -> str:
        """Remove the API key (and anything shaped like one) from a message."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _KEY_PATTERN.sub("sk-***", text)


@register("openai")
def _make_openai(spec: str, settings: Settings) -> LLM:
    return OpenAILLM(spec, settings)
