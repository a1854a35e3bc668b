"""Cold start, as a new user meets it: a fresh `citewise search` / `citewise ask` process, timed against a baseline.

Each side is a checkout: the candidate is this working tree, the baseline a git ref
(default ``main``) checked out once into a worktree under ``--out``. Both run on this
``.venv``: the baseline's own ``agent`` package comes first on ``PYTHONPATH``. Each side
has its own Citewise home (its index format may differ), sharing the cached GGUF models.

For every round, the two sides alternate (baseline, candidate, candidate, baseline, ...)
so that a change of machine load hits both alike. Per command it reports the median and
worst over the rounds of:
- ``wall``: process start to exit;
- ``first``: first visible result: the first byte of the answer on stdout, or for ``ask``
  the first screening decision on stderr (a "✓"/"✗" line), whichever comes first;
- ``answer``: first byte of the answer text on stdout.

One untimed run per side indexes the bundled corpus and warms the disk cache first.

    .venv/bin/python evals/bench_cold.py [--baseline REF] [--rounds 3] [--commands search,ask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which papers address false negatives?"
DECISION_MARKS = ("✓", "✗")


def checkout(ref: str, out: Path) -> Path:
    """A worktree of ``ref`` under ``out`` (re-created when it points elsewhere)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", ref], check=True, capture_output=True, text=True).stdout.strip()
    tree = out / f"baseline-{sha[:10]}"
    if not (tree / "agent").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), sha], check=True, capture_output=True)
    return tree


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Run ``cmd``; seconds to exit, to the first answer byte and to the first visible result."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marks: dict[str, float] = {}

    def watch_out() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1):
            if chunk.strip():
                marks.setdefault("answer", time.perf_counter() - t0)
        proc.stdout.close()

    def watch_err() -> None:
        assert proc.stderr is not None
        for line in iter(proc.stderr.readline, b""):
            if line.decode("utf-8", "replace").lstrip().startswith(DECISION_MARKS):
                marks.setdefault("decision", time.perf_counter() - t0)
        proc.stderr.close()

    threads = [threading.Thread(target=watch_out), threading.Thread(target=watch_err)]
    for t in threads:
        t.start()
    rc = proc.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {rc} (in {cwd})")
    answer = marks.get("answer", wall)
    return {"wall": wall, "answer": answer, "first": min(answer, marks.get("decision", answer))}


def side_env(home: Path, source: Path | None, models: Path | None) -> dict[str, str]:
    env = {**os.environ, "CITEWISE_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1"}
    if models is not None:
        env["CITEWISE_LLM__MODEL_CACHE"] = str(models)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="main", help="git ref to compare with (default: main)")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs per side and command")
    ap.add_argument("--commands", default="search,ask", help="comma-separated: search, ask")
    ap.add_argument("--question", default=QUESTION)
    ap.add_argument("--model", default=None, help="model string for ask (default: each side's own default)")
    ap.add_argument("--models", type=Path, default=None, help="folder of cached GGUF files shared by both sides")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench-cold")
    args = ap.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    py = str(ROOT / ".venv" / "bin" / "python")
    sides = {
        "baseline": (checkout(args.baseline, args.out), args.out / "home-baseline"),
        "candidate": (ROOT, args.out / "home-candidate"),
    }
    envs = {name: side_env(home, tree if name == "baseline" else None, args.models) for name, (tree, home) in sides.items()}
    commands = {
        "search": ["search", args.question, "-k", "8"],
        "ask": ["ask", args.question, *(["--model", args.model] if args.model else [])],
    }
    wanted = [c.strip() for c in args.commands.split(",") if c.strip()]
    unknown = sorted(set(wanted) - set(commands))
    if unknown:
        ap.error(f"unknown command(s): {', '.join(unknown)}")

    for name, (tree, _) in sides.items():
        print(f"[{name}] {tree}: indexing and one untimed run of each command", flush=True)
        subprocess.run([py, "-m", "agent", "index"], cwd=tree, env=envs[name], check=True, capture_output=True)
        for c in wanted:
            timed([py, "-m", "agent", *commands[c]], envs[name], tree)

    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        order = ["baseline", "candidate"] if r % 2 == 0 else ["candidate", "baseline"]
        for c in wanted:
            for name in order:
                tree, _ = sides[name]
                m = timed([py, "-m", "agent", *commands[c]], envs[name], tree)
                results.setdefault((c, name), []).append(m)
                print(f"  round {r + 1} {c:6s} {name:9s} wall {m['wall']:6.1f} s  first {m['first']:6.1f} s", flush=True)

    load = os.getloadavg()
    print(f"\n# Cold start: {args.rounds} rounds, baseline {args.baseline} vs this tree; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    print("| command | measure | baseline median (worst) | candidate median (worst) | ratio (median) |")
    print("|---|---|---|---|---|")
    for c in wanted:
        for key in ("first", "answer", "wall"):
            b = [m[key] for m in results[(c, "baseline")]]
            n = [m[key] for m in results[(c, "candidate")]]
            mb, mn = statistics.median(b), statistics.median(n)
            print(f"| {c} | {key} | {mb:.1f} s ({max(b):.1f}) | {mn:.1f} s ({max(n):.1f}) | {mn / mb:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
