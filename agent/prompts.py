"""Prompt files: versioned templates with named variables, rendered strictly.

Each prompt is a TOML file in ``prompts/`` (or the directory named by
``CITEWISE_PROMPTS_DIR``)::

    name = "answer"
    version = "answer-v1"
    variables = ["question", "evidence"]
    system = "..."
    user = "... {question} ... {evidence} ..."

Other string keys (e.g. per-question-type task instructions) are kept in
``Prompt.parts``; they are plain text, not templates. ``example_terms`` (a
list of strings) names the made-up words of a worked example in the system
prompt, so the chain can drop answer sentences that echo the example.

Rendering fails with :class:`PromptError` when a declared variable is missing,
an undeclared one is passed, or a template uses a variable it does not
declare — never a half-rendered prompt. Literal braces are written ``{{ }}``.
"""

from __future__ import annotations

import functools
import os
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import CitewiseError
from agent.llm.base import ChatMessage


class PromptError(CitewiseError):
    """A prompt file is missing or malformed, or was rendered with the wrong variables."""


def prompts_dir() -> Path:
    """``CITEWISE_PROMPTS_DIR`` or the repository's ``prompts/`` folder."""
    env = os.environ.get("CITEWISE_PROMPTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "prompts"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    variables: tuple[str, ...]
    system: str
    user: str
    parts: dict[str, str] = field(default_factory=dict)
    example_terms: tuple[str, ...] = ()

    def render(self, **values: str) -> list[ChatMessage]:
        """System + user messages with every variable filled in."""
        missing = set(self.variables) - set(values)
        extra = set(values) - set(self.variables)
        if missing or extra:
            raise PromptError(
                f"prompt {self.name!r} ({self.version}): "
                + (f"missing variable(s) {sorted(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected variable(s) {sorted(extra)}" if extra else "")
            )
        messages: list[ChatMessage] = []
        if self.system.strip():
            messages.append({"role": "system", "content": self.system.format(**values).strip()})
        messages.append({"role": "user", "content": self.user.format(**values).strip()})
        return messages


@functools.lru_cache(maxsize=32)
def load_prompt(name: str, directory: str | None = None) -> Prompt:
    """Load and validate ``<name>.toml``."""
    path = Path(directory) if directory else prompts_dir()
    file = path / f"{name}.toml"
    if not file.is_file():
        raise PromptError(f"prompt file not found: {file}")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"{file}: invalid TOML: {exc}") from None
    for key in ("version", "variables", "user"):
        if key not in data:
            raise PromptError(f"{file}: missing key {key!r}")
    variables = tuple(data["variables"])
    used = _fields(data.get("system", "")) | _fields(data["user"])
    undeclared = used - set(variables)
    if undeclared:
        raise PromptError(f"{file}: template uses undeclared variable(s) {sorted(undeclared)}")
    terms = data.get("example_terms", [])
    if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
        raise PromptError(f"{file}: 'example_terms' must be a list of non-empty strings")
    return Prompt(
        example_terms=tuple(t.strip() for t in terms),
        name=data.get("name", name),
        version=str(data["version"]),
        variables=variables,
        system=data.get("system", ""),
        user=data["user"],
        parts={k: v for k, v in data.items() if isinstance(v, str) and k not in ("name", "version", "system", "user")},
    )
