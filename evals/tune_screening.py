"""Calibrate the screening decision (quote-built answers) on labelled development questions.

For each question of a question file (default ``evals/questions.jsonl``), the
engine's own retrieval gives the candidates that answering would screen; the
model's P(YES) for each (``QuoteSteps.screen``, the shipped prompt and quotes)
is recorded with the gold label (gold / borderline / other). Prints, per kind
(list+summary: does this paper address the question; single: do these quotes
answer it), AUC and the precision / recall / F1 of candidate thresholds, on a
tuning part and on a held-out part of the questions (``evals/splits.py``,
source ``questions``). Choose ``answer.screen_threshold`` on the tuning part only.

    python evals/tune_screening.py [--questions FILE] [--model local:qwen2.5-coder-1.5b] [--limit N]

Decisions are cached in ``$CITEWISE_ARTIFACTS/tune-screening/<model>-<prompt version>[-q<quotes>][-r<role weight>].jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.splits import is_heldout  # noqa: E402

KINDS = {"list": "list", "summary": "summary", "single": "single", "unanswerable": "single"}
THRESHOLDS = (0.3, 0.4, 0.45, 0.5, 0.525, 0.55, 0.575, 0.6, 0.625, 0.65, 0.7)


def auc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def collect(args: argparse.Namespace) -> list[dict]:
    from agent.chain import AnswerEngine
    from agent.chain.quotes import QuoteSteps, pick_quotes
    from agent.evaluation.questions import load_questions, resolve_gold
    from agent.ingest.normalize import title_key
    from agent.settings import Settings

    settings = Settings()
    settings.llm.model = args.model
    if args.quotes:
        settings.answer.quotes_per_paper = args.quotes
    if args.role_weight is not None:
        settings.answer.role_weight = args.role_weight
    engine = AnswerEngine(settings)
    steps = QuoteSteps(engine.model(), engine.quotes_prompt, engine._supports)
    out_dir = Path(os.environ.get("CITEWISE_ARTIFACTS", ROOT / "artifacts")) / "tune-screening"
    out_dir.mkdir(parents=True, exist_ok=True)
    # One cache per model, prompt version, number of quotes a list/summary candidate is screened with and role weight.
    q = settings.answer.quotes_per_paper
    role = f"-r{settings.answer.role_weight:g}" if settings.answer.role_weight else ""
    cache = out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.model)}-{engine.quotes_prompt.version}{'' if q == 2 else f'-q{q}'}{role}.jsonl"
    done = {}
    if cache.is_file():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            done[(row["qid"], row["id"])] = row
    questions, problems = load_questions(Path(args.questions))
    if problems:
        raise SystemExit(f"{args.questions}: {problems[0].line}: {problems[0].message}")
    ids = {title_key(p.title): p.id for p in engine.retriever.store.all_papers()}
    cfg = settings.answer
    rows: list[dict] = []
    todo = [q for q in questions if q.type in KINDS][: args.limit or None]
    with cache.open("a") as fh:
        for n, q in enumerate(todo, 1):
            kind = KINDS[q.type]
            gold = resolve_gold(q, ids)
            plan, hits, _, _ = engine.evidence_for(q.question, papers=cfg.screen_candidates if kind != "single" else cfg.papers)
            count = cfg.screen_candidates if kind != "single" else cfg.single_candidates
            qvec = engine.selector.embedder.embed([q.question])[0]
            for rank, hit in enumerate(hits[:count], 1):
                key = (q.qid, hit.paper.id)
                if key not in done:
                    n_quotes = cfg.single_quotes if kind == "single" else cfg.quotes_per_paper
                    quotes = pick_quotes(engine.selector, q.question, hit.paper, n_quotes, qvec, role_weight=cfg.role_weight)
                    p = steps.screen(q.question, quotes, kind)
                    label = 1 if hit.paper.id in gold.ids else (None if hit.paper.id in gold.borderline else 0)
                    done[key] = {"qid": q.qid, "type": q.type, "kind": kind, "id": hit.paper.id, "rank": rank, "p": p, "label": label}
                    fh.write(json.dumps(done[key]) + "\n")
                    fh.flush()
                rows.append(done[key])
            print(f"[{n}/{len(todo)}] {q.qid} {q.type}", file=sys.stderr, flush=True)
    return rows


def report(rows: list[dict]) -> None:
    types = {r["qid"]: r["type"] for r in rows}
    best = {}  # each question's highest P(YES): no candidate at or above t means a refusal
    for r in rows:
        best[r["qid"]] = max(best.get(r["qid"], 0.0), r["p"])
    for kind in ("list+summary", "single"):
        kinds = {"list", "summary"} if kind == "list+summary" else {"single"}
        for part in ("tuning", "held-out"):
            mine = [r for r in rows if r["kind"] in kinds and is_heldout("questions", r["qid"]) == (part == "held-out")]
            sel = [r for r in mine if r["label"] is not None]
            if not sel:
                continue
            ps, ys = [r["p"] for r in sel], [r["label"] for r in sel]
            qids = sorted({r["qid"] for r in mine})
            ans = [q for q in qids if types[q] != "unanswerable"]
            una = [q for q in qids if types[q] == "unanswerable"]
            print(f"\n{kind} · {part}: {len(qids)} questions, {len(sel)} candidates ({sum(ys)} gold), AUC {auc(ps, ys):.3f}")
            print("  threshold   precision  recall  F1   | refusals (no candidate >= t)")
            for t in THRESHOLDS:
                tp = sum(1 for p, y in zip(ps, ys) if p >= t and y)
                fp = sum(1 for p, y in zip(ps, ys) if p >= t and not y)
                fn = sum(1 for p, y in zip(ps, ys) if p < t and y)
                prec = tp / (tp + fp) if tp + fp else float("nan")
                rec = tp / (tp + fn) if tp + fn else float("nan")
                f1 = 2 * prec * rec / (prec + rec) if prec + rec else float("nan")
                refused_ans = sum(1 for q in ans if best[q] < t)
                refused_una = sum(1 for q in una if best[q] < t)
                extra = f"answerable refused {refused_ans}/{len(ans)}, unanswerable refused {refused_una}/{len(una)}"
                print(f"  {t:9.2f}   {prec:9.3f}  {rec:6.3f}  {f1:.3f} | {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", default=str(ROOT / "evals" / "questions.jsonl"))
    ap.add_argument("--model", default="local:qwen2.5-coder-1.5b")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--role-weight", type=float, default=None, help="answer.role_weight for quote picking (default: the setting)")
    ap.add_argument("--quotes", type=int, default=0, help="quotes per list/summary candidate (default: answer.quotes_per_paper)")
    args = ap.parse_args()
    report(collect(args))


if __name__ == "__main__":
    main()
