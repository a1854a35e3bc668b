"""Retrieval benchmark on data we did not write: BEIR SciFact, PubMedQA, and our bundled dev set.

Run:  .venv/bin/python evals/bench_retrieval.py [--sets scifact,dev,pubmedqa] [--sweep]

For every set, in one run and on the same queries, prints nDCG@10, recall@10,
recall@100 and MRR@10 for BM25, dense, the shipped hybrid (settings as
configured: fusion, weights) and the previous default (RRF, rrf_k=10, name
weight 2); then warm latency p50/p95 per stage. BEIR SciFact uses the 809
train queries (qrels/train.tsv), split by evals/splits.py into a tuning part
(80%) and our held-out part (20%): weights are chosen on the tuning part
(``--sweep`` prints the grid), the held-out rows are the honest figure.
PubMedQA: each of the 1,000 labelled questions against the 1,000 contexts
(gold = its own abstract). dev: evals/questions.jsonl over the bundled corpus.

``--prf 3:0.5,5:1`` adds rows for dense pseudo-relevance feedback (the query
vector moved toward the first fusion's top papers, searched again:
retrieval.prf_depth / prf_weight), scored on the same queries.

Each corpus is indexed once into artifacts/bench-retrieval/<set>-<embedder>
(re-runs embed nothing unchanged); ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.evaluation.metrics import mean, percentile  # noqa: E402
from agent.index import index_corpus, open_store  # noqa: E402
from agent.index.embeddings import embedder_for, onnx_cache_root  # noqa: E402
from agent.ingest import title_key  # noqa: E402
from agent.retrieval import Retriever  # noqa: E402
from agent.retrieval.fusion import fuse  # noqa: E402
from agent.settings import Settings  # noqa: E402
from agent.types import Paper  # noqa: E402
from evals.splits import is_heldout  # noqa: E402
from evals.train_reranker import selection_slice  # noqa: E402

EXTERNAL = ROOT.parent / "shared" / "external"
DEPTH = 100
RERANK = False  # set by --rerank
RERANKER = "cross-encoder"  # set by --reranker
SWEEP_RERANK = False  # set on the re-ranker selection slice with --sweep
#: Hybrid hits the cross-encoder scores per query in the bench (the blend sweep goes up to this many).
RERANK_DEPTH = 30
#: (query, {paper id: graded relevance})
Item = tuple[str, dict[str, int]]
#: Each query's embedding, kept by candidate_lists for the pseudo-relevance-feedback rows.
QUERY_VECTORS: dict[str, list[float]] = {}
#: (depth, weight) pairs of dense PRF scored next to the shipped fusion (set by --prf / --sweep).
PRF_GRID: list[tuple[int, float]] = []


# ---------------------------------------------------------------------------- metrics
def ndcg_at(ranked: list[str], gold: dict[str, int], k: int = 10) -> float:
    dcg = sum(gold.get(pid, 0) / math.log2(i + 2) for i, pid in enumerate(ranked[:k]))
    ideal = sorted(gold.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], gold: dict[str, int], k: int) -> float:
    rel = {p for p, g in gold.items() if g > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def mrr_at(ranked: list[str], gold: dict[str, int], k: int = 10) -> float:
    for i, pid in enumerate(ranked[:k]):
        if gold.get(pid, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def metrics(runs: list[list[str]], items: list[Item], ks: tuple[int, ...] = (10, 100)) -> dict[str, float]:
    out = {"nDCG@10": mean([ndcg_at(r, g) for r, (_, g) in zip(runs, items)])}
    for k in ks:
        out[f"R@{k}"] = mean([recall_at(r, g, k) for r, (_, g) in zip(runs, items)])
    out["MRR@10"] = mean([mrr_at(r, g) for r, (_, g) in zip(runs, items)])
    return out


def print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    cols = list(next(iter(table.values())))
    print(f"\n### {title}\n")
    print("| retriever | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for method, row in table.items():
        print(f"| {method} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")


# ---------------------------------------------------------------------------- corpora
def scifact_corpus() -> tuple[list[Paper], list[tuple[str, str, dict[str, int]]]]:
    papers = []
    with (EXTERNAL / "beir-scifact" / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            title = d["title"].strip() or f"SciFact {d['_id']}"
            papers.append(Paper(id=f"sf{d['_id']}", title=title, abstract=d["text"], original_title=title, source="beir-scifact"))
    queries = {}
    with (EXTERNAL / "beir-scifact" / "queries-train.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    for line in (EXTERNAL / "beir-scifact" / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[f"sf{did}"] = int(score)
    return papers, [(qid, queries[qid], rel) for qid, rel in qrels.items() if qid in queries]


def pubmedqa_corpus() -> tuple[list[Paper], list[Item]]:
    data = json.loads((EXTERNAL / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    papers = [
        Paper(id=f"pm{pmid}", title=f"PubMed {pmid}", abstract=" ".join(it["CONTEXTS"]), original_title=f"PubMed {pmid}", source="pubmedqa")
        for pmid, it in data.items()
    ]
    return papers, [(it["QUESTION"], {f"pm{pmid}": 1}) for pmid, it in data.items()]


def slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", spec).strip("-")[-40:]


def open_bench_store(name: str, settings: Settings, papers: list[Paper] | None, fresh: bool) -> Retriever:
    runtime = "" if settings.index.embed_runtime == "auto" else f"-{settings.index.embed_runtime}"
    home = ROOT / "artifacts" / "bench-retrieval" / f"{name}-{slug(settings.index.embed_model)}{runtime}"
    if fresh and home.exists():
        shutil.rmtree(home)
    # One ONNX export of the embedder for every bench home.
    s = settings.with_overrides(home=home, **{"index.onnx_cache": onnx_cache_root(settings)})
    store = open_store(s)
    t0 = time.perf_counter()
    if papers is None:
        index_corpus(store, None, s)
    else:
        store.sync(papers, sorted({p.source for p in papers}))
    print(f"[{name}] index ready in {time.perf_counter() - t0:.1f}s ({store.count()} papers)", file=sys.stderr, flush=True)
    return Retriever(store, s)


# ---------------------------------------------------------------------------- runs
def candidate_lists(r: Retriever, items: list[Item]) -> list[dict[str, list[tuple[str, float]]]]:
    """Every query's BM25, dense and name lists (computed once; fusion variants are replayed on them)."""
    out = []
    for i, (q, _) in enumerate(items):
        QUERY_VECTORS[q] = vector = r._query_vector(q)
        out.append({"bm25": r.bm25.search(q, DEPTH), "dense": r.store.dense_search(vector, DEPTH), "name": r.names.search(q)})
        if i % 200 == 199:
            print(f"  {i + 1}/{len(items)} queries", file=sys.stderr, flush=True)
    return out


def fused_runs(lists: list[dict], weights: dict[str, float], method: str, rrf_k: int) -> list[list[str]]:
    return [[pid for pid, _, _ in fuse(ls, weights, method, rrf_k)[:DEPTH]] for ls in lists]  # type: ignore[arg-type]


def prf_grid(cfg) -> list[tuple[int, float]]:
    """The --prf rows, plus the configured retrieval.prf_* when it is on."""
    return sorted(set(PRF_GRID) | ({(cfg.prf_depth, cfg.prf_weight)} if cfg.prf_weight > 0 else set()))


def prf_lists(r: Retriever, lists: list[dict], items: list[Item], depth: int, weight: float) -> list[dict]:
    """Each query's lists with the dense list searched again through Retriever._with_feedback (dense PRF)."""
    cfg = r.settings.retrieval
    shipped = {"bm25": cfg.lexical_weight, "dense": cfg.dense_weight, "name": cfg.name_match_weight}
    saved = r.settings
    r.settings = saved.with_overrides(**{"retrieval.prf_depth": depth, "retrieval.prf_weight": weight})
    try:
        return [r._with_feedback(QUERY_VECTORS[q], ls, shipped, DEPTH) for (q, _), ls in zip(items, lists)]
    finally:
        r.settings = saved


def method_table(lists: list[dict], items: list[Item], settings: Settings, rerank_items: dict[str, Paper] | None = None,
                 r: Retriever | None = None) -> dict:
    cfg = settings.retrieval
    shipped = {"bm25": cfg.lexical_weight, "dense": cfg.dense_weight, "name": cfg.name_match_weight}
    table = {
        "bm25": metrics([[p for p, _ in ls["bm25"]] for ls in lists], items),
        "dense": metrics([[p for p, _ in ls["dense"]] for ls in lists], items),
        f"hybrid ({cfg.fusion}, shipped weights, no PRF)": metrics(fused_runs(lists, shipped, cfg.fusion, cfg.rrf_k), items),
        "hybrid (rrf k=10, name 2; previous)": metrics(fused_runs(lists, {"bm25": 1, "dense": 1, "name": 2}, "rrf", 10), items),
    }
    grid = prf_grid(cfg)
    for depth, weight in grid if r is not None else ():
        shipped_mark = ", shipped" if (depth, weight) == (cfg.prf_depth, cfg.prf_weight) else ""
        table[f"hybrid + dense PRF (top {depth}, weight {weight}{shipped_mark})"] = metrics(
            fused_runs(prf_lists(r, lists, items, depth, weight), shipped, cfg.fusion, cfg.rrf_k), items)
    if rerank_items is not None:
        shipped_runs = fused_runs(lists, shipped, cfg.fusion, cfg.rrf_k)
        if RERANKER == "verifier":
            table[f"hybrid + verifier rerank (top {cfg.rerank_top}, weight {cfg.rerank_weight})"] = metrics(
                verifier_reranked(lists, items, settings, rerank_items, shipped_runs), items)
        else:
            cache = reranker_scores(items, rerank_items, shipped_runs, RERANK_DEPTH)
            table[f"hybrid + cross-encoder rerank (top {cfg.rerank_top}, weight {cfg.rerank_weight})"] = metrics(
                reranked_runs(lists, shipped, cfg, cache, shipped_runs, cfg.rerank_top, cfg.rerank_weight), items)
            table["cross-encoder alone (top 30 of hybrid)"] = metrics(
                reranked_runs(lists, shipped, cfg, cache, shipped_runs, RERANK_DEPTH, 1.0), items)
            if SWEEP_RERANK:
                rerank_sweep(lists, items, shipped, cfg, cache, shipped_runs)
    return table


def verifier_reranked(lists, items, settings, papers, shipped_runs) -> list[list[str]]:
    from agent.faithfulness.verifier import get_verifier
    from agent.retrieval.rerank import rerank
    from agent.types import SearchHit

    cfg = settings.retrieval
    shipped = {"bm25": cfg.lexical_weight, "dense": cfg.dense_weight, "name": cfg.name_match_weight}
    score, runs = get_verifier(None).score, []
    for (q, _), ls, run in zip(items, lists, shipped_runs):
        scores = {pid: sc for pid, sc, _ in fuse(ls, shipped, cfg.fusion, cfg.rrf_k)}
        hits = [SearchHit(paper=papers[pid], score=scores[pid]) for pid in run[: cfg.rerank_top]]
        runs.append([h.paper.id for h in rerank(q, hits, score, cfg.rerank_top, cfg.rerank_weight)] + run[cfg.rerank_top :])
    return runs


def reranker_scores(items: list[Item], papers, shipped_runs: list[list[str]], depth: int) -> list[dict[str, float]]:
    """The cross-encoder's logit for each query's top ``depth`` hybrid hits (computed once, blended many ways)."""
    from agent.retrieval.rerank import paper_text
    from agent.retrieval.reranker import get_reranker
    from agent.types import SearchHit

    model = get_reranker(None)
    out = []
    for i, ((q, _), run) in enumerate(zip(items, shipped_runs)):
        head = run[:depth]
        logits = model.score(q, [paper_text(SearchHit(paper=papers[pid], score=0.0)) for pid in head])
        out.append(dict(zip(head, map(float, logits))))
        if i % 100 == 99:
            print(f"  re-ranked {i + 1}/{len(items)} queries", file=sys.stderr, flush=True)
    return out


def reranked_runs(lists, weights, cfg, cache, shipped_runs, top: int, weight: float) -> list[list[str]]:
    """agent.retrieval.rerank.rerank_papers on each query's hybrid hits, with the cached logits as the scorer."""
    from agent.retrieval.rerank import rerank_papers
    from agent.types import Paper, SearchHit

    runs = []
    for ls, logits, run in zip(lists, cache, shipped_runs):
        fused = {pid: sc for pid, sc, _ in fuse(ls, weights, cfg.fusion, cfg.rrf_k)}
        hits = [SearchHit(paper=Paper(id=pid, title=pid, abstract="", original_title=pid), score=fused[pid]) for pid in run[:top]]
        order = rerank_papers("", hits, lambda _q, _texts, h=hits, lg=logits: [lg[x.paper.id] for x in h], top, weight)
        runs.append([h.paper.id for h in order] + run[top:])
    return runs


def rerank_sweep(lists, items, weights, cfg, cache, shipped_runs) -> None:
    print("\n### Re-ranker blend sweep (choose on the re-ranker's selection slice)\n\n| top | weight | nDCG@10 | R@10 |\n|---|---|---|---|")
    for top in (10, 20, 30):
        for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
            m = metrics(reranked_runs(lists, weights, cfg, cache, shipped_runs, top, w), items)
            print(f"| {top} | {w} | {m['nDCG@10']:.4f} | {m['R@10']:.4f} |")


def sweep(lists: list[dict], items: list[Item], title: str) -> None:
    """The best fusion settings on ``items``: choose on queries neither the fusion nor the embedder was trained on."""
    print(f"\n### Fusion sweep: {title}\n\n| fusion | bm25 | dense | name | rrf_k | nDCG@10 | R@10 |\n|---|---|---|---|---|---|---|")
    rows = []
    for dense in (0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0):
        for name in (0.0, 0.1, 0.3, 0.5):
            m = metrics(fused_runs(lists, {"bm25": 1.0, "dense": dense, "name": name}, "convex", 60), items)
            rows.append(("convex", 1.0, dense, name, "-", m))
    for k in (5, 10, 30, 60):
        for dense in (0.5, 1.0, 1.5):
            m = metrics(fused_runs(lists, {"bm25": 1.0, "dense": dense, "name": 0.0}, "rrf", k), items)
            rows.append(("rrf", 1.0, dense, 0.0, k, m))
    for row in sorted(rows, key=lambda r: -r[-1]["nDCG@10"])[:15]:
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} | {row[4]} | {row[5]['nDCG@10']:.4f} | {row[5]['R@10']:.4f} |")


def latency(r: Retriever, queries: list[str], n: int = 120) -> None:
    qs = (queries * (n // max(1, len(queries)) + 1))[:n]
    r.search("warm up", 10)
    stages: dict[str, list[float]] = {"bm25": [], "dense (embed + Chroma)": [], "fusion": [], "hybrid search total": []}
    cfg = r.settings.retrieval
    weights = {"bm25": cfg.lexical_weight, "dense": cfg.dense_weight, "name": cfg.name_match_weight}
    for q in qs:
        t0 = time.perf_counter()
        b = r.bm25.search(q, cfg.candidates)
        t1 = time.perf_counter()
        d = r._dense(q, cfg.candidates)
        t2 = time.perf_counter()
        fuse({"bm25": b, "dense": d, "name": r.names.search(q)}, weights, cfg.fusion, cfg.rrf_k)
        t3 = time.perf_counter()
        r.search(q, 10)
        t4 = time.perf_counter()
        for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[key].append(dt)
        if RERANK:
            r.search(q, 10, rerank=True)
            stages.setdefault(f"hybrid + {cfg.reranker} rerank total (top {cfg.rerank_top})", []).append(time.perf_counter() - t4)
    print(f"\nwarm latency over {len(qs)} queries, {len(r.papers)} papers (ms): " + "; ".join(
        f"{k} p50 {percentile(v, 50) * 1000:.1f} / p95 {percentile(v, 95) * 1000:.1f}" for k, v in stages.items()
    ))


def bench_scifact(settings: Settings, fresh: bool, do_sweep: bool) -> None:
    papers, queries = scifact_corpus()
    r = open_bench_store("beir-scifact", settings, papers, fresh)
    tune = [(q, rel) for qid, q, rel in queries if not is_heldout("scifact", qid) and not selection_slice(qid)]
    select = [(q, rel) for qid, q, rel in queries if selection_slice(qid)]
    held = [(q, rel) for qid, q, rel in queries if is_heldout("scifact", qid)]
    print(f"\n# BEIR SciFact train queries: {len(tune)} tuning + {len(select)} re-ranker selection + {len(held)} held-out, "
          f"{len(papers)} abstracts ({r.store.count()} indexed)")
    lists_tune, lists_sel, lists_held = candidate_lists(r, tune), candidate_lists(r, select), candidate_lists(r, held)
    if do_sweep:
        sweep(lists_tune + lists_sel, tune + select, "SciFact tuning queries (biased when the embedder was fine-tuned on them)")
    rr = r.papers if RERANK else None
    global SWEEP_RERANK
    print_table("BEIR SciFact — tuning part (68% of train queries; the embedder and re-ranker trained on them)",
                method_table(lists_tune, tune, r.settings, rerank_items=rr, r=r))
    SWEEP_RERANK = do_sweep
    print_table("BEIR SciFact — re-ranker selection slice (12%; embedder trained on them, re-ranker not)",
                method_table(lists_sel, select, r.settings, rerank_items=rr, r=r))
    SWEEP_RERANK = False
    print_table("BEIR SciFact — our held-out part (20% of train queries)", method_table(lists_held, held, r.settings, rerank_items=rr, r=r))
    latency(r, [q for q, _ in held])


def bench_dev(settings: Settings, fresh: bool, path: Path, do_sweep: bool = False) -> None:
    r = open_bench_store("bundled", settings, None, fresh)
    by_title = {title_key(p.title): p.id for p in r.papers.values()}
    items: list[Item] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            gold = {by_title[title_key(t)]: 1 for t in q.get("gold_titles", []) if title_key(t) in by_title}
            if gold:
                items.append((q["question"], gold))
    print(f"\n# Bundled corpus, {path.name}: {len(items)} questions with gold papers ({len(r.papers)} papers)")
    rr = r.papers if RERANK else None
    lists = candidate_lists(r, items)
    print_table(f"dev ({path.name}; tuned on in earlier rounds)", method_table(lists, items, r.settings, rerank_items=rr, r=r))
    if do_sweep:
        sweep(lists, items, f"bundled corpus, {path.name}")
    latency(r, [q for q, _ in items])


def bench_pubmedqa(settings: Settings, fresh: bool, do_sweep: bool = False) -> None:
    papers, items = pubmedqa_corpus()
    r = open_bench_store("pubmedqa", settings, papers, fresh)
    lists = candidate_lists(r, items)
    table = method_table(lists, items, r.settings, r=r)
    runs_shipped = fused_runs(lists, {"bm25": r.settings.retrieval.lexical_weight, "dense": r.settings.retrieval.dense_weight,
                                      "name": r.settings.retrieval.name_match_weight}, r.settings.retrieval.fusion, r.settings.retrieval.rrf_k)
    cfg = r.settings.retrieval
    shipped = {"bm25": cfg.lexical_weight, "dense": cfg.dense_weight, "name": cfg.name_match_weight}
    grid = prf_grid(cfg)
    prf_runs = {(d, w): fused_runs(prf_lists(r, lists, items, d, w), shipped, cfg.fusion, cfg.rrf_k) for d, w in grid}
    print(f"\n# PubMedQA: {len(items)} questions, {len(papers)} contexts; gold = own abstract")
    print_table("PubMedQA (1,000 labelled questions)", table)
    # The fine-tuned embedder (evals/train_embedder.py) saw the questions outside PubMedQA's test split:
    # the test split's 500 questions are the figure to compare embedders by.
    test_ids = {f"pm{k}" for k in json.loads((EXTERNAL / "pubmedqa" / "test_ground_truth.json").read_text(encoding="utf-8"))}
    for label, keep in (("all 1,000", lambda g: True), ("test split, 500", lambda g: set(g) <= test_ids)):
        sel = [i for i, (_, g) in enumerate(items) if keep(g)]
        r1 = {m: mean([recall_at([p for p, _ in lists[i][m]], items[i][1], 1) for i in sel]) for m in ("bm25", "dense")}
        hy = mean([recall_at(runs_shipped[i], items[i][1], 1) for i in sel])
        prf = "".join(f", + PRF {d}:{w} {mean([recall_at(runs[i], items[i][1], 1) for i in sel]):.3f}" for (d, w), runs in prf_runs.items())
        print(f"\nPubMedQA recall@1 ({label}) — bm25 {r1['bm25']:.3f}, dense {r1['dense']:.3f}, hybrid (no PRF) {hy:.3f}{prf}")
    if RERANK:  # the re-ranker trained on questions outside the test split: score it on the test split only
        sel = [i for i, (_, g) in enumerate(items) if set(g) <= test_ids]
        sub_lists, sub_items = [lists[i] for i in sel], [items[i] for i in sel]
        print_table("PubMedQA test split (500), with re-ranking", method_table(sub_lists, sub_items, r.settings, rerank_items=r.papers))
    if do_sweep:
        sel = [i for i, (_, g) in enumerate(items) if set(g) <= test_ids]
        sweep([lists[i] for i in sel], [items[i] for i in sel], "PubMedQA test split (500)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="scifact,dev,pubmedqa", help="comma-separated: scifact, dev, pubmedqa")
    ap.add_argument("--questions", type=Path, default=ROOT / "evals" / "questions.jsonl", help="the dev question set")
    ap.add_argument("--embed-model", default=None, help="override index.embed_model")
    ap.add_argument("--runtime", choices=["auto", "onnx", "torch"], default=None,
                    help="override index.embed_runtime (a non-default one gets its own index directory)")
    ap.add_argument("--sweep", action="store_true", help="print the fusion grid on each set (SciFact: tuning queries; PubMedQA: test split)")
    ap.add_argument("--fresh", action="store_true", help="re-index from scratch")
    ap.add_argument("--rerank", action="store_true", help="also score hybrid + re-ranking of the top candidates")
    ap.add_argument("--reranker", choices=["cross-encoder", "verifier"], default="cross-encoder",
                    help="which re-ranker --rerank scores (verifier: slow, ~200 calls a query)")
    ap.add_argument("--fusion", choices=["rrf", "convex"], default=None, help="override retrieval.fusion")
    ap.add_argument("--weights", default=None, help="override bm25,dense,name weights, e.g. 1,0.7,0.1")
    ap.add_argument("--prf", default="", help="dense pseudo-relevance feedback rows to score, as DEPTH:WEIGHT pairs, e.g. 3:0.5,5:1 "
                    "(the configured retrieval.prf_* is always scored when its weight is above 0)")
    ap.add_argument("--prf-setting", default=None, metavar="DEPTH:WEIGHT",
                    help="override retrieval.prf_depth and retrieval.prf_weight (the search the latency rows time)")
    args = ap.parse_args()
    global RERANK, RERANKER
    RERANK, RERANKER = args.rerank, args.reranker
    PRF_GRID.extend((int(d), float(w)) for d, w in (pair.split(":") for pair in args.prf.split(",") if pair.strip()))
    settings = Settings()
    if args.embed_model:
        settings = settings.with_overrides(**{"index.embed_model": args.embed_model})
    if args.runtime:
        settings = settings.with_overrides(**{"index.embed_runtime": args.runtime})
    if args.fusion:
        settings = settings.with_overrides(**{"retrieval.fusion": args.fusion})
    settings = settings.with_overrides(**{"retrieval.reranker": args.reranker})
    if args.prf_setting:
        depth, weight = args.prf_setting.split(":")
        settings = settings.with_overrides(**{"retrieval.prf_depth": int(depth), "retrieval.prf_weight": float(weight)})
    if args.weights:
        b, d, n = (float(x) for x in args.weights.split(","))
        settings = settings.with_overrides(**{"retrieval.lexical_weight": b, "retrieval.dense_weight": d, "retrieval.name_match_weight": n})
    print(f"embedder: {settings.index.embed_model} on {embedder_for(settings).runtime}; fusion: {settings.retrieval.fusion} "
          f"(bm25 {settings.retrieval.lexical_weight}, dense {settings.retrieval.dense_weight}, name {settings.retrieval.name_match_weight})")
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        {"scifact": lambda: bench_scifact(settings, args.fresh, args.sweep),
         "dev": lambda: bench_dev(settings, args.fresh, args.questions, args.sweep),
         "pubmedqa": lambda: bench_pubmedqa(settings, args.fresh, args.sweep)}[name]()


if __name__ == "__main__":
    main()
