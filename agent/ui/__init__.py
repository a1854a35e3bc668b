"""The Gradio chat UI (``python app.py`` or ``citewise ui``).

:func:`serve` is the one entry point: it checks the bind address (loopback
unless ``listen_anywhere``), turns telemetry off, starts opening the index in
the background (indexing the bundled corpus on first run, with progress on
the page), builds the Blocks and launches them at once with a
per-event concurrency limit, a minimal set of served paths and optional
login from ``CITEWISE_UI__AUTH`` ("user:password").
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gradio as gr

    from agent.settings import Settings
    from agent.ui.services import Services

#: How many events may wait in the queue before new ones are turned away.
QUEUE_SIZE = 64


class UIConfigError(ValueError):
    """A bad host / port / auth setting (reported without a traceback)."""


def offline_env() -> None:
    """Telemetry and hub look-ups off before gradio, chromadb or transformers are imported."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_host(host: str | None, settings_host: str, listen_anywhere: bool) -> str:
    """The bind address: loopback unless the caller explicitly allowed listening elsewhere."""
    if listen_anywhere:
        return host if host and not is_loopback(host) else "0.0.0.0"
    chosen = host or settings_host
    if not is_loopback(chosen):
        raise UIConfigError(
            f"refusing to listen on {chosen!r} without --listen-anywhere (the UI binds to 127.0.0.1 by default)"
        )
    return chosen


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:password"`` -> (user, password); None when unset."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise UIConfigError("CITEWISE_UI__AUTH must look like 'user:password'")
    return user, password


def default_runs_dirs(settings: Settings) -> list[Path]:
    """Where eval runs are looked for: ./runs and <home>/runs."""
    out: list[Path] = []
    for path in (Path.cwd() / "runs", settings.home / "runs"):
        resolved = path.resolve()
        if resolved not in out:
            out.append(resolved)
    return out


def blocked_paths(settings: Settings) -> list[str]:
    """Citewise's own data (index, staged uploads, model cache): never served, whatever else is allowed.

    A folder holding Gradio's upload folder is left out, or uploads themselves would be refused.
    """
    import tempfile

    upload_root = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    out = []
    for path in (settings.index_path, settings.home / "uploads", settings.model_cache):
        resolved = path.resolve()
        if not upload_root.is_relative_to(resolved):
            out.append(str(resolved))
    return out


def create_services(settings: Settings, *, background: bool = True) -> Services:
    """The shared backend; ``background``: the index opens in a thread while the page is already served."""
    from agent.ui.services import Services

    return Services(settings, background=background)


def build(settings: Settings, *, locked: bool = False, runs_dirs: list[Path] | None = None, services: Services | None = None) -> gr.Blocks:
    """The Blocks for ``settings`` (not launched), with the queue configured.

    Services passed in are started by the caller (:func:`serve` does it once the page is up).
    """
    offline_env()
    from agent.ui.app import build_app

    if services is None:
        services = create_services(settings)
        services.start()
    demo = build_app(services, locked=locked, runs_dirs=runs_dirs if runs_dirs is not None else default_runs_dirs(settings))
    demo.queue(default_concurrency_limit=settings.ui.concurrency, max_size=QUEUE_SIZE)
    return demo


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    listen_anywhere: bool = False,
    runs_dirs: list[Path] | None = None,
    prevent_thread_lock: bool = False,
) -> gr.Blocks:
    """Launch the UI (blocking unless ``prevent_thread_lock``)."""
    offline_env()
    bind = resolve_host(host, settings.ui.host, listen_anywhere)
    auth = parse_auth(settings.ui.auth)
    port = port or settings.ui.port
    locked = not is_loopback(bind)
    print(f"citewise ui: opening the index at {settings.index.chroma_url or settings.index_path} in the background "
          "(on first run it indexes the bundled corpus, about a minute; the page shows the progress)", file=sys.stderr, flush=True)
    services = create_services(settings)
    demo = build(settings, locked=locked, runs_dirs=runs_dirs, services=services)
    from agent.ui.theme import CSS, JS, offline_theme

    if locked and auth is None:
        print("citewise ui: warning: listening beyond loopback without a login (set CITEWISE_UI__AUTH=user:password)",
              file=sys.stderr, flush=True)
    demo.launch(
        server_name=bind,
        server_port=port,
        share=False,
        auth=auth,
        max_file_size=f"{settings.ui.max_upload_mb:g}mb",
        allowed_paths=[],
        blocked_paths=blocked_paths(settings),
        footer_links=[],
        run_history=False,
        enable_monitoring=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        show_error=False,
        quiet=False,
        theme=offline_theme(),
        css=CSS,
        js=JS,
        prevent_thread_lock=True,
    )
    # The page is up; now open the index (on a fresh home: index the bundled corpus) without delaying it.
    services.start()
    if not prevent_thread_lock:
        demo.block_thread()
    return demo


def main(argv: list[str] | None = None) -> int:
    """``python app.py [--host H] [--port P] [--listen-anywhere] [--model M] [--runs-dir DIR]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="app.py", description="Citewise chat UI (Gradio).")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1; others need --listen-anywhere)")
    parser.add_argument("--port", type=int, help="port (default 7860)")
    parser.add_argument("--listen-anywhere", action="store_true", help="allow a non-loopback address (0.0.0.0 if --host is not given)")
    parser.add_argument("--model", help="model string, e.g. local:qwen2.5-coder-1.5b, openai:<model>, fake")
    parser.add_argument("--runs-dir", action="append", type=Path, help="folder of eval runs for the Evals tab (repeatable)")
    args = parser.parse_args(argv)
    from agent.settings import Settings

    settings = Settings().with_overrides(**{"llm.model": args.model})
    try:
        serve(settings, host=args.host, port=args.port, listen_anywhere=args.listen_anywhere, runs_dirs=args.runs_dir)
    except UIConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = ["UIConfigError", "build", "main", "parse_auth", "resolve_host", "serve"]
