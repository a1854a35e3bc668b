"""The sentence embedder on ONNX Runtime: same vectors as sentence-transformers, no torch at query time.

Loading torch and sentence-transformers costs ~5-10 s per process, most of a
cold ``citewise search``. The packaged all-MiniLM-L6-v2 (or any local
sentence-transformers model made of a BERT-style transformer, mean pooling
and L2 normalization) is exported once to an fp32 ONNX graph that does the
pooling and normalization itself. The export runs at set-up
(``scripts/setup`` calls ``python -m agent.index.onnx_embedder``) or on the
first run that needs it, and is cached in ``<home>/models/onnx/<model>``
(``index.onnx_cache``) with a manifest: the source weights' SHA-256, every
file's SHA-256, the recipe version, and the parity measured at export (the
lowest cosine between ONNX and sentence-transformers embeddings of sample
texts; the export fails below :data:`PARITY_MIN_COSINE`). Because the vectors
match, an index built by either runtime is searched by the other.

Loading checks each file's size and modification time against the manifest
and re-hashes only what changed (hashing the 90 MB graph costs ~0.1 s); a
stale or corrupt cache is exported again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.index.embeddings import EmbeddingModelError, quiet_offline_hf
from agent.onnxrt import cpu_session, load_tokenizer, run_batched, sha256_file

#: Version of the export recipe; a cache made by another recipe is exported again.
RECIPE = "st-meanpool-l2norm-fp32/1"
#: Lowest cosine accepted between ONNX and sentence-transformers embeddings at export.
PARITY_MIN_COSINE = 0.9999
FILES = ("model.onnx", "tokenizer.json")
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
#: Texts embedded by both runtimes at export (one longer than the 256-token window).
PARITY_TEXTS = [
    "Which papers address false negatives?",
    "BM25",
    "Contrastive learning of sentence embeddings with hard negatives improves retrieval on BEIR.",
    "Diffusion tensor MRI of newborn cerebral white matter: anisotropy and apparent diffusion coefficients.",
    "Über die Größe: naïve café “quotes” and ß.",
    " ".join(f"sentence {i} about graph neural networks and message passing." for i in range(80)),
]


def _error(msg: str) -> EmbeddingModelError:
    return EmbeddingModelError(msg)


def cache_dir(spec: str, root: Path) -> Path:
    """Where the export of the model named by ``spec`` lives under ``root``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", spec.rsplit("/", 1)[-1]).strip("-")
    if spec.startswith(("packaged:", "citewise:")):  # named models: one export wherever the process runs
        return root / name
    digest = hashlib.sha256(str(Path(spec).expanduser().resolve()).encode()).hexdigest()[:10]
    return root / f"{name or 'model'}-{digest}"


@dataclass(frozen=True)
class SourceModel:
    """A sentence-transformers model directory that this recipe can export."""

    directory: Path
    weights: Path
    max_length: int

    @classmethod
    def inspect(cls, directory: Path) -> "SourceModel":
        """Check that ``directory`` is transformer + mean pooling (+ normalize); raise if not."""
        weights = next((directory / w for w in WEIGHTS if (directory / w).is_file()), None)
        if weights is None:
            raise _error(f"no model weights ({' or '.join(WEIGHTS)}) in {directory}")
        if not (directory / "tokenizer.json").is_file():
            raise _error(f"no tokenizer.json in {directory} (needed by the ONNX runtime)")
        modules = _read_json(directory / "modules.json") or []
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        if kinds and [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]:
            raise _error(f"{directory} has modules {kinds}; the ONNX export handles Transformer, Pooling, Normalize only")
        pool_dir = next((directory / m["path"] for m in modules if str(m.get("type", "")).endswith("Pooling")), directory / "1_Pooling")
        pooling = _read_json(pool_dir / "config.json") or {"pooling_mode_mean_tokens": True}
        # sentence-transformers < 6 writes one flag per mode; 6 writes {"pooling_mode": "mean"}.
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
        if isinstance(pooling.get("pooling_mode"), str):
            modes.add(f"pooling_mode_{pooling['pooling_mode']}_tokens")
        if modes != {"pooling_mode_mean_tokens"}:
            raise _error(f"{directory} pools with {sorted(modes)}; the ONNX export handles mean pooling only")
        max_length = int((_read_json(directory / "sentence_bert_config.json") or {}).get("max_seq_length") or 256)
        return cls(directory=directory, weights=weights, max_length=max_length)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise _error(f"{path} is unreadable: {exc}") from exc


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _file_ok(path: Path, entry: dict[str, Any]) -> bool:
    """Same size and mtime as recorded (cheap), or else the same SHA-256 (re-hashed)."""
    if not path.is_file():
        return False
    stamp = _stamp(path)
    if stamp["size"] != entry.get("size"):
        return False
    return stamp["mtime_ns"] == entry.get("mtime_ns") or sha256_file(path) == entry.get("sha256")


def check_cache(directory: Path, source: SourceModel) -> tuple[dict[str, Any] | None, str]:
    """(manifest, "") when the export in ``directory`` is current and intact, else (None, why not)."""
    manifest = _read_json(directory / "manifest.json") if (directory / "manifest.json").is_file() else None
    if not manifest:
        return None, "not exported yet"
    if manifest.get("recipe") != RECIPE:
        return None, f"made by export recipe {manifest.get('recipe')!r}, not {RECIPE!r}"
    src = manifest.get("source", {})
    moved = src.get("path") != str(source.weights)
    if not moved:
        current = _file_ok(source.weights, src)
    else:  # the same model elsewhere (another checkout or venv) is the same export: compare contents
        current = source.weights.is_file() and sha256_file(source.weights) == src.get("sha256")
    if not current:
        return None, f"the source model {source.weights} changed since the export"
    for name in FILES:
        if not _file_ok(directory / name, manifest.get("files", {}).get(name, {})):
            return None, f"{directory / name} is missing or does not match its SHA-256 in the manifest"
    if moved:
        manifest = _repoint(directory, manifest, source.weights)
    return manifest, ""


def _repoint(directory: Path, manifest: dict[str, Any], weights: Path) -> dict[str, Any]:
    """Record the source model's new path and stamp, so that the next start checks size and mtime instead of
    re-hashing it. Best effort: a read-only cache keeps its manifest (and the next start hashes again)."""
    manifest = {**manifest, "source": {**manifest.get("source", {}), "path": str(weights), **_stamp(weights)}}
    tmp = directory / f".manifest.json.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        tmp.replace(directory / "manifest.json")
    except OSError:
        tmp.unlink(missing_ok=True)
    return manifest


def export(source: SourceModel, dest: Path, spec: str) -> dict[str, Any]:
    """Export ``source`` to ONNX into ``dest`` (atomically); returns the manifest. Imports torch."""
    t0 = time.perf_counter()
    try:
        import onnx  # noqa: F401  (torch.onnx's exporter needs it; checked first, it imports fast)

        quiet_offline_hf()
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers import AutoModel
    except ImportError as exc:
        raise _error(f"exporting the embedder to ONNX needs torch, transformers and onnx ({exc})") from exc
    import warnings

    class Pooled(torch.nn.Module):
        """Transformer -> mean over attended tokens -> L2 normalization (sentence-transformers' pipeline)."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        model = AutoModel.from_pretrained(str(source.directory)).eval()
        sample = torch.tensor([[101, 7592, 2088, 102, 0, 0]])
        mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(model),
                (sample, mask, torch.zeros_like(sample)),
                str(tmp / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={k: {0: "batch", 1: "seq"} for k in ("input_ids", "attention_mask", "token_type_ids")}
                | {"embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        shutil.copyfile(source.directory / "tokenizer.json", tmp / "tokenizer.json")
        # Parity with the runtime it replaces, on the same texts.
        reference = SentenceTransformer(str(source.directory), device="cpu").encode(
            PARITY_TEXTS, normalize_embeddings=True, show_progress_bar=False
        )
        got = OnnxEmbedder(tmp, source.max_length).embed(PARITY_TEXTS)
        parity = float(np.min(np.sum(np.asarray(reference, dtype=np.float32) * got, axis=1)))
        if parity < PARITY_MIN_COSINE:
            raise _error(f"the ONNX export of {source.directory} does not match sentence-transformers (cosine {parity:.5f})")
        manifest = {
            "name": spec,
            "recipe": RECIPE,
            "format": "onnx fp32; input_ids/attention_mask/token_type_ids -> 'embedding' (mean-pooled, L2-normalized)",
            "max_length": source.max_length,
            "dim": int(got.shape[1]),
            "parity_min_cosine": round(parity, 6),
            "source": {"path": str(source.weights), "sha256": sha256_file(source.weights), **_stamp(source.weights)},
            "files": {n: {"sha256": sha256_file(tmp / n), **_stamp(tmp / n)} for n in FILES},
            "exported_with": {"torch": torch.__version__, "export_s": round(time.perf_counter() - t0, 1)},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        if dest.exists():
            os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except OSError:  # another process finished the same export first: keep its copy
            if not (dest / "manifest.json").is_file():
                raise
        shutil.rmtree(old, ignore_errors=True)
        # os.replace keeps mtimes, so the stamps recorded above still hold.
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class OnnxEmbedder:
    """L2-normalized sentence embeddings from an exported graph (same interface as the torch embedder)."""

    runtime = "onnx"

    def __init__(self, directory: Path, max_length: int, batch_size: int = 32, spec: str = "", threads: int | None = None) -> None:
        self.directory = Path(directory)
        self.spec = spec
        self.batch_size = batch_size
        self._tok = load_tokenizer(self.directory / "tokenizer.json", max_length, EmbeddingModelError)
        self._session = cpu_session(self.directory / "model.onnx", EmbeddingModelError, threads)
        self._dim = int(self._session.get_outputs()[0].shape[-1] or 0) or None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; returns an array of shape (len(texts), dim), float32, unit rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = run_batched(self._session, self._tok, list(texts), self.batch_size).astype(np.float32, copy=False)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim


def load(spec: str, source_dir: Path, root: Path, batch_size: int = 32, export_if_needed: bool = True) -> OnnxEmbedder:
    """The ONNX embedder for ``spec`` from its cache under ``root``, exporting it first if needed."""
    source = SourceModel.inspect(source_dir)
    directory = cache_dir(spec, root)
    manifest, why = check_cache(directory, source)
    if manifest is None:
        if not export_if_needed:
            raise _error(f"no usable ONNX export of {spec} in {directory}: {why}; run `python -m agent.index.onnx_embedder`")
        failed = _failure_marker(directory)
        earlier = _read_json(failed) if failed.is_file() else None
        if earlier and earlier.get("recipe") == RECIPE and earlier.get("source") == _stamp(source.weights):
            # Do not pay for a failing export (torch import and all) in every process.
            raise _error(f"an earlier ONNX export failed ({earlier.get('error')}); retry with `python -m agent.index.onnx_embedder --force`")
        print(
            f"note: converting the embedder {spec} to ONNX ({why}); once, about 15-30 s; later runs load it in "
            "well under a second without torch",
            file=sys.stderr,
            flush=True,
        )
        try:
            manifest = export(source, directory, spec)
        except EmbeddingModelError as exc:
            failed.parent.mkdir(parents=True, exist_ok=True)
            failed.write_text(json.dumps({"recipe": RECIPE, "source": _stamp(source.weights), "error": str(exc)}), encoding="utf-8")
            raise
        failed.unlink(missing_ok=True)
    return OnnxEmbedder(directory, int(manifest["max_length"]), batch_size, spec)


def _failure_marker(directory: Path) -> Path:
    return directory.parent / f"{directory.name}.export-failed.json"


def main(argv: list[str] | None = None) -> int:
    """Export the configured embedders now (scripts/setup runs this once)."""
    ap = argparse.ArgumentParser(description="Convert the configured sentence embedders to ONNX (cached; once).")
    ap.add_argument("--force", action="store_true", help="export again even when the cache is current")
    args = ap.parse_args(argv)
    from agent.settings import Settings

    settings = Settings()
    specs = dict.fromkeys([settings.index.embed_model, settings.index.sentence_model])
    return max(_export_one(spec, settings, args.force) for spec in specs)


def _export_one(spec: str, settings: Any, force: bool) -> int:
    from agent.index.embeddings import onnx_cache_root, resolve_model_path

    root = onnx_cache_root(settings)
    try:
        source = SourceModel.inspect(resolve_model_path(spec))
        directory = cache_dir(spec, root)
        manifest, why = (None, "forced") if force else check_cache(directory, source)
        if manifest is not None:
            print(f"ONNX embedder for {spec} is current: {directory}")
            return 0
        t0 = time.perf_counter()
        manifest = export(source, directory, spec)
        _failure_marker(directory).unlink(missing_ok=True)
    except EmbeddingModelError as exc:
        print(f"error: {exc}; {spec} will run on sentence-transformers (torch) instead", file=sys.stderr)
        return 1
    print(
        f"ONNX embedder for {spec} exported in {time.perf_counter() - t0:.0f} s to {directory} "
        f"(cosine to sentence-transformers >= {manifest['parity_min_cosine']:.5f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
