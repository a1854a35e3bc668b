"""Helpers shared by CLI commands: settings with flag overrides, error reporting, output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from agent.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

#: Human-facing messages go to stderr so that --json output on stdout stays clean.
err_console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)


class UserError(Exception):
    """A problem with the user's input or environment: printed without a traceback."""


def user_errors(func: F) -> F:
    """Turn expected errors into a one-line message and exit code 2 (1 for model/runtime errors)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent.errors import CitewiseError

        from pydantic import ValidationError

        try:
            return func(*args, **kwargs)
        except (UserError, CitewiseError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except ValidationError as exc:  # a bad flag value or CITEWISE_* variable
            for e in exc.errors():
                where = ".".join(str(x) for x in e["loc"])
                err_console.print(f"[bold red]error:[/] setting {where}: {e['msg']} (got {e.get('input')!r})")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except Exception as exc:
            # Model-layer errors carry their own clear messages.
            from agent.llm.base import LLMError

            if isinstance(exc, LLMError):
                err_console.print(f"[bold red]model error:[/] {exc}")
                raise typer.Exit(1) from None
            raise

    return wrapper  # type: ignore[return-value]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with CLI flag values (dotted keys) on top."""
    return Settings().with_overrides(**overrides)


def print_json(obj: Any) -> None:
    """Write ``obj`` as JSON on stdout (UTF-8, no ASCII escaping)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()
