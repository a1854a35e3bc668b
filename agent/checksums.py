"""SHA-256 checks of shipped model files against their manifests (verifier, learned engine, embedder).

Each loader raises its own error with its own advice; what they share is finding the first file that is
missing or does not match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def first_bad_file(
    directory: Path, expected: Mapping[str, str], names: Iterable[str] | None = None
) -> tuple[Path, str | None] | None:
    """The first of ``names`` (default: every file ``expected`` lists) under ``directory`` that is missing
    (``(path, None)``) or whose SHA-256 differs from ``expected`` (``(path, actual digest)``); None if all match."""
    for name in expected if names is None else names:
        path = directory / name
        if not path.is_file():
            return path, None
        digest = sha256_file(path)
        if digest != expected.get(name):
            return path, digest
    return None


def checked_manifest(directory: Path, what: str, error: type[Exception], advice: str) -> dict:
    """``directory``'s manifest.json, after every file its ``sha256`` lists has been checked; ``error`` (with
    ``what`` the model's name and ``advice`` what to do) when the manifest or a file is missing or wrong."""
    import json

    path = Path(directory) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = dict(manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise error(f"the {what}'s manifest {path} is missing or unreadable: {exc}") from exc
    bad = first_bad_file(Path(directory), files)
    if bad is not None:
        why = "is missing" if bad[1] is None else "does not match its SHA-256 in the manifest"
        raise error(f"the {what} file {bad[0]} {why}; {advice}")
    return manifest
