"""Choose an LLM backend from a model string such as ``local:qwen2.5-coder-1.5b``.

A model string is ``<prefix>`` or ``<prefix>:<spec>``. Each backend module in
this package registers a factory for its prefix with :func:`register`::

    @register("local")
    def _make(spec: str, settings: Settings) -> LLM: ...

Backends are discovered, not listed: on the first lookup every public module of
``agent.llm`` is imported once, so adding a backend means adding one file.
That is why every module here must be cheap to import: heavy runtimes
(llama_cpp, torch, transformers, openai) are imported inside the factories.
Code outside the package (plugins, tests) may call :func:`register` too.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from agent.llm.base import LLM, LLMError

if TYPE_CHECKING:
    from agent.settings import Settings

#: A backend factory: ``(spec after the colon, settings) -> LLM``.
Factory = Callable[[str, "Settings"], LLM]
F = TypeVar("F", bound=Factory)

_FACTORIES: dict[str, Factory] = {}
_discovered = False
_discover_lock = threading.Lock()

#: Modules of this package that never define a backend (skipped to avoid
#: importing ourselves recursively; importing them would be harmless).
_NOT_BACKENDS = frozenset({"base", "registry"})


def register(prefix: str) -> Callable[[F], F]:
    """Decorator registering ``factory`` for model strings starting with ``prefix``.

    Registering the same prefix twice replaces the earlier factory, so a test
    or plugin can override a built-in backend.
    """
    key = _normalize_prefix(prefix)

    def decorator(factory: F) -> F:
        _FACTORIES[key] = factory
        return factory

    return decorator


def parse_model_string(model: str) -> tuple[str, str]:
    """Split ``"prefix:spec"`` into ``(prefix, spec)``; ``"fake"`` gives ``("fake", "")``.

    Only the first colon separates, so Windows paths and model names with
    colons survive. The prefix is case-insensitive; the spec is kept verbatim
    apart from surrounding whitespace.
    """
    text = (model or "").strip()
    if not text:
        raise LLMError(f"empty model string; use one of: {_examples()}")
    prefix, _, spec = text.partition(":")
    return _normalize_prefix(prefix), spec.strip()


def known_prefixes() -> list[str]:
    """Sorted prefixes of every registered backend (discovering built-ins first)."""
    _discover()
    return sorted(_FACTORIES)


def load_llm(model: str, settings: Settings) -> LLM:
    """Build the backend selected by ``model`` (e.g. ``settings.llm.model``).

    Raises :class:`LLMError` for an unknown prefix (naming the known ones) and
    whatever the backend raises for a bad spec (``ModelFileError``, ...).
    """
    prefix, spec = parse_model_string(model)
    _discover()
    factory = _FACTORIES.get(prefix)
    if factory is None:
        raise LLMError(
            f"unknown model backend {prefix!r} in model string {model!r}; "
            f"known prefixes: {', '.join(sorted(_FACTORIES))} (e.g. {_examples()})"
        )
    return factory(spec, settings)


def _normalize_prefix(prefix: str) -> str:
    key = prefix.strip().lower()
    if not key or not key.replace("-", "").replace("_", "").isalnum():
        raise LLMError(f"invalid model backend prefix {prefix!r}")
    return key


def _examples() -> str:
    return "'local:qwen2.5-coder-1.5b', 'openai:gpt-4o-mini', 'hf:/path/to/model', 'fake'"


def _discover() -> None:
    """Import every public module of this package once so their ``@register`` calls run."""
    global _discovered
    if _discovered:
        return
    with _discover_lock:
        if _discovered:
            return
        package = importlib.import_module(__package__ or "agent.llm")
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_") or info.name in _NOT_BACKENDS:
                continue
            importlib.import_module(f"{package.__name__}.{info.name}")
        _discovered = True
