"""Shared by test modules: a real `chroma run` on loopback, the fake model's screening thresholds, and a
bag-of-words embedder (deterministic, no model)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Screening thresholds for the fake model, whose P(YES) is the share of the question's words found in the
#: quotes (lower than the 1.5B's; the shipped thresholds and the screening model are the 1.5B's, so lists are
#: screened by P(YES) alone). evals/ci_thresholds.json has the same.
FAKE_SCREENING = {"answer.screen_by": "p_yes", "answer.screen_threshold": 0.2, "answer.single_threshold": 0.2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def chroma_run(data: Path, start_timeout_s: float = 60, stop_timeout_s: float = 30) -> Iterator[str]:
    """``chroma run --path DATA`` on a free loopback port; yields its URL once the heartbeat answers."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + start_timeout_s
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=stop_timeout_s)


class BagOfWordsEmbedder:
    """Bag-of-words vectors over a fixed vocabulary (deterministic, no model)."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}

    def embed(self, texts: list[str]):
        import numpy as np

        rows = []
        for text in texts:
            vec = np.zeros(512, dtype=np.float32)
            for w in re.findall(r"[a-z]+", text.lower()):
                vec[self.vocab.setdefault(w, len(self.vocab) % 512)] += 1
            n = float(np.linalg.norm(vec)) or 1.0
            rows.append(vec / n)
        return np.array(rows)
