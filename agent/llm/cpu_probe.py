"""Whether llama.cpp's CPU "extra buffer types" (AMX tiles, repacked weights) can run on this machine.

Some virtual machines advertise AMX (``amx_tile`` in /proc/cpuinfo) without
the hypervisor enabling it; there llama.cpp's extra buffers kill the whole
process (illegal instruction / general protection fault) on the first
decode, which no ``try`` can catch. Where AMX is advertised, a child process
loads the model and decodes a few tokens once; the outcome is cached per CPU
model, flags and llama-cpp-python version under ``<home>/cache``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=128, n_threads=1, verbose=False)
llm.eval(llm.tokenize(b"The quick brown fox jumps over the lazy dog."))
print("ok")
"""


def _cpu_signature() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "", set()
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return model, set(flags)


def extra_buffers_work(model_path: Path, cache_dir: Path, timeout_s: float = 120.0) -> bool:
    """True unless the CPU advertises AMX and a probe with extra buffers crashed (cached)."""
    model, flags = _cpu_signature()
    if "amx_tile" not in flags:
        return True
    try:
        import llama_cpp

        version = str(getattr(llama_cpp, "__version__", ""))
    except ImportError:  # pragma: no cover - the backend needs it anyway
        return True
    key = hashlib.sha1(json.dumps([model, sorted(flags), version]).encode()).hexdigest()[:16]
    cache = cache_dir / f"cpu-extra-buffers-{key}.json"
    if cache.is_file():
        try:
            return bool(json.loads(cache.read_text())["works"])
        except (ValueError, KeyError):
            pass
    try:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, str(model_path)], capture_output=True, text=True, timeout=timeout_s
        )
        works = proc.returncode == 0 and "ok" in proc.stdout
    except subprocess.TimeoutExpired:
        works = False
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"works": works, "cpu": model, "llama_cpp": version}))
    if not works:
        print(
            "note: this CPU advertises AMX but llama.cpp's extra buffer types crash here; running without them "
            "(set CITEWISE_LLM__CPU_EXTRA_BUFFERS=true to force)",
            file=sys.stderr,
        )
    return works
