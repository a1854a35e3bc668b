"""Answer latency: Citewise's chain vs a naive RAG baseline, in one run.

For each question type (single, list, compare, summary) it answers N questions
from ``evals/questions.jsonl`` twice, interleaved so both see the same machine
load:

* **citewise** - the real engine: plan, hybrid retrieval, compact evidence
  (best sentences per paper), streamed generation, citation mapping;
* **naive** - the same retriever's top-10 papers with their WHOLE abstracts
  stuffed into the same answer prompt, streamed from the same model.

It prints time to first token and total time (p50/p95) per type and overall
for both, with the naive/citewise ratio, plus prompt tokens, and where the quote-built
answers' time goes (screen / write / check / other per answer). Summary questions
are topped up with single-paper TL;DRs (``summarize --paper``) when the set
has fewer than N.

    python evals/bench_answers.py --model local:qwen2.5-coder-1.5b --per-type 10 --out runs/bench_answers.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TYPES = ("single", "list", "compare", "summary")
NAIVE_K = 10


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); NaN for no values."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * len(v) + 0.5) - 1))]


def load_questions(path: Path, per_type: int) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked: list[dict] = []
    for t in TYPES:
        picked.extend([r for r in rows if r["type"] == t][:per_type])
    return picked


def naive_answer(engine, question: str, qtype: str) -> dict:  # noqa: ANN001 - AnswerEngine
    """Top-10 whole abstracts in one prompt; returns timings and prompt size."""
    from agent.chain.citations import MarkerMapper
    from agent.chain.evidence import EvidenceBlock, render_blocks
    from agent.sentences import split_sentences

    t0 = time.perf_counter()
    hits = engine.retriever.search(question, NAIVE_K)
    blocks = [EvidenceBlock(i, h.paper, [h.paper.abstract]) for i, h in enumerate(hits, start=1)]
    evidence = render_blocks(blocks)
    llm = engine.model()
    messages = engine.prompt.render(question=question, evidence=evidence, task=engine.prompt.parts[qtype])
    mapper = MarkerMapper({b.number: b.paper.id for b in blocks})
    first = None
    parts = []
    for piece in mapper.map_stream(llm.stream(messages, max_tokens=engine.settings.llm.max_tokens)):
        if first is None:
            first = time.perf_counter() - t0
        parts.append(piece)
    total = time.perf_counter() - t0
    text = "".join(parts)
    return {
        "first_token_s": first if first is not None else total,
        "total_s": total,
        "tokens_in": llm.last_usage.tokens_in,
        "tokens_out": llm.last_usage.tokens_out,
        "sentences": len(split_sentences(text)),
        "answer": text,
    }


def ours(engine, q: dict) -> dict:  # noqa: ANN001
    kwargs = {}
    if q.get("paper_ids"):
        kwargs = {"paper_ids": q["paper_ids"], "force_type": "summary"}
    answer, _ = engine.ask(q["question"], **kwargs)
    t = answer.timings
    return {
        "first_token_s": t.first_token_s if t.first_token_s is not None else t.total_s,
        "total_s": t.total_s,
        "retrieve_s": t.retrieve_s,
        "tokens_in": answer.tokens_in,
        "tokens_out": answer.tokens_out,
        "refused": answer.refused,
        "citations": [c.id for c in answer.citations],
        "answer": answer.answer,
        "question_type": answer.question_type,
        "step_seconds": answer.step_seconds,
    }


def summarize(rows: list[dict], system: str, qtype: str | None, paired: bool = False) -> dict:
    sel = [r[system] for r in rows if (qtype is None or r["type"] == qtype) and system in r and (not paired or "naive" in r)]
    ttft = [s["first_token_s"] for s in sel]
    tot = [s["total_s"] for s in sel]
    return {
        "n": len(sel),
        "ttft_p50": pct(ttft, 50),
        "ttft_p95": pct(ttft, 95),
        "total_p50": pct(tot, 50),
        "total_p95": pct(tot, 95),
        "tokens_in_mean": statistics.fmean(s["tokens_in"] for s in sel) if sel else float("nan"),
    }


def step_table(rows: list[dict]) -> list[str]:
    """Per question type, the mean seconds (and calls) per answer of each quote-pipeline step, and the rest."""
    lines = []
    for t in (*TYPES, None):
        sel = [r["citewise"] for r in rows if (t is None or r["type"] == t) and r["citewise"].get("step_seconds")]
        if not sel:
            continue
        steps = sorted({k for s in sel for k in s["step_seconds"]})
        parts = []
        for k in steps:
            secs = statistics.fmean(s["step_seconds"].get(k, {}).get("s", 0.0) for s in sel)
            calls = statistics.fmean(s["step_seconds"].get(k, {}).get("calls", 0) for s in sel)
            parts.append(f"{k} {secs:.1f}s ({calls:.1f} calls)")
        rest = statistics.fmean(s["total_s"] - sum(v["s"] for v in s["step_seconds"].values()) for s in sel)
        lines.append(f"{t or 'all':<8} n={len(sel):<3} " + " · ".join(parts) + f" · other {rest:.1f}s")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="Model string (default: the settings' default model).")
    ap.add_argument("--questions", type=Path, default=ROOT / "evals" / "questions.jsonl")
    ap.add_argument("--per-type", type=int, default=10, help="Questions per type (default 10).")
    ap.add_argument("--out", type=Path, default=None, help="Write all rows and the summary as JSON here.")
    ap.add_argument("--no-baseline", action="store_true", help="Skip the naive baseline.")
    ap.add_argument(
        "--baseline-per-type",
        type=int,
        default=None,
        help="Run the (slow) naive baseline on only the first N questions of each type (default: all). "
        "Ratios are then computed on the questions both systems answered.",
    )
    args = ap.parse_args()

    from agent.chain.engine import AnswerEngine
    from agent.settings import Settings

    settings = Settings()
    if args.model:
        settings = settings.with_overrides(**{"llm.model": args.model})
    engine = AnswerEngine(settings)
    questions = load_questions(args.questions, args.per_type)
    n_summary = sum(q["type"] == "summary" for q in questions)
    if n_summary < args.per_type:  # top up with single-paper TL;DRs (pinned, like `summarize --paper`)
        papers = engine.retriever.store.all_papers()
        step = max(1, len(papers) // (args.per_type - n_summary + 1))
        for p in papers[step::step][: args.per_type - n_summary]:
            questions.append({"qid": f"tldr-{p.id}", "type": "summary", "question": f"Summarize the paper {p.title}", "paper_ids": [p.id]})

    print(f"model={settings.llm.model} threads={settings.llm.n_threads} cores={os.cpu_count()} questions={len(questions)}", flush=True)
    t_load = time.perf_counter()
    engine.model()
    engine.retriever.search("warm up", 5)
    print(f"model load + warm-up: {time.perf_counter() - t_load:.1f}s", flush=True)

    rows = []
    seen_by_type: dict[str, int] = {}
    for i, q in enumerate(questions, start=1):
        row = {"qid": q["qid"], "type": q["type"], "question": q["question"], "citewise": ours(engine, q)}
        seen_by_type[q["type"]] = seen_by_type.get(q["type"], 0) + 1
        limit = args.baseline_per_type
        if not args.no_baseline and (limit is None or seen_by_type[q["type"]] <= limit):
            row["naive"] = naive_answer(engine, q["question"], q["type"])
        rows.append(row)
        c, n = row["citewise"], row.get("naive")
        extra = f" | naive ttft {n['first_token_s']:.1f}s total {n['total_s']:.1f}s in={n['tokens_in']}" if n else ""
        print(
            f"[{i}/{len(questions)}] {q['type']:<8} citewise ttft {c['first_token_s']:.1f}s total {c['total_s']:.1f}s "
            f"in={c['tokens_in']}{extra}",
            flush=True,
        )

    systems = ["citewise"] + ([] if args.no_baseline else ["naive"])
    summary = {s: {t: summarize(rows, s, t) for t in (*TYPES, None)} for s in systems}
    print()
    print(f"{'type':<8} {'system':<9} {'n':>3} {'TTFT p50':>9} {'TTFT p95':>9} {'total p50':>10} {'total p95':>10} {'prompt tok':>10}")
    for t in (*TYPES, None):
        for s in systems:
            m = summary[s][t]
            print(
                f"{t or 'all':<8} {s:<9} {m['n']:>3} {m['ttft_p50']:>8.1f}s {m['ttft_p95']:>8.1f}s "
                f"{m['total_p50']:>9.1f}s {m['total_p95']:>9.1f}s {m['tokens_in_mean']:>10.0f}"
            )
        if not args.no_baseline:
            a, b = summarize(rows, "citewise", t, paired=True), summary["naive"][t]
            print(
                f"{'':<8} {'ratio':<9} {b['n']:>3} naive/citewise on the same questions: TTFT p50 "
                f"x{b['ttft_p50'] / a['ttft_p50']:.2f} ({b['ttft_p50']:.1f}s vs {a['ttft_p50']:.1f}s), total p50 "
                f"x{b['total_p50'] / a['total_p50']:.2f} ({b['total_p50']:.1f}s vs {a['total_p50']:.1f}s)"
            )
    steps = step_table(rows)
    if steps:
        print("\nwhere citewise's time goes (mean per answer; quote-built answers):")
        print("\n".join(steps))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        # JSON keys must be strings: the overall row is "all".
        flat = {s: {(t or "all"): m for t, m in v.items()} for s, v in summary.items()}
        args.out.write_text(json.dumps({"model": settings.llm.model, "summary": flat, "rows": rows}, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
