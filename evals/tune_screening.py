"""Calibrate the screening decision (quote-built answers) on labelled development questions.

For each question of a question file (default ``evals/questions.jsonl``), the
engine's own retrieval gives the candidates that answering would screen; the
model's P(YES) for each (``QuoteSteps.screen``, the shipped prompt and quotes)
is recorded with the gold label (gold / borderline / other). Prints, per kind
(list+summary: does this paper address the question; single: do these quotes
answer it), AUC and the precision / recall / F1 of candidate thresholds, on a
tuning part and on a held-out part of the questions (``evals/splits.py``,
source ``questions``). Choose ``answer.screen_threshold`` on the tuning part only.

``--fit`` also fits the screening model of list and summary answers
(:mod:`agent.chain.screening`: logistic regression over logit P(YES) and log
search rank) on the tuning part's labelled list/summary candidates, picks its
threshold by leave-one-question-out F1 there, prints the leave-one-out and
held-out precision / recall next to the P(YES) rule, and writes
``agent/models/screening`` (``--fit-out`` elsewhere) with its manifest
(version, training data, metrics, SHA-256).

    python evals/tune_screening.py [--questions FILE] [--model local:qwen2.5-coder-1.5b] [--limit N]

Decisions are cached in ``$CITEWISE_ARTIFACTS/tune-screening/<model>-<prompt version>[-q<quotes>][-r<role weight>].jsonl``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
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


def run_settings(args: argparse.Namespace):  # noqa: ANN201 - agent.settings.Settings, imported lazily
    """The settings the candidates are screened with: the defaults, with the model, quotes and role weight asked for."""
    from agent.settings import Settings

    settings = Settings()
    settings.llm.model = args.model
    if args.quotes:
        settings.answer.quotes_per_paper = args.quotes
    if args.role_weight is not None:
        settings.answer.role_weight = args.role_weight
    return settings


def collect(args: argparse.Namespace) -> list[dict]:
    from agent.chain import AnswerEngine
    from agent.chain.quotes import QuoteSteps, pick_quotes
    from agent.evaluation.questions import load_questions, resolve_gold
    from agent.ingest.normalize import title_key

    settings = run_settings(args)
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


FIT_C = 1.0
FIT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(2, 15))


def _prf(scores: list[float], labels: list[int], t: float) -> tuple[float, float, float]:
    tp = sum(1 for s, y in zip(scores, labels) if s >= t and y)
    fp = sum(1 for s, y in zip(scores, labels) if s >= t and not y)
    fn = sum(1 for s, y in zip(scores, labels) if s < t and y)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def _logistic(rows: list[dict]):
    from sklearn.linear_model import LogisticRegression

    from agent.chain.screening import screening_features

    return LogisticRegression(C=FIT_C).fit([screening_features(r["p"], r["rank"]) for r in rows], [r["label"] for r in rows])


def fit(
    rows: list[dict],
    out: Path,
    source: str,
    model: str,
    prompt_version: str,
    quotes_per_paper: int | None = None,
    role_weight: float | None = None,
) -> None:
    """Fit the list/summary screening model on the tuning part; see the module docstring. ``quotes_per_paper`` and
    ``role_weight`` are what the candidates were screened with (None: the answer defaults)."""
    from agent.chain.screening import FEATURES, MODEL_FILE, screening_features
    from agent.settings import AnswerSettings

    defaults = AnswerSettings()
    quotes_per_paper = defaults.quotes_per_paper if quotes_per_paper is None else quotes_per_paper
    role_weight = defaults.role_weight if role_weight is None else role_weight

    mine = [r for r in rows if r["kind"] in ("list", "summary") and r["label"] is not None]
    tune = [r for r in mine if not is_heldout("questions", r["qid"])]
    held = [r for r in mine if is_heldout("questions", r["qid"])]
    qids = sorted({r["qid"] for r in tune})
    loo: dict[tuple[str, str], float] = {}
    for q in qids:  # leave one question out: the threshold is chosen on predictions for unseen questions
        m = _logistic([r for r in tune if r["qid"] != q])
        for r in tune:
            if r["qid"] == q:
                loo[(q, r["id"])] = float(m.predict_proba([screening_features(r["p"], r["rank"])])[0, 1])
    labels = [r["label"] for r in tune]
    loo_scores = [loo[(r["qid"], r["id"])] for r in tune]
    threshold = max(FIT_THRESHOLDS, key=lambda t: (_prf(loo_scores, labels, t)[2], -t))
    m = _logistic(tune)
    coef, intercept = [round(float(c), 6) for c in m.coef_[0]], round(float(m.intercept_[0]), 6)

    def prob(r: dict) -> float:
        z = intercept + sum(c * x for c, x in zip(coef, screening_features(r["p"], r["rank"])))
        return 1 / (1 + math.exp(-z))

    from agent.settings import AnswerSettings

    base_t = AnswerSettings().screen_threshold
    metrics = {}
    print(f"\nscreening model (list+summary): threshold {threshold} by leave-one-question-out F1 on {len(qids)} tuning questions")
    print("| part | rule | precision | recall | F1 | AUC |\n|---|---|---|---|---|---|")
    parts = [("tuning, leave-one-question-out", tune, loo_scores), ("held-out", held, [prob(r) for r in held])]
    for name, part, scores in parts:
        ys, ps = [r["label"] for r in part], [r["p"] for r in part]
        if not part:
            continue
        for rule, sc, t in ((f"P(YES) >= {base_t}", ps, base_t), (f"model >= {threshold}", scores, threshold)):
            prec, rec, f1 = _prf(sc, ys, t)
            print(f"| {name} ({len(part)}) | {rule} | {prec:.3f} | {rec:.3f} | {f1:.3f} | {auc(sc, ys):.3f} |")
            metrics.setdefault(name, {})[rule] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4)}
    out.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"features": list(FEATURES), "coef": coef, "intercept": intercept}, indent=1) + "\n"
    (out / MODEL_FILE).write_text(body, encoding="utf-8")
    manifest = {
        "name": "citewise-list-screening",
        "version": "screening-v1",
        "kind": "logistic regression over " + ", ".join(FEATURES),
        "threshold": threshold,
        "fitted_on": {
            "questions": source, "part": "tuning (evals/splits.py is_heldout('questions', qid) is False)",
            "model": model, "prompt_version": prompt_version,
            # the P(YES) it was fitted on depends on what the model read: these settings must match at answer time
            "quotes_per_paper": quotes_per_paper, "role_weight": role_weight,
            "questions_used": len(qids), "candidates": len(tune), "gold": sum(labels),
        },
        "hyperparameters": {"C": FIT_C, "threshold": "max leave-one-question-out F1 over " + ", ".join(map(str, FIT_THRESHOLDS))},
        "metrics": metrics,
        "trainer": "evals/tune_screening.py --fit",
        "sha256": {MODEL_FILE: hashlib.sha256(body.encode()).hexdigest()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", default=str(ROOT / "evals" / "questions.jsonl"))
    ap.add_argument("--model", default="local:qwen2.5-coder-1.5b")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--role-weight", type=float, default=None, help="answer.role_weight for quote picking (default: the setting)")
    ap.add_argument("--quotes", type=int, default=0, help="quotes per list/summary candidate (default: answer.quotes_per_paper)")
    ap.add_argument("--fit", action="store_true", help="fit the list/summary screening model (see above) and write it")
    ap.add_argument("--fit-out", type=Path, default=ROOT / "agent" / "models" / "screening")
    args = ap.parse_args()
    rows = collect(args)
    report(rows)
    if args.fit:
        from agent.prompts import load_prompt

        cfg = run_settings(args).answer
        fit(rows, args.fit_out, Path(args.questions).name, args.model, load_prompt("quotes").version, cfg.quotes_per_paper, cfg.role_weight)


if __name__ == "__main__":
    main()
