"""llama-cpp-python's OpenAI-compatible server, with Citewise's CPU probe applied.

    python -m agent.llm.llama_server --model FILE.gguf --host 127.0.0.1 --port 8080 [llama_cpp.server options]

Takes exactly the options of ``python -m llama_cpp.server``, with one default changed:
``--interrupt_requests False``. llama_cpp.server's own default (True) ends a streaming answer
the moment another request waits for the model, so with several clients (UI workers, eval
workers) answers came back cut off or empty; now each request waits its turn and is answered
whole. Pass ``--interrupt_requests True`` to get the old behaviour. Where the CPU
advertises AMX that does not run (:mod:`agent.llm.cpu_probe`), models are
loaded without llama.cpp's extra buffer types, so the server does not die on
its first request; ``CITEWISE_LLM__CPU_EXTRA_BUFFERS=true/false`` forces it.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    from agent.llm.cpu_probe import extra_buffers_work
    from agent.llm.llamacpp import without_extra_buffers
    from agent.settings import Settings

    settings = Settings()
    model = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--model"), None)
    extra = settings.llm.cpu_extra_buffers
    if extra is None and model:
        extra = extra_buffers_work(Path(model), settings.home / "cache")
    if not any(a == "--interrupt_requests" or a.startswith("--interrupt_requests=") for a in argv):
        argv = [*argv, "--interrupt_requests", "False"]
    sys.argv = ["llama_cpp.server", *argv]
    if extra is False:
        with without_extra_buffers():
            runpy.run_module("llama_cpp.server", run_name="__main__")
    else:
        runpy.run_module("llama_cpp.server", run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
