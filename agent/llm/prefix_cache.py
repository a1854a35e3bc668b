"""A disk cache of llama.cpp's state after the fixed start of a prompt (the system prompt).

Every answer starts with the same system prompt (~250 tokens). Within one
process llama.cpp reuses it: a new prompt that shares a prefix with the last
one only evaluates the rest. A fresh process (each ``citewise ask``, the UI's
first answer, every eval run) would read it again, ~5 s for the 1.5B model on
two cores. This module stores the context's state after that prefix once, as
a small file (the KV cells of those tokens, ~7 MB), and restores it in a new
process, so only the question-specific part is read.

The prefix is the rendered chat template up to where the user's text starts,
cut to the tokens it truly shares with the real prompt. A cache file is keyed
by those tokens and by everything that changes the state's meaning: the
model file (path, size, mtime), n_ctx, flash attention and the llama.cpp
version. Files are written to a temp name and renamed, and carry a SHA-256 of
the state, so llama.cpp is never handed a truncated or damaged buffer. Any failure to read or restore simply falls back to evaluating
the prefix (and is never an error for the user).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

#: Shortest prefix worth caching, in tokens (below it, evaluating is as cheap as loading).
MIN_PREFIX_TOKENS = 32
_SENTINEL = "\u2063citewise-user-text\u2063"
#: File header: format tag, then the SHA-256 of the state bytes that follow.
_MAGIC = b"CWKV1\n"


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PrefixStateCache:
    """State after a prompt's fixed prefix, on disk under ``directory``, for one loaded model."""

    def __init__(self, directory: Path, model_path: Path, n_ctx: int, flash_attn: bool) -> None:
        import llama_cpp

        st = model_path.stat()
        ident = f"{model_path.resolve()}|{st.st_size}|{int(st.st_mtime)}|{n_ctx}|{flash_attn}|{llama_cpp.__version__}"
        self.directory = directory
        self.model_key = hashlib.sha256(ident.encode()).hexdigest()[:16]
        self._sentinel_tokens: dict[str, list[int]] = {}  # system prompt -> tokens of a sentinel render
        self.hits = 0
        self.misses = 0

    def prefix_tokens(self, llama: Any, formatter: Any, messages: list[dict], prompt_tokens: list[int]) -> list[int]:
        """The tokens of ``prompt_tokens`` that every prompt with the same system message starts with."""
        if not messages or messages[0].get("role") != "system" or formatter is None:
            return []
        system = messages[0]["content"]
        ref = self._sentinel_tokens.get(system)
        if ref is None:
            text = formatter(messages=[messages[0], {"role": "user", "content": _SENTINEL}]).prompt
            ref = llama.tokenize(text.encode("utf-8"), special=True)
            self._sentinel_tokens[system] = ref
        n = _common_prefix(ref, prompt_tokens)
        return prompt_tokens[:n] if n >= MIN_PREFIX_TOKENS else []

    def _path(self, prefix: list[int]) -> Path:
        digest = hashlib.sha256(np.asarray(prefix, dtype=np.int32).tobytes()).hexdigest()[:24]
        return self.directory / f"{self.model_key}-{digest}.kvstate"

    def ensure(self, llama: Any, prefix: list[int]) -> str:
        """Make ``llama``'s context start with ``prefix``: 'live' (already), 'disk' (restored) or 'eval' (computed, saved)."""
        n = len(prefix)
        if llama.n_tokens >= n and list(llama.input_ids[:n]) == prefix:
            return "live"
        path = self._path(prefix)
        if path.is_file() and self._restore(llama, prefix, path):
            self.hits += 1
            return "disk"
        self.misses += 1
        llama.reset()
        llama.eval(prefix)
        self._save(llama, path)
        return "eval"

    @staticmethod
    def _restore(llama: Any, prefix: list[int], path: Path) -> bool:
        import llama_cpp

        try:
            raw = path.read_bytes()
            head, digest, data = raw[: len(_MAGIC)], raw[len(_MAGIC) : len(_MAGIC) + 32], raw[len(_MAGIC) + 32 :]
            if head != _MAGIC or hashlib.sha256(data).digest() != digest:
                raise ValueError("not a complete state file")  # never hand llama.cpp a damaged buffer
            buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            if llama_cpp.llama_state_set_data(llama._ctx.ctx, buf, len(data)) != len(data):
                raise ValueError("short state read")
            llama.input_ids[: len(prefix)] = prefix
            llama.n_tokens = len(prefix)
            llama._requires_eval = True  # logits are not live: llama.cpp re-decodes at least one token
            return True
        except Exception:  # a stale or damaged file: drop it and evaluate instead
            llama.reset()
            path.unlink(missing_ok=True)
            return False

    @staticmethod
    def _save(llama: Any, path: Path) -> None:
        import llama_cpp

        try:
            ctx = llama._ctx.ctx
            size = llama_cpp.llama_state_get_size(ctx)
            buf = (ctypes.c_uint8 * size)()
            n = llama_cpp.llama_state_get_data(ctx, buf, size)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            data = bytes(buf)[:n]
            tmp.write_bytes(_MAGIC + hashlib.sha256(data).digest() + data)
            os.replace(tmp, path)
        except Exception:  # a read-only or full disk only costs the next process the prefix
            return
