"""The learned search re-ranker: a MiniLM cross-encoder scoring how relevant a paper is to a query.

Trained by ``evals/train_reranker.py`` (listwise loss over one relevant paper
and BM25 hard negatives, from BEIR SciFact train queries, Citation-Integrity
citing sentences and PubMedQA questions) and shipped as int8 ONNX with its
tokenizer and a manifest (name, version, training data, SHA-256) in
``agent/models/reranker``. One model call per candidate paper (query, title
and abstract as a pair); runs on onnxruntime and ``tokenizers``, no torch.

Every load checks the files against the manifest; a missing or corrupt file
raises :class:`RerankerError` saying what to do.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from agent.checksums import first_bad_file
from agent.onnxrt import cpu_session, load_tokenizer, run_batched

#: Where the shipped model lives (package data).
PACKAGED_DIR = Path(__file__).resolve().parent.parent / "models" / "reranker"
FILES = ("model.onnx", "tokenizer.json")


class RerankerError(RuntimeError):
    """The re-ranker model is missing, corrupt or cannot be loaded."""


class Reranker:
    """Scores papers for a query; build once per process (:func:`get_reranker`)."""

    def __init__(self, directory: Path, threads: int | None = None, batch_size: int = 16) -> None:
        self.directory = Path(directory)
        manifest_path = self.directory / "manifest.json"
        if not manifest_path.is_file():
            raise RerankerError(
                f"re-ranker model not found: {manifest_path} is missing. Reinstall citewise, or point "
                "CITEWISE_RETRIEVAL__RERANKER_PATH at a directory made by evals/train_reranker.py"
            )
        try:
            raw = json.loads(manifest_path.read_text(encoding="utf-8"))
            self.name, self.version = str(raw["name"]), str(raw["version"])
            self.max_length, sha = int(raw["max_length"]), dict(raw["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RerankerError(f"re-ranker manifest {manifest_path} is unreadable: {exc}") from exc
        bad = first_bad_file(self.directory, sha, FILES)
        if bad is not None:
            path, digest = bad
            if digest is None:
                raise RerankerError(f"re-ranker file missing: {path}; reinstall citewise or retrain with evals/train_reranker.py")
            raise RerankerError(
                f"re-ranker file {path} is corrupt: SHA-256 {digest} does not match the manifest's {sha.get(path.name)}; "
                "reinstall citewise"
            )
        self.batch_size = batch_size
        self._tok = load_tokenizer(self.directory / "tokenizer.json", self.max_length, RerankerError)
        self._session: Any = cpu_session(self.directory / "model.onnx", RerankerError, threads)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def score(self, query: str, papers: list[str]) -> np.ndarray:
        """One relevance logit per paper text (higher = more relevant), shape (len(papers),)."""
        if not papers:
            return np.zeros(0, dtype=np.float32)
        return run_batched(self._session, self._tok, [(query, p) for p in papers], self.batch_size).reshape(-1).astype(np.float32)


@functools.lru_cache(maxsize=2)
def get_reranker(directory: str | None = None, threads: int | None = None) -> Reranker:
    """One shared re-ranker per model directory in a process (``None`` = the packaged model)."""
    return Reranker(Path(directory) if directory else PACKAGED_DIR, threads)
