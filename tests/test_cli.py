"""CLI-wide behaviour: bad settings from flags or the environment are one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys


def _citewise(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_bad_flag_value_is_a_clear_error(home) -> None:
    proc = _citewise("ask", "--papers", "-3", "--model", "fake", "what is InfoVAE?")
    assert proc.returncode == 2
    assert "answer.papers" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_environment_value_is_a_clear_error(home) -> None:
    proc = _citewise("search", "anything", env={"CITEWISE_RETRIEVAL__RRF_K": "not-a-number"})
    assert proc.returncode == 2
    assert "retrieval.rrf_k" in proc.stderr and "Traceback" not in proc.stderr
