"""Train Citewise's search re-ranker: a MiniLM cross-encoder scoring (query, paper) relevance.

Run (CPU, seeded; reads ../shared/external at run time, writes nothing into the repo but the export):

    .venv/bin/python evals/train_reranker.py --export agent/models/reranker

Each training group is one query, one relevant paper and ``--negatives`` BM25
hard negatives (top-30 papers for the query that are not relevant); the loss is
the softmax cross-entropy of the group's logits (the relevant paper should win),
the listwise loss rerankers are usually trained with.

Queries (tuning side of :func:`evals.splits.is_heldout` only; the held-out 20%
of BEIR SciFact that evals/bench_retrieval.py reports on is never read):
- BEIR SciFact train queries -> their qrels abstracts, except the re-ranker's
  own selection slice (:func:`selection_slice`), kept to choose the blend
  weight in evals/bench_retrieval.py;
- Citation-Integrity citing sentences -> the cited abstract (train side);
- PubMedQA questions -> their own context, leaving out the 500 test ids.

The model starts from the shipped dense retriever's encoder (embedder-v1, which
already knows these queries) with a fresh one-logit head over mean-pooled
tokens, then is exported to ONNX, quantized to int8 and written with its
tokenizer and a manifest (name, version, data, SHA-256) that the product checks
before loading (:mod:`agent.retrieval.reranker`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.splits import bucket, is_heldout  # noqa: E402

EXTERNAL = ROOT.parent / "shared" / "external"
VERSION = "reranker-v1"
#: Group = (query, positive text, negative texts, source).
Group = tuple[str, str, list[str], str]


def selection_slice(qid: str) -> bool:
    """SciFact tuning queries kept out of training to choose how the re-ranker is blended (about 15% of them)."""
    return not is_heldout("scifact", qid) and bucket("scifact-rerank", qid) < 15


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


class _Negatives:
    """BM25 hard negatives over one corpus (bm25s, English stemming, stopwords)."""

    def __init__(self, texts: dict[str, str], rng: random.Random) -> None:
        import bm25s
        import Stemmer

        self._bm25s, self._stem, self.rng = bm25s, Stemmer.Stemmer("english"), rng
        self.ids, self.texts = list(texts), texts
        self.index = bm25s.BM25()
        self.index.index(self._tok(list(texts.values())), show_progress=False)

    def _tok(self, texts: list[str]):
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self._stem, show_progress=False)

    def sample(self, query: str, gold: set[str], n: int) -> list[str]:
        docs, _ = self.index.retrieve(self._tok([query]), k=min(30, len(self.ids)), show_progress=False)
        cands = [self.ids[int(i)] for i in docs[0] if self.ids[int(i)] not in gold]
        picked = self.rng.sample(cands, min(n, len(cands)))
        while len(picked) < n:  # a short BM25 list: random papers fill the group
            extra = self.rng.choice(self.ids)
            if extra not in gold and extra not in picked:
                picked.append(extra)
        return [self.texts[i] for i in picked]


def training_groups(negatives: int, max_ci: int, max_pubmedqa: int, seed: int) -> list[Group]:
    rng = random.Random(seed)
    groups: list[Group] = []
    corpus = {d["_id"]: f"{d['title']}. {d['text']}" for d in _jsonl(EXTERNAL / "beir-scifact" / "corpus.jsonl")}
    neg = _Negatives(corpus, rng)
    queries = {q["_id"]: q["text"] for q in _jsonl(EXTERNAL / "beir-scifact" / "queries-train.jsonl")}
    qrels: dict[str, set[str]] = {}
    for line in (EXTERNAL / "beir-scifact" / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        qid, did, _ = line.split("\t")
        qrels.setdefault(qid, set()).add(did)
    for qid, gold in sorted(qrels.items()):
        if qid in queries and not is_heldout("scifact", qid) and not selection_slice(qid):
            for did in sorted(gold):
                groups.append((queries[qid], corpus[did], neg.sample(queries[qid], gold, negatives), "beir-scifact"))

    ci_corpus = {str(d["doc_id"]): (d.get("title") or "") + ". " + " ".join(d["abstract"])
                 for d in _jsonl(EXTERNAL / "citation-integrity" / "corpus.jsonl")}
    ci_neg = _Negatives(ci_corpus, rng)
    ci: list[Group] = []
    for c in _jsonl(EXTERNAL / "citation-integrity" / "claims_train.jsonl"):
        if is_heldout("citation-integrity", c["id"]):
            continue
        claim = re.sub(r"\s*\[?<\|(multi_)?cit\|>[^\]]*\]?", "", c["claim"]).strip()
        cited = {str(d) for d in c.get("cited_doc_ids", [])} & set(ci_corpus)
        for did in sorted(cited):
            ci.append((claim, ci_corpus[did], ci_neg.sample(claim, cited, negatives), "citation-integrity"))
    rng.shuffle(ci)
    groups += ci[:max_ci]

    pqa = json.loads((EXTERNAL / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    test_ids = set(json.loads((EXTERNAL / "pubmedqa" / "test_ground_truth.json").read_text(encoding="utf-8")))
    pq_texts = {k: " ".join(v["CONTEXTS"]) for k, v in pqa.items() if k not in test_ids}
    pq_neg = _Negatives(pq_texts, rng)
    keys = sorted(pq_texts)
    rng.shuffle(keys)
    groups += [(pqa[k]["QUESTION"], pq_texts[k], pq_neg.sample(pqa[k]["QUESTION"], {k}, negatives), "pubmedqa")
               for k in keys[:max_pubmedqa]]
    rng.shuffle(groups)
    return groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", type=Path, default=ROOT / "agent" / "models" / "reranker", help="where the int8 ONNX goes")
    ap.add_argument("--negatives", type=int, default=3, help="BM25 hard negatives per relevant paper")
    ap.add_argument("--max-ci", type=int, default=400, help="Citation-Integrity groups at most")
    ap.add_argument("--max-pubmedqa", type=int, default=250, help="PubMedQA groups at most")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--groups-per-step", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--base", default="embedder-v2",
                    help="the bundled embedder version to start from (the shipped reranker-v1 started from embedder-v1; "
                    "a checkout that ships another one names it here, or gives a model directory)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on this many groups only (smoke runs)")
    args = ap.parse_args()

    import torch
    from tqdm import tqdm
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    from agent.index.embeddings import bundled_model_path
    from evals.train_verifier import MeanPoolClassifier, export_onnx

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    groups = training_groups(args.negatives, args.max_ci, args.max_pubmedqa, args.seed)
    if args.limit:
        groups = groups[: args.limit]
    sources = dict(Counter(g[3] for g in groups))
    print(f"training groups: {len(groups)} (1 relevant + {args.negatives} BM25 negatives each) {sources}", flush=True)

    base = Path(args.base) if Path(args.base).is_dir() else bundled_model_path(args.base)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = MeanPoolClassifier(AutoModel.from_pretrained(str(base), dtype=torch.float32))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(groups) + args.groups_per_step - 1) // args.groups_per_step)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * steps), steps)
    t0, width = time.time(), 1 + args.negatives
    bar = tqdm(total=steps, desc="reranker", unit="step")
    rng = random.Random(args.seed)
    for _ in range(args.epochs):
        order = groups[:]
        rng.shuffle(order)
        for i in range(0, len(order), args.groups_per_step):
            chunk = order[i : i + args.groups_per_step]
            queries = [g[0] for g in chunk for _ in range(width)]
            docs = [d for g in chunk for d in [g[1], *g[2]]]
            enc = tokenizer(queries, docs, truncation="longest_first", max_length=args.max_length, padding=True, return_tensors="pt")
            logits = model(**enc).view(len(chunk), width)
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(chunk), dtype=torch.long))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    train_s = time.time() - t0
    print(f"trained in {train_s / 60:.1f} min", flush=True)

    onnx_path = export_onnx(model, tokenizer, args.export, args.max_length)
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    manifest = {
        "name": "citewise-reranker-minilm-l6",
        "version": VERSION,
        "base": f"{args.base} encoder (all-MiniLM-L6-v2 fine-tuned by evals/train_embedder.py)",
        "format": "onnx int8 (onnxruntime dynamic quantization), one relevance logit (higher = more relevant)",
        "input": "(query, 'title. abstract') text pair, the paper truncated",
        "max_length": args.max_length,
        "training_data": {
            "sources": sources,
            "split": "evals/splits.py tuning side; SciFact re-ranker selection slice and PubMedQA test ids excluded",
        },
        "hyperparameters": {k: getattr(args, k) for k in ("negatives", "epochs", "groups_per_step", "lr", "max_length", "seed")},
        "train_minutes": round(train_s / 60, 1),
        "sha256": {"model.onnx": digest, "tokenizer.json": hashlib.sha256((args.export / "tokenizer.json").read_bytes()).hexdigest()},
    }
    (args.export / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB), sha256 {digest}")


if __name__ == "__main__":
    main()
