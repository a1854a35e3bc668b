"""The ``citewise`` command line.

Each command group lives in its own module under ``agent.cli`` and exposes
``register(app)``; this file only assembles them, so adding a command touches
one module.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="citewise",
    help="Ask a corpus of paper abstracts a question; get a cited answer and a per-sentence faithfulness verdict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Command modules, each with a ``register(app)`` function.
COMMAND_MODULES = (
    "agent.cli.index_cmd",
    "agent.cli.answer_cmd",
    "agent.cli.check_cmd",
    "agent.cli.eval_cmd",
    "agent.cli.audit_cmd",
    "agent.cli.ui_cmd",
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # a command module not written yet must not break the others
        if _exc.name != _name:
            raise
        continue
    _module.register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()
