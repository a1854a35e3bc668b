"""ONNX Runtime plumbing shared by the small models that run without torch.

The learned claim verifier (:mod:`agent.faithfulness.verifier`) and the ONNX
MiniLM embedder (:mod:`agent.index.onnx_embedder`) both load a ``model.onnx``
and a Hugging Face ``tokenizer.json``, check files against a manifest's
SHA-256, and run length-sorted batches. onnxruntime and tokenizers are
imported only when a session or tokenizer is made (both import in ~0.1 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.checksums import sha256_file

__all__ = ["TextOrPair", "cpu_session", "load_tokenizer", "run_batched", "sha256_file"]

#: One text, or a (first, second) pair for a cross-encoder.
TextOrPair = str | tuple[str, str]


def cpu_session(path: Path, error: type[Exception], threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path``; failures raise ``error`` with the file named."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise error(f"onnxruntime is not installed ({exc}); reinstall citewise") from exc
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise error(f"cannot load the ONNX model {path}: {exc}") from exc


def load_tokenizer(path: Path, max_length: int, error: type[Exception]) -> Any:
    """A ``tokenizers`` tokenizer that truncates to ``max_length`` and pads to the longest in a batch."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise error(f"the tokenizers library is not installed ({exc}); reinstall citewise") from exc
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise error(f"cannot read the tokenizer {path}: {exc}") from exc
    tok.enable_truncation(max_length, strategy="longest_first")
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]")
    return tok


def run_batched(session: Any, tokenizer: Any, items: Sequence[TextOrPair], batch_size: int) -> np.ndarray:
    """The model's first output for every item, rows in the order of ``items``.

    Items of similar length go in one batch (less padding); the inputs fed are
    those of ``input_ids``, ``attention_mask`` and ``token_type_ids`` that the
    model declares.
    """
    if not items:
        return np.zeros((0,), dtype=np.float32)
    names = {i.name for i in session.get_inputs()}
    order = sorted(range(len(items)), key=lambda i: _length(items[i]))
    parts: list[np.ndarray] = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        encs = tokenizer.encode_batch([items[i] for i in idx])
        feed = {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
        parts.append(np.asarray(session.run(None, {k: v for k, v in feed.items() if k in names})[0]))
    stacked = np.concatenate(parts)
    out = np.empty_like(stacked)
    out[order] = stacked
    return out


def _length(item: TextOrPair) -> int:
    return len(item) if isinstance(item, str) else len(item[0]) + len(item[1])
