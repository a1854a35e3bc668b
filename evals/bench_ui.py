"""Time to first visible token in the chat UI, measured in a real browser.

Starts ``app.py`` on a free loopback port with the given model (default: the
embedded local model) over the default index, drives Debian's Chromium with
Playwright, asks each question, and prints when the retrieval note, the first
answer token and the finished answer became visible (seconds after the click).
Saves a screenshot of each finished answer.

    python evals/bench_ui.py [--model local:qwen2.5-coder-1.5b] [--out artifacts/ui-bench]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["Which papers address false negatives?", "What does LightGCL propose?"]
# The streaming message holds the retrieval note, then a prose div: 'Waiting for the model…' (.cw-wait), then tokens.
FIRST_TOKEN_JS = (
    "(before) => { const s = document.querySelector('#cw-chat .cw-streaming');"
    " return (s && !s.querySelector('.cw-wait') && s.innerText.replace('▌', '').trim().length > 0)"
    " || document.querySelectorAll('#cw-chat .cw-answer').length > before; }"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="local:qwen2.5-coder-1.5b")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "ui-bench")
    ap.add_argument("--timeout", type=float, default=600, help="Seconds to wait for one answer.")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"

    port = free_port()
    log = open(args.out / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--model", args.model],
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 300:
                    raise SystemExit(f"app did not start; see {args.out / 'server.log'}")
                time.sleep(1)
        print(f"app up in {time.perf_counter() - t0:.1f}s (model {args.model})", flush=True)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(url)
            page.wait_for_selector("#cw-question textarea")
            ms = int(args.timeout * 1000)
            for i, question in enumerate(QUESTIONS, start=1):
                answers_before = page.locator("#cw-chat .cw-answer").count()
                found_before = page.locator("#cw-chat .cw-found").count()
                page.fill("#cw-question textarea", question)
                t = time.perf_counter()
                page.click("#cw-send")
                page.wait_for_function(
                    f"() => document.querySelectorAll('#cw-chat .cw-found').length > {found_before}"
                    f" || document.querySelectorAll('#cw-chat .cw-answer').length > {answers_before}",
                    timeout=ms,
                )
                found = time.perf_counter() - t
                page.wait_for_function(FIRST_TOKEN_JS, arg=answers_before, timeout=ms)
                first = time.perf_counter() - t
                page.wait_for_function(
                    f"() => document.querySelectorAll('#cw-chat .cw-answer').length > {answers_before}", timeout=ms
                )
                done = time.perf_counter() - t
                shot = args.out / f"answer-{i}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(
                    f"{question!r}: retrieval visible {found:.1f}s, first token visible {first:.1f}s, "
                    f"answer done {done:.1f}s; screenshot {shot}",
                    flush=True,
                )
            browser.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
