"""Train the sentence-role model: does an abstract sentence state the paper's own work, or its background?

The quote picker (agent/chain/quotes.py) ranks an abstract's sentences by
similarity to the question. A question about a problem ("which papers address
false negatives?") is closest to the sentence that *states* the problem
("...the inclusion of false negatives"), which is the paper's background, not
what the paper does about it. This model gives every sentence P(own work)
from its sentence vector (the packaged MiniLM the picker already computes)
and its position in the abstract, so the picker can prefer the paper's own
method or finding among the sentences that match (``answer.role_weight``).

Data: PubMedQA's labelled structured abstracts (ori_pqal.json). Each context
segment carries its section label; a segment's sentences get it. BACKGROUND /
INTRODUCTION (and their combinations) are "background" (0); OBJECTIVE, AIM,
METHODS, RESULTS and the rest, and the LONG_ANSWER (the abstract's
conclusions), are "own work" (1). The 500 test ids (test_ground_truth.json)
are left out; of the other 500 our held-out 20% (evals/splits.py, source
``pubmedqa-roles``) is scored, never fitted. A logistic regression
(scikit-learn, balanced classes, C chosen by 5-fold cross-validation on the
fit part) is stored as JSON weights evaluated with numpy at run time.

    .venv/bin/python evals/train_roles.py --write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import warnings  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")

from agent.chain.roles import MODEL_DIR, VERSION, role_features  # noqa: E402
from evals.splits import is_heldout  # noqa: E402

PUBMEDQA = ROOT.parent / "shared" / "external" / "pubmedqa"
SOURCE = "pubmedqa-roles"


def is_background(label: str) -> bool:
    words = label.upper()
    return "BACKGROUND" in words or "INTRODUCTION" in words


def abstracts() -> list[tuple[str, list[tuple[str, int]]]]:
    """(pmid, [(sentence, own-work label)]) for every non-test PubMedQA abstract, in abstract order."""
    from agent.sentences import split_sentences

    data = json.loads((PUBMEDQA / "ori_pqal.json").read_text(encoding="utf-8"))
    test = set(json.loads((PUBMEDQA / "test_ground_truth.json").read_text(encoding="utf-8")))
    out = []
    for pmid, item in sorted(data.items()):
        if pmid in test:
            continue
        rows: list[tuple[str, int]] = []
        for text, label in zip(item["CONTEXTS"], item["LABELS"], strict=True):
            rows += [(s, 0 if is_background(label) else 1) for s in split_sentences(text)]
        rows += [(s, 1) for s in split_sentences(item.get("LONG_ANSWER") or "")]
        if len(rows) >= 2:
            out.append((pmid, rows))
    return out


def featurize(items, embedder) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for _, rows in items:
        vecs = embedder.embed([s for s, _ in rows])
        xs.append(role_features(vecs))
        ys += [y for _, y in rows]
    return np.vstack(xs), np.array(ys)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help=f"store the model in {MODEL_DIR.relative_to(ROOT)}")
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from agent.index.embeddings import sentence_embedder_for
    from agent.settings import Settings

    t0 = time.perf_counter()
    settings = Settings()
    embedder = sentence_embedder_for(settings)
    items = abstracts()
    fit = [it for it in items if not is_heldout(SOURCE, it[0])]
    held = [it for it in items if is_heldout(SOURCE, it[0])]
    x_fit, y_fit = featurize(fit, embedder)
    x_held, y_held = featurize(held, embedder)
    print(f"abstracts: fit {len(fit)} ({len(y_fit)} sentences, {y_fit.mean():.2f} own work), "
          f"held-out {len(held)} ({len(y_held)} sentences); embedded in {time.perf_counter() - t0:.0f}s", flush=True)

    model = LogisticRegressionCV(Cs=[0.03, 0.1, 0.3, 1, 3], cv=5, class_weight="balanced", max_iter=2000, scoring="roc_auc")
    model.fit(x_fit, y_fit)
    report = {}
    for name, x, y in (("fit", x_fit, y_fit), ("heldout", x_held, y_held)):
        p = model.predict_proba(x)[:, 1]
        report[name] = {"auc": round(float(roc_auc_score(y, p)), 4),
                        "balanced_accuracy": round(float(balanced_accuracy_score(y, p >= 0.5)), 4)}
    # The same features without the vector: how much the position alone knows.
    pos = LogisticRegressionCV(cv=5, class_weight="balanced", max_iter=2000, scoring="roc_auc").fit(x_fit[:, -3:], y_fit)
    report["heldout_position_only_auc"] = round(float(roc_auc_score(y_held, pos.predict_proba(x_held[:, -3:])[:, 1])), 4)
    print(f"C={float(model.C_[0])}  {json.dumps(report)}", flush=True)

    if args.write:
        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        weights = {"coef": [round(float(c), 6) for c in model.coef_[0]], "intercept": round(float(model.intercept_[0]), 6)}
        body = json.dumps(weights)
        (MODEL_DIR / "model.json").write_text(body, encoding="utf-8")
        manifest = {
            "name": "citewise-sentence-roles",
            "version": VERSION,
            "kind": "logistic regression over sentence vector + position",
            "sentence_model": settings.index.sentence_model,
            "training_data": {
                "source": "PubMedQA ori_pqal.json section labels, test ids left out",
                "abstracts": len(fit),
                "sentences": int(len(y_fit)),
                "labels": "BACKGROUND/INTRODUCTION = 0, every other section and LONG_ANSWER = 1",
            },
            "hyperparameters": {"C": float(model.C_[0]), "class_weight": "balanced"},
            "metrics": report,
            "sha256": {"model.json": hashlib.sha256(body.encode()).hexdigest()},
        }
        (MODEL_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_DIR}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
