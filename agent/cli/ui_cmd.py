"""``citewise ui``: the Gradio chat (same as ``python app.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agent.cli.common import UserError, load_settings, user_errors


def ui(
    host: Annotated[Optional[str], typer.Option("--host", help="Address to bind (default 127.0.0.1; others need --listen-anywhere).")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Port (default 7860).")] = None,
    listen_anywhere: Annotated[bool, typer.Option("--listen-anywhere", help="Allow a non-loopback address (0.0.0.0 unless --host is given).")] = False,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model string: local:qwen2.5-coder-1.5b (default), openai:<model>, fake, ...")] = None,
    runs_dir: Annotated[Optional[list[Path]], typer.Option("--runs-dir", help="Folder of eval runs for the Evals tab (repeatable).")] = None,
) -> None:
    """Open the chat UI in the browser: cited answers, evidence cards, faithfulness marks, corpus and evals."""
    from agent.ui import UIConfigError, serve

    settings = load_settings(**{"llm.model": model, "ui.port": port})
    try:
        serve(settings, host=host, port=port, listen_anywhere=listen_anywhere, runs_dirs=runs_dir or None)
    except UIConfigError as exc:
        raise UserError(str(exc)) from None


def register(app: typer.Typer) -> None:
    app.command()(user_errors(ui))
