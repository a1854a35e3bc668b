#!/usr/bin/env python3
"""CI eval gate: a small, fast eval with the fake model; fails when quality drops below the repo's thresholds.

Run:  .venv/bin/python evals/ci_gate.py [--thresholds evals/ci_thresholds.json] [--out DIR]

scripts/test runs it after pytest. It indexes the bundled corpus into a
temporary home (never the user's index), answers the handful of questions
listed in ci_thresholds.json with the deterministic ``fake`` model through the
real harness (retrieval, answer engine, fast faithfulness check, key points),
prints every figure next to its threshold and exits 1 when any figure is below
its minimum or there are more error rows than allowed. The run directory goes
to $CITEWISE_ARTIFACTS/ci-eval when that is set (scripts/test sets it), so the
report can be inspected after a failure; each gate run starts from scratch.

Raising a threshold: run this script, read the figures, and set the threshold
a little below them in ci_thresholds.json (with the fake model the figures are
deterministic; they move only when retrieval, the chain or the questions change).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _var in ("CITEWISE_CHROMA_URL", "CITEWISE_INDEX__CHROMA_URL", "CITEWISE_INDEX__PATH", "CITEWISE_MODEL", "CITEWISE_LLM__MODEL"):
    os.environ.pop(_var, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", type=Path, default=ROOT / "evals" / "ci_thresholds.json")
    parser.add_argument("--out", type=Path, default=None, help="Run directory (default $CITEWISE_ARTIFACTS/ci-eval or a temp dir).")
    args = parser.parse_args()

    from agent.evaluation.harness import EnginePipeline, run_eval
    from agent.evaluation.questions import load_questions, parse_question
    from agent.index import index_corpus, open_store
    from agent.retrieval import open_retriever
    from agent.settings import Settings

    t0 = time.perf_counter()
    cfg = json.loads(args.thresholds.read_text(encoding="utf-8"))
    questions, problems = load_questions(ROOT / cfg["questions"])
    if problems:
        print("ci-gate: FAIL - malformed question file:\n  " + "\n  ".join(map(str, problems)))
        return 1
    by_id = {q.qid: q for q in questions}
    missing = [q for q in cfg["qids"] if q not in by_id]
    if missing:
        print(f"ci-gate: FAIL - qids not in {cfg['questions']}: {missing}")
        return 1
    # Dev-set questions by qid, plus off-topic ones kept here (the fake model refuses only off-topic questions).
    selected = [by_id[q] for q in cfg["qids"]] + [parse_question(obj) for obj in cfg.get("extra_questions", [])]

    artifacts = os.environ.get("CITEWISE_ARTIFACTS")
    with tempfile.TemporaryDirectory(prefix="citewise-ci-gate-") as tmp:
        out = args.out or (Path(artifacts) / "ci-eval" if artifacts else Path(tmp) / "run")
        if out.exists():
            shutil.rmtree(out)  # always a fresh run: never resume a stale one
        home = Path(tmp) / "home"
        overrides = {"llm.model": cfg.get("model", "fake"), "index.path": home / "chroma", **cfg.get("settings", {})}
        settings = Settings(home=home).with_overrides(**overrides)
        index_corpus(open_store(settings), None, settings)
        pipeline = EnginePipeline(settings, open_retriever(settings, auto_index=False))
        outcome = run_eval(selected, pipeline, out, source=f"ci-gate:{cfg['questions']}", meta_extra={"gate": True})
        summary = outcome.summary

    rows = [("metric", "value", "min", "")]
    failed = False
    for metric, minimum in cfg["thresholds"].items():
        value = summary["metrics"].get(metric)
        ok = value is not None and value >= minimum
        failed |= not ok
        rows.append((metric, "n/a" if value is None else f"{value:.3f}", f"{minimum:.3f}", "ok" if ok else "FAIL"))
    errors = summary["counts"]["errors"]
    ok = errors <= cfg.get("max_errors", 0)
    failed |= not ok
    rows.append(("error rows", str(errors), f"<= {cfg.get('max_errors', 0)}", "ok" if ok else "FAIL"))
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"\nci-gate: {len(selected)} questions, model {pipeline.model_name}, prompt {pipeline.prompt_version}, thresholds {args.thresholds.name}")
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, width)))
    print(f"ci-gate: {'FAIL' if failed else 'pass'} in {time.perf_counter() - t0:.0f}s" + (f" (report: {out}/report.html)" if artifacts else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
