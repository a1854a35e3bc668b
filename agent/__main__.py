"""``python -m agent`` runs the ``citewise`` CLI."""

from agent.cli import app

app(prog_name="citewise")
