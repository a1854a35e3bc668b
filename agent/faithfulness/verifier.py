"""The learned claim verifier: P(evidence supports claim) from a small cross-encoder.

A MiniLM-L6 cross-encoder fine-tuned on labelled claim/evidence pairs
(SciFact, Citation-Integrity, HealthVer, COVID-Fact, AttributionBench, WiCE)
and synthetic perturbations of real abstract sentences; trained by
``evals/train_verifier.py`` and shipped as int8 ONNX (~23 MB) with its
tokenizer and a manifest (name, version, training data, SHA-256, decision
threshold) in ``agent/models/verifier``. Runs on onnxruntime and the
``tokenizers`` library: no torch import.

Every load checks the files against the manifest's SHA-256; a missing or
corrupt file raises :class:`VerifierError` with what to do.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.checksums import first_bad_file
from agent.onnxrt import cpu_session, load_tokenizer, run_batched

#: Where the shipped model lives (package data).
PACKAGED_DIR = Path(__file__).resolve().parent.parent / "models" / "verifier"
FILES = ("model.onnx", "tokenizer.json")


class VerifierError(RuntimeError):
    """The verifier model is missing, corrupt or cannot be loaded."""


@dataclass(frozen=True)
class VerifierInfo:
    """What the manifest says about the model."""

    name: str
    version: str
    threshold: float
    max_length: int
    sha256: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


def read_manifest(directory: Path) -> VerifierInfo:
    """The manifest of the model in ``directory``, after checking every file's SHA-256."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise VerifierError(
            f"verifier model not found: {manifest_path} is missing. Reinstall citewise, or point "
            "CITEWISE_FAITHFULNESS__VERIFIER_PATH at a directory made by evals/train_verifier.py"
        )
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
        info = VerifierInfo(
            name=str(raw["name"]), version=str(raw["version"]), threshold=float(raw["threshold"]),
            max_length=int(raw["max_length"]), sha256=dict(raw["sha256"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise VerifierError(f"verifier manifest {manifest_path} is unreadable: {exc}") from exc
    bad = first_bad_file(directory, info.sha256, FILES)
    if bad is not None:
        path, digest = bad
        if digest is None:
            raise VerifierError(f"verifier file missing: {path}; reinstall citewise or retrain with evals/train_verifier.py")
        raise VerifierError(
            f"verifier file {path} is corrupt: SHA-256 {digest} does not match the manifest's "
            f"{info.sha256.get(path.name)}; reinstall citewise"
        )
    return info


class Verifier:
    """Scores (evidence, claim) pairs; build once per process (:func:`get_verifier`)."""

    def __init__(self, directory: Path, threads: int | None = None, batch_size: int = 32) -> None:
        self.directory = Path(directory)
        self.info = read_manifest(self.directory)
        self.batch_size = batch_size
        self._tok = load_tokenizer(self.directory / "tokenizer.json", self.info.max_length, VerifierError)
        self._session: Any = cpu_session(self.directory / "model.onnx", VerifierError, threads)

    @property
    def threshold(self) -> float:
        return self.info.threshold

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(support) for each (evidence, claim) pair, shape (len(pairs),)."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        logits = run_batched(self._session, self._tok, pairs, self.batch_size).reshape(-1).astype(np.float32)
        return 1.0 / (1.0 + np.exp(-logits))


@functools.lru_cache(maxsize=2)
def get_verifier(directory: str | None = None, threads: int | None = None) -> Verifier:
    """One shared verifier per model directory in a process (``None`` = the packaged model)."""
    return Verifier(Path(directory) if directory else PACKAGED_DIR, threads)
