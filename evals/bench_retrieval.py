"""Retrieval benchmark: BM25 vs dense vs hybrid, on our question set and on PubMedQA, plus latency.

Run:  .venv/bin/python evals/bench_retrieval.py [--questions evals/questions.jsonl] [--pubmedqa DIR] [--skip-pubmedqa]

Prints, in one run on the same questions, recall@5, recall@10 and MRR for each
retriever; index build time, re-index time with nothing changed, and warm
search latency p50/p95 over 100+ queries. Each index lives in a temporary home.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.evaluation.metrics import mean, percentile, recall_at_k, reciprocal_rank  # noqa: E402
from agent.index import index_corpus, open_store  # noqa: E402
from agent.ingest import title_key  # noqa: E402
from agent.retrieval import Retriever  # noqa: E402
from agent.settings import Settings  # noqa: E402
from agent.types import Paper  # noqa: E402

METHODS = ("bm25", "dense", "hybrid")


def score(retriever: Retriever, items: list[tuple[str, set[str]]], ks: tuple[int, ...]) -> dict[str, dict[str, float]]:
    """Mean recall@k and MRR for every method over (query, gold ids) items."""
    table: dict[str, dict[str, float]] = {}
    depth = max(ks)
    for method in METHODS:
        rows: dict[str, list[float]] = {f"recall@{k}": [] for k in ks}
        rows["mrr"] = []
        for query, gold in items:
            ranked = [h.paper.id for h in retriever.search(query, depth, method=method)]
            for k in ks:
                rows[f"recall@{k}"].append(recall_at_k(ranked, gold, k))
            rows["mrr"].append(reciprocal_rank(ranked, gold))
        table[method] = {name: mean(vals) for name, vals in rows.items()}
    return table


def print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    cols = list(next(iter(table.values())))
    print(f"\n### {title}\n")
    print("| retriever | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for method, row in table.items():
        print(f"| {method} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")


def bench_questions(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp))
        store = open_store(settings)
        t0 = time.perf_counter()
        index_corpus(store, None, settings)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, report = index_corpus(open_store(settings), None, settings)
        reindex_s = time.perf_counter() - t0
        assert report.summary()["unchanged"] == 205, report.summary()

        retriever = Retriever(store, settings)
        by_title = {title_key(p.title): p.id for p in retriever.papers.values()}
        questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        items, by_type = [], {}
        for q in questions:
            gold = {by_title[title_key(t)] for t in q.get("gold_titles", [])}
            if not gold:
                continue
            items.append((q["question"], gold))
            by_type.setdefault(q["type"], []).append((q["question"], gold))
        print(f"# Retrieval benchmark — {len(items)} questions with gold papers from {path.name}")
        print_table("All questions", score(retriever, items, (5, 10)))
        for qtype, typed in sorted(by_type.items()):
            print_table(f"{qtype} ({len(typed)})", score(retriever, typed, (5, 10)))
        para = [(q["question"], {by_title[title_key(t)] for t in q["gold_titles"]}) for q in questions if q.get("paraphrased") and q.get("gold_titles")]
        print_table(f"paraphrased ({len(para)})", score(retriever, para, (5, 10)))

        # Warm-process latency over 100+ queries (each question plus variants).
        queries = [q for q, _ in items]
        queries = (queries * (120 // max(1, len(queries)) + 1))[:120]
        retriever.search("warm up", 10)
        latencies = []
        for q in queries:
            t0 = time.perf_counter()
            retriever.search(q, 10)
            latencies.append(time.perf_counter() - t0)
        print("\n### Latency (bundled corpus, 205 papers, 2 CPU cores)\n")
        print(f"- index build (embed + write 205 papers, model load included): {build_s:.2f} s")
        print(f"- re-index with nothing changed: {reindex_s:.2f} s")
        print(f"- hybrid search, warm, {len(latencies)} queries: p50 {percentile(latencies, 50) * 1000:.1f} ms, p95 {percentile(latencies, 95) * 1000:.1f} ms")


def bench_pubmedqa(directory: Path, limit: int | None) -> None:
    data = json.loads((directory / "ori_pqal.json").read_text(encoding="utf-8"))
    papers = []
    for pmid, item in data.items():
        title = f"PubMed {pmid}"
        papers.append(Paper(id=f"pm{pmid}", title=title, abstract=" ".join(item["CONTEXTS"]), original_title=title, source="pubmedqa"))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp))
        store = open_store(settings)
        t0 = time.perf_counter()
        store.sync(papers, ["pubmedqa"])
        build_s = time.perf_counter() - t0
        retriever = Retriever(store, settings)
        items = [(item["QUESTION"], {f"pm{pmid}"}) for pmid, item in data.items()]
        if limit:
            random.Random(0).shuffle(items)
            items = items[:limit]
        print(f"\n# PubMedQA — {len(papers)} contexts indexed in {build_s:.1f} s; {len(items)} questions, gold = own abstract")
        print_table("PubMedQA (all 1,000 labelled questions)", score(retriever, items, (1, 10)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=ROOT / "evals" / "questions.jsonl")
    parser.add_argument("--pubmedqa", type=Path, default=ROOT.parent / "shared" / "external" / "pubmedqa")
    parser.add_argument("--skip-pubmedqa", action="store_true")
    parser.add_argument("--pubmedqa-limit", type=int, default=None)
    args = parser.parse_args()
    bench_questions(args.questions)
    if not args.skip_pubmedqa:
        if (args.pubmedqa / "ori_pqal.json").is_file():
            bench_pubmedqa(args.pubmedqa, args.pubmedqa_limit)
        else:
            print(f"\n(PubMedQA not found at {args.pubmedqa}; skipped)")


if __name__ == "__main__":
    main()
