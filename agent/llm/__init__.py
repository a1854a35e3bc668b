"""LLM backends behind one small interface.

Use :func:`load_llm` with a model string (``settings.llm.model``)::

    llm = load_llm(settings.llm.model, settings)
    for piece in llm.stream([{"role": "user", "content": "Hi"}]):
        ...

Importing this package is cheap: model runtimes load only when a backend is built.
"""

from agent.llm.base import (
    LLM,
    ChatMessage,
    EndpointError,
    LLMError,
    MalformedOutputError,
    ModelFileError,
    Usage,
)
from agent.llm.registry import known_prefixes, load_llm, parse_model_string, register

__all__ = [
    "LLM",
    "ChatMessage",
    "EndpointError",
    "LLMError",
    "MalformedOutputError",
    "ModelFileError",
    "Usage",
    "known_prefixes",
    "load_llm",
    "parse_model_string",
    "register",
]
