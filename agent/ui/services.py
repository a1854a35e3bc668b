"""Process-wide state behind the UI: one store and retriever, answer engines per settings choice.

Sessions never share chat state (that lives in ``gr.State``); what they share
is expensive and read-only while answering: the Chroma store, the retriever,
the embedder and loaded models. Local models (llama.cpp / transformers) are
not safe to call from two threads at once, so their generation is serialized
with a lock; the fake and hosted backends run concurrently.

With ``background=True`` (what the UI uses) the index opens in a thread that
:meth:`Services.start` starts — on a fresh home that means indexing the
bundled corpus, about a minute — so the page is served at once;
:attr:`Services.startup` says how far it got, and :meth:`Services.wait_ready`
lets a question wait for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.chain import AnswerEngine, faithfulness_hook
from agent.llm import LLM, load_llm
from agent.llm.base import ChatMessage
from agent.llm.registry import parse_model_string
from agent.errors import CitewiseError
from agent.index.store import PaperStore
from agent.retrieval import Retriever
from agent.settings import Settings
from agent.types import Answer, Paper

#: Backends whose model object must not run two generations at once.
SERIAL_PREFIXES = frozenset({"local", "hf"})
CHECK_MODES = ("fast", "thorough", "off")
MAX_PAPERS = 20


@dataclass
class Prefs:
    """One session's choices in the settings panel."""

    model: str
    base_url: str | None = None
    papers: int = 6
    check: str = "fast"

    def key(self) -> tuple:
        return (self.model.strip(), (self.base_url or "").strip() or None, int(self.papers), self.check)


@dataclass
class SerialLLM(LLM):
    """Wraps a model so only one thread generates with it at a time (llama.cpp is not thread-safe)."""

    inner: LLM | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stream(self, messages: list[ChatMessage], *, max_tokens: int | None = None, stop: list[str] | None = None) -> Iterator[str]:
        assert self.inner is not None
        with self.lock:
            yield from self.inner.stream(messages, max_tokens=max_tokens, stop=stop)
            self.last_usage = self.inner.last_usage

    def count_tokens(self, text: str) -> int:
        assert self.inner is not None
        return self.inner.count_tokens(text)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def api_key_status(settings: Settings) -> str:
    """Whether the hosted endpoint's key is set - never the key itself."""
    var = settings.llm.openai_api_key_env
    return f"`{var}` is set in the server's environment" if os.environ.get(var) else f"`{var}` is not set"


def validate_prefs(prefs: Prefs, settings: Settings, locked: bool) -> Prefs:
    """Check a session's choices; raise ValueError with a user-facing message.

    ``locked`` (a shared deployment) only allows the configured model and endpoint,
    so a visitor cannot point the server's API key at their own URL or load files by path.
    """
    model = (prefs.model or "").strip()
    prefix, _ = parse_model_string(model)
    from agent.llm.registry import known_prefixes

    if prefix not in known_prefixes():
        raise ValueError(f"unknown model {model!r}; use one of: {', '.join(p + ':…' for p in known_prefixes())}")
    base_url = (prefs.base_url or "").strip() or None
    if base_url and not base_url.lower().startswith(("http://", "https://")):
        raise ValueError("the endpoint base URL must start with http:// or https://")
    if locked:
        if model != settings.llm.model:
            raise ValueError("this shared deployment only allows its configured model")
        if base_url != settings.llm.openai_base_url:
            raise ValueError("this shared deployment only allows its configured endpoint")
    if prefs.check not in CHECK_MODES:
        raise ValueError(f"check must be one of {', '.join(CHECK_MODES)}")
    papers = int(prefs.papers)
    if not 1 <= papers <= MAX_PAPERS:
        raise ValueError(f"papers must be between 1 and {MAX_PAPERS}")
    return Prefs(model=model, base_url=base_url, papers=papers, check=prefs.check)


@dataclass
class Startup:
    """How far opening the index got (read by the page's progress line and waiting questions)."""

    stage: str = "opening the index"
    done: int = 0
    total: int = 0
    ready: bool = False
    error: str | None = None

    def text(self) -> str:
        if self.error:
            return f"The index could not be opened: {self.error}"
        if self.ready:
            return "Ready."
        if self.total:
            return f"First run: {self.stage}: {self.done}/{self.total} papers embedded. Questions are answered as soon as it is done."
        return f"Starting: {self.stage}… Questions are answered as soon as it is done."


class Services:
    """The shared backend of every UI session."""

    def __init__(self, settings: Settings, retriever: Retriever | None = None, *, background: bool = False) -> None:
        self.settings = settings
        self.uploads_dir = settings.home / "uploads"
        self._lock = threading.Lock()
        self._engines: dict[tuple, AnswerEngine] = {}
        self._llms: dict[tuple, LLM] = {}
        self._settings: dict[tuple, Settings] = {}
        self._check_lock = threading.Lock()
        self.startup = Startup()
        self._store: PaperStore | None = None
        self._retriever: Retriever | None = None
        self._opened = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        if retriever is not None:
            self._store, self._retriever = retriever.store, retriever
            self._mark(ready=True)
        elif not background:
            self._open()
            if self.startup.error:
                raise CitewiseError(self.startup.error)

    # -- start-up ------------------------------------------------------------
    def start(self) -> None:
        """Open the index in a background thread (once; nothing to do when it is open already)."""
        with self._lock:
            if self._ready.is_set() or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._open, name="citewise-open-index", daemon=True)
            self._thread.start()

    def _mark(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.startup, key, value)
        if self.startup.ready or self.startup.error:
            self._opened.set()
            self._ready.set()

    def _open(self) -> None:
        """Open the store, index the bundled corpus on a fresh home, build the retriever, load the embedder."""
        from agent.index import index_corpus, open_store

        try:
            store = open_store(self.settings)
            self._store = store
            self._opened.set()
            if store.count() == 0:
                self._mark(stage="indexing the bundled corpus")
                index_corpus(store, None, self.settings, lambda done, total: self._mark(done=done, total=total))
            self._mark(stage="building the search index", done=0, total=0)
            retriever = Retriever(store, self.settings)
            self._mark(stage="loading the embedding model")
            try:
                retriever.search("warm up", 1)  # so the first question does not pay for it
            except Exception:  # noqa: BLE001 - only an optimisation; the first question reports real errors
                pass
            self._retriever = retriever
            self._mark(ready=True)
        except Exception as exc:  # noqa: BLE001 - shown on the page and to every waiting question
            self._mark(error=str(exc) or type(exc).__name__)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the index; True once it is ready (or failed: see ``startup.error``)."""
        return self._ready.wait(timeout)

    def _failed(self) -> CitewiseError:
        return CitewiseError(f"the index could not be opened: {self.startup.error}")

    @property
    def store(self) -> PaperStore:
        """The paper store (waits the second or two it takes to open)."""
        self._opened.wait()
        if self._store is None:
            raise self._failed()
        return self._store

    @property
    def retriever(self) -> Retriever:
        """The retriever (waits until the index is ready)."""
        self._ready.wait()
        if self._retriever is None:
            raise self._failed()
        return self._retriever

    # -- settings per choice -------------------------------------------------
    def settings_for(self, prefs: Prefs) -> Settings:
        """Settings for a session's choices (cached: the checker caches per settings object)."""
        key = prefs.key()
        with self._lock:
            cached = self._settings.get(key)
            if cached is not None:
                return cached
            base = self.settings
            extra = max(0, base.answer.list_papers - base.answer.papers)
            judge = base.faithfulness.judge_model
            if parse_model_string(prefs.model)[0] == "fake":
                judge = prefs.model  # a fake chat (tests, demos) never loads a real judge model
            s = base.with_overrides(
                **{
                    "llm.model": prefs.model,
                    "llm.openai_base_url": prefs.base_url,
                    "answer.papers": prefs.papers,
                    "answer.list_papers": prefs.papers + extra,
                    "faithfulness.judge_model": judge,
                }
            )
            if prefs.base_url is None and base.llm.openai_base_url and prefs.model == base.llm.model:
                s = s.with_overrides(**{"llm.openai_base_url": base.llm.openai_base_url})
            self._settings[key] = s
            return s

    def _llm(self, settings: Settings) -> LLM:
        key = (settings.llm.model, settings.llm.openai_base_url)
        with self._lock:
            llm = self._llms.get(key)
        if llm is None:
            loaded = load_llm(settings.llm.model, settings)
            prefix = parse_model_string(settings.llm.model)[0]
            llm = SerialLLM(name=loaded.name, context_window=loaded.context_window, inner=loaded) if prefix in SERIAL_PREFIXES else loaded
            with self._lock:
                llm = self._llms.setdefault(key, llm)
        return llm

    def engine(self, prefs: Prefs) -> AnswerEngine:
        """The answer engine for these choices, built once and shared by every session."""
        key = prefs.key()
        with self._lock:
            engine = self._engines.get(key)
        if engine is not None:
            return engine
        settings = self.settings_for(prefs)
        hooks = [] if prefs.check == "off" else [self._serial_hook(settings, prefs.check)]
        engine = AnswerEngine(settings, retriever=self.retriever, llm=self._llm(settings), hooks=hooks)
        with self._lock:
            return self._engines.setdefault(key, engine)

    def _serial_hook(self, settings: Settings, mode: str):
        hook = faithfulness_hook(settings, mode)
        if mode != "thorough":
            return hook

        def serial(answer: Answer, papers: dict[str, Paper]) -> None:
            with self._check_lock:  # the judge model is a local model too
                hook(answer, papers)

        return serial

    # -- on-demand checking --------------------------------------------------------
    def check(self, answer: Answer, papers: dict[str, Paper], prefs: Prefs, mode: str) -> Answer:
        """A re-checked copy of ``answer`` (e.g. the thorough check run on demand), with the same output policy."""
        from agent.chain.checking import check_and_apply_policy

        out = answer.model_copy(deep=True)
        if out.refused:
            return out
        settings = self.settings_for(prefs)
        with self._check_lock:
            check_and_apply_policy(out, papers, settings, mode)
        return out

    # -- corpus --------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the lexical and name indexes after papers were added."""
        self.retriever.refresh()

    def count(self) -> int:
        """Papers in the index now (0 while it is still opening; never waits)."""
        return self._store.count() if self._store is not None else 0

    def papers(self) -> list[Paper]:
        """The indexed papers (none while the index is still opening; never waits)."""
        return self._store.all_papers() if self._store is not None else []

    @property
    def home(self) -> Path:
        return self.settings.home
