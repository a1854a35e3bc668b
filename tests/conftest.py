"""Shared fixtures: isolated settings homes and one indexed copy of the bundled corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never touch the network or the user's own index.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The ONNX export of the embedder is shared by every test home: the one scripts/setup made
# (<XDG data home>/citewise/models/onnx), exported there on first use otherwise.
os.environ.setdefault(
    "CITEWISE_INDEX__ONNX_CACHE",
    str(Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "citewise" / "models" / "onnx"),
)
for _var in ("CITEWISE_CHROMA_URL", "CITEWISE_MODEL", "CITEWISE_OPENAI_BASE_URL", "OPENAI_API_KEY"):
    os.environ.pop(_var, None)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CITEWISE_HOME for one test (also seen by CLI subprocesses)."""
    path = tmp_path / "home"
    monkeypatch.setenv("CITEWISE_HOME", str(path))
    return path


@pytest.fixture
def settings(home: Path):
    from agent.settings import Settings

    return Settings()


@pytest.fixture(scope="session")
def bundled_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose index holds the bundled corpus; built once per test session."""
    from agent.index import index_corpus, open_store
    from agent.settings import Settings

    path = tmp_path_factory.mktemp("bundled-home")
    s = Settings(home=path)
    index_corpus(open_store(s), None, s)
    return path


@pytest.fixture
def bundled_settings(bundled_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at the shared bundled index (treat it as read-only)."""
    from agent.settings import Settings

    monkeypatch.setenv("CITEWISE_HOME", str(bundled_home))
    return Settings()


@pytest.fixture(scope="session")
def bundled_retriever(bundled_home: Path):
    from agent.retrieval import open_retriever
    from agent.settings import Settings

    return open_retriever(Settings(home=bundled_home), auto_index=False)
