"""The ``local:`` backend: a GGUF model run in-process by llama.cpp.

``local:qwen2.5-coder-1.5b`` (or ``-0.5b``) assembles and verifies the packaged
model (see :mod:`agent.llm.gguf_assets`); ``local:/path/model.gguf`` uses that
file. Loading a model costs seconds, so loaded ``llama_cpp.Llama`` objects are
cached per ``(path, n_ctx, n_threads, flash_attn, extra_buffers)`` for the life of the process and shared
by every :class:`LlamaCppLLM` built on them; a per-model lock serializes
generation because one llama.cpp context cannot serve two requests at once
(a second request waits for the first to finish).
Call :func:`clear_cache` to free the memory.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.base import LLM, ChatMessage, LLMError, ModelFileError, Usage, first_token_logprobs
from agent.llm.gguf_assets import check_gguf_file, resolve_local_model
from agent.llm.prefix_cache import PrefixStateCache
from agent.llm.registry import register

if TYPE_CHECKING:
    from agent.settings import Settings


@dataclass
class _Loaded:
    """One loaded model, shared by every backend instance that asked for it."""

    llama: Any  # llama_cpp.Llama
    lock: threading.Lock
    formatter: Any | None  # llama_cpp.llama_chat_format.Jinja2ChatFormatter, for prompt token counts
    prefix_cache: PrefixStateCache | None = None  # system-prompt state on disk, for fresh processes


#: How long a request waits for another request to finish with the same model.
_BUSY_TIMEOUT_S = 900.0

_CACHE: dict[tuple[str, int, int, bool, bool], _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Free every cached model (backends built on them must not be used afterwards)."""
    with _CACHE_LOCK:
        loaded = list(_CACHE.values())
        _CACHE.clear()
    for item in loaded:
        with item.lock:
            close = getattr(item.llama, "close", None)
            if close is not None:
                close()


@contextmanager
def without_extra_buffers() -> Iterator[None]:
    """Models loaded inside this block use no llama.cpp CPU "extra buffer types" (AMX tiles, repacked weights).

    llama-cpp-python offers no argument for ``llama_model_params.use_extra_bufts``,
    so the low-level default-params function is wrapped for the duration of the
    block (callers hold ``_CACHE_LOCK``, so no other load sees the change).
    """
    import llama_cpp.llama_cpp as low

    original = low.llama_model_default_params

    def params():  # noqa: ANN202 - a ctypes struct
        value = original()
        value.use_extra_bufts = False
        return value

    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = original


def _load(
    path: Path,
    n_ctx: int,
    n_threads: int,
    seed: int,
    flash_attn: bool = False,
    prefix_cache_dir: Path | None = None,
    extra_buffers: bool = True,
) -> _Loaded:
    key = (str(path.resolve()), n_ctx, n_threads, flash_attn, extra_buffers)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise LLMError(f"the 'local:' backend needs llama-cpp-python: {exc}") from exc
        check_gguf_file(path)
        try:
            with nullcontext() if extra_buffers else without_extra_buffers():
                llama = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    seed=seed,
                    flash_attn=flash_attn,
                    verbose=False,
                )
        except Exception as exc:  # llama.cpp reports any bad file as ValueError/RuntimeError
            raise ModelFileError(
                f"llama.cpp could not load {path}: {exc}. The file is corrupt, truncated or not a "
                "model llama.cpp supports; delete it (cached models are re-assembled) and try again"
            ) from exc
        formatter = _chat_formatter(llama)
        cache = None
        if prefix_cache_dir is not None and formatter is not None:
            cache = PrefixStateCache(prefix_cache_dir, path, n_ctx, flash_attn)
        loaded = _Loaded(llama=llama, lock=threading.Lock(), formatter=formatter, prefix_cache=cache)
        _CACHE[key] = loaded
        return loaded


_END = object()


@contextmanager
def _holding(loaded: _Loaded) -> Iterator[None]:
    """Hold the model's lock (one request at a time per llama.cpp context), waiting at most _BUSY_TIMEOUT_S."""
    if not loaded.lock.acquire(timeout=_BUSY_TIMEOUT_S):
        raise LLMError(f"model busy for more than {_BUSY_TIMEOUT_S:.0f} s")
    try:
        yield
    finally:
        loaded.lock.release()


def _generate(loaded: _Loaded, request: dict[str, Any], out: queue.Queue[Any], cancel: threading.Event) -> None:
    """Worker: run one streamed chat completion under the model lock, feeding ``out``."""
    try:
        with _holding(loaded):
            if cancel.is_set():
                return
            _warm_prefix(loaded, request["messages"])
            chunks = loaded.llama.create_chat_completion(**request)
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        break
                    choices = chunk.get("choices") or []
                    text = (choices[0].get("delta") or {}).get("content") if choices else None
                    if text:
                        out.put(text)
            finally:
                chunks.close()
    except BaseException as exc:  # handed to the consuming thread
        out.put(exc)
    finally:
        out.put(_END)


def _warm_prefix(loaded: _Loaded, messages: list[dict]) -> None:
    """Restore (or compute and store) the state after the system prompt before llama.cpp reads the prompt.

    llama.cpp then finds that prefix already in its context and reads only the
    rest. Best effort: any problem leaves llama.cpp to read the whole prompt.
    """
    cache = loaded.prefix_cache
    if cache is None or loaded.formatter is None:
        return
    try:
        llama = loaded.llama
        result = loaded.formatter(messages=messages)
        tokens = llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        prefix = cache.prefix_tokens(llama, loaded.formatter, messages, tokens)
        if prefix and len(prefix) < len(tokens):
            cache.ensure(llama, prefix)
    except Exception:  # pragma: no cover - defensive: the cache must never break generation
        return


def _chat_formatter(llama: Any) -> Any | None:
    """The Jinja chat formatter llama.cpp itself uses for this model, if it has a template."""
    template = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template")
    if not template:
        return None
    try:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            return llama._model.token_get_text(token) if token != -1 else ""

        return Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(llama.token_eos()),
            bos_token=token_text(llama.token_bos()),
        )
    except Exception:  # only used for usage numbers; fall back to an estimate
        return None


class LlamaCppLLM(LLM):
    """A local GGUF chat model; see the module docstring."""

    def __init__(self, name: str, path: Path, settings: Settings) -> None:
        cfg = settings.llm
        super().__init__(name=name, context_window=cfg.n_ctx)
        self.path = path
        self.temperature = cfg.temperature
        self.default_max_tokens = cfg.max_tokens
        self.seed = cfg.seed
        n_threads = cfg.n_threads or os.cpu_count() or 1
        cache_dir = settings.home / "cache" / "kv" if cfg.prefix_cache else None
        extra = cfg.cpu_extra_buffers
        if extra is None:
            from agent.llm.cpu_probe import extra_buffers_work

            extra = extra_buffers_work(path, settings.home / "cache")
        self._loaded: _Loaded | None = _load(path, cfg.n_ctx, n_threads, cfg.seed, cfg.flash_attn, cache_dir, extra)

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama``; raises once :meth:`close` was called."""
        if self._loaded is None:
            raise LLMError(f"{self.name} was closed")
        return self._loaded.llama

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Stream the chat completion.

        llama.cpp runs in a worker thread that holds the model's lock and
        feeds a queue. The caller may read the pieces from any thread (Gradio
        does), start a second stream before finishing the first without
        deadlocking, or stop reading early: closing the generator cancels the
        worker at its next token and frees the model.
        """
        loaded = self._loaded
        if loaded is None:
            raise LLMError(f"{self.name} was closed")
        usage = Usage(tokens_in=self._prompt_tokens(messages))
        self.last_usage = usage
        request = {
            "messages": [dict(m) for m in messages],
            "temperature": self.temperature,
            "max_tokens": max_tokens or self.default_max_tokens,
            "stop": stop or None,
            "seed": self.seed,
            "stream": True,
        }
        out: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()
        worker = threading.Thread(
            target=_generate, args=(loaded, request, out, cancel), name="citewise-llama", daemon=True
        )
        worker.start()
        pieces: list[str] = []
        try:
            while (item := out.get()) is not _END:
                if isinstance(item, BaseException):
                    if isinstance(item, LLMError):
                        raise item
                    if isinstance(item, ValueError):  # e.g. "Requested tokens (...) exceed context window"
                        raise LLMError(f"{self.name}: {item}") from item
                    raise item
                pieces.append(item)
                yield item
        finally:
            cancel.set()
            usage.tokens_out = self._count(loaded, "".join(pieces))

    def choice_logprobs(self, messages: list[ChatMessage], choices: Sequence[str]) -> dict[str, float] | None:
        """Next-token log-probabilities of ``choices`` after the prompt (see :meth:`LLM.choice_logprobs`).

        One ``max_tokens=1`` completion through llama.cpp's own chat path (so
        the prompt prefix cache is reused); a logits processor copies the
        logits of the first reply token before sampling.
        """
        loaded = self._loaded
        if loaded is None:
            raise LLMError(f"{self.name} was closed")
        from llama_cpp import LogitsProcessorList

        grabbed: list[Any] = []

        def grab(input_ids: Any, scores: Any) -> Any:
            if not grabbed:
                grabbed.append(scores.copy())
            return scores

        msgs = [dict(m) for m in messages]
        try:
            with _holding(loaded):
                _warm_prefix(loaded, msgs)
                loaded.llama.create_chat_completion(
                    messages=msgs, max_tokens=1, temperature=0.0, seed=self.seed,
                    logits_processor=LogitsProcessorList([grab]),
                )
        except ValueError as exc:  # e.g. "Requested tokens (...) exceed context window"
            raise LLMError(f"{self.name}: {exc}") from exc
        if not grabbed or len(grabbed[0]) != loaded.llama.n_vocab():
            return None  # this llama.cpp build did not hand over the full row

        def first_token(text: str) -> int | None:
            ids = loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            return ids[0] if ids else None

        self.last_usage = Usage(tokens_in=self._prompt_tokens(messages), tokens_out=1)
        return first_token_logprobs(grabbed[0], choices, first_token)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the model's own vocabulary (no BOS)."""
        loaded = self._loaded
        if loaded is None:
            raise LLMError(f"{self.name} was closed")
        return self._count(loaded, text)

    def close(self) -> None:
        """Detach from the shared model; its memory is freed by :func:`clear_cache`."""
        self._loaded = None

    @staticmethod
    def _count(loaded: _Loaded, text: str) -> int:
        if not text:
            return 0
        return len(loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _prompt_tokens(self, messages: list[ChatMessage]) -> int:
        """Tokens of the prompt as the chat template renders it (an estimate without a template)."""
        loaded = self._loaded
        assert loaded is not None
        if loaded.formatter is not None:
            try:
                prompt = loaded.formatter(messages=[dict(m) for m in messages]).prompt
                return len(loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
            except Exception:
                pass
        return sum(self._count(loaded, m["content"]) + 4 for m in messages)


@register("local")
def _make_local(spec: str, settings: Settings) -> LLM:
    path = resolve_local_model(spec, settings)
    return LlamaCppLLM(f"local:{spec}", path, settings)
