"""Experiment: a probe judge, a logistic regression on the local LLM's hidden state at the judge prompt.

Not shipped. Measured on 2026-12-03 (issue 14 note): on the 0.5B it does not
beat the model's own P(YES) on held-out pairs of the shared sets, so the
checker keeps its judges. This script reproduces the figures and is the
starting point for a probe on a larger model or another prompt.

The thorough-mode judge's P(YES) is a fixed read-out (the YES and NO rows of
the output matrix) of the model's last hidden state after the judge prompt
(``prompts/judge_claim.toml``); :func:`zero_shot_direction` rebuilds it from
the GGUF and it matches ``choice_logprobs``. The probe learns that read-out
from labelled pairs instead:

1. pairs from the train side (``evals/splits.py``) of SciFact,
   Citation-Integrity (rationale windows and whole cited abstracts),
   HealthVer, COVID-Fact, AttributionBench and WiCE
   (``evals/verifier_data.py``, read from ../shared/external at run time),
   balanced per source;
2. for each, the judge prompt exactly as the checker builds it
   (:func:`agent.faithfulness.checker.judge_question`: the claim and the best
   ``judge_top_k`` evidence sentences);
3. the model's last hidden state at that prompt (llama.cpp in embedding mode,
   last-token pooling), cached on disk by prompt so an interrupted run
   resumes (about 2.6 s a pair for the 0.5B on 2 cores);
4. a seeded, L2-regularised logistic regression (scikit-learn; C chosen by
   5-fold cross-validation on the train side only), balanced classes.

The held-out side of each source is featurized the same way and scored once,
at the end, per source: AUC and balanced accuracy at 0.5 for the probe and
for the zero-shot read-out. Writes ``model.json`` (weights in the raw
hidden-state space) and ``manifest.json`` (name, version, base model and its
GGUF SHA-256, prompt version, training data, hyperparameters, metrics,
SHA-256) to ``--out``.

    python evals/train_probe.py --per-source 160 --heldout-per-source 40 --out artifacts/probe-v1
    python evals/train_probe.py --model local:qwen2.5-coder-1.5b --zero-shot-only --heldout-per-source 40 \
        --out artifacts/zero-shot-1p5b        # the shipped 1.5B judge's P(YES) on the same held-out pairs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from evals.verifier_data import Pair, abstract_level_pairs, load_pairs  # noqa: E402
from agent.llm.base import LLMError, ModelFileError  # noqa: E402
from agent.llm.gguf_assets import check_gguf_file  # noqa: E402

SOURCES = (
    "scifact", "scifact-abstract", "citation-integrity", "citation-integrity-abstract", "healthver", "covidfact",
    "attributionbench", "wice",
)
VERSION = "probe-v1"


class HiddenStates:
    """``last(messages)``: a local GGUF model's final hidden state (after the output norm, i.e. what the
    output matrix reads) at the end of a chat prompt with the assistant turn opened.

    Its own llama.cpp context in embedding mode with last-token pooling; the
    prompt is rendered with the model's own chat template and tokenized with
    special tokens parsed, as llama.cpp's chat path does (``Llama.embed``
    would not parse them, hence the direct decode).
    """

    def __init__(self, path: Path, n_ctx: int = 1024, n_threads: int = 2) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        check_gguf_file(path)
        self.path = path
        self._llama_cpp = llama_cpp
        try:
            self.llama = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=min(n_ctx, 512), n_threads=n_threads,
                embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST, verbose=False,
            )
        except Exception as exc:  # llama.cpp reports any bad file as ValueError/RuntimeError
            raise ModelFileError(f"llama.cpp could not load {path} for hidden states: {exc}") from exc
        template = (self.llama.metadata or {}).get("tokenizer.chat_template")
        if not template:
            raise LLMError(f"{path.name} has no chat template; the probe needs the model's own prompt format")

        def token_text(token: int) -> str:
            return self.llama._model.token_get_text(token) if token != -1 else ""

        self._format = Jinja2ChatFormatter(
            template=template, eos_token=token_text(self.llama.token_eos()), bos_token=token_text(self.llama.token_bos())
        )
        self.n_ctx = n_ctx
        self.dim = int(self.llama.n_embd())

    def last(self, messages: list[dict]) -> np.ndarray:
        """The final hidden state (float32, ``dim``) at the prompt's last token; a long prompt keeps its end."""
        prompt = self._format(messages=[dict(m) for m in messages]).prompt
        toks = self.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        if len(toks) > self.n_ctx:  # keep the claim and the assistant header, which sit at the end
            toks = toks[: self.n_ctx // 4] + toks[-(self.n_ctx - self.n_ctx // 4) :]
        ctx, batch = self.llama._ctx, self.llama._batch
        ctx.kv_cache_clear()
        batch.reset()
        batch.add_sequence(toks, 0, True)
        ctx.decode(batch)
        ptr = self._llama_cpp.llama_get_embeddings_seq(ctx.ctx, 0)
        out = np.ctypeslib.as_array(ptr, shape=(self.dim,)).astype(np.float32, copy=True)
        batch.reset()
        ctx.kv_cache_clear()
        return out


def balanced_sample(pairs: list[Pair], n: int, rng: random.Random) -> list[Pair]:
    """Up to ``n`` pairs, half supported and half not where the source has enough of each."""
    pos = [p for p in pairs if p.label]
    neg = [p for p in pairs if not p.label]
    rng.shuffle(pos)
    rng.shuffle(neg)
    k_pos = min(len(pos), max(n // 2, n - len(neg)))
    k_neg = min(len(neg), n - k_pos)
    return pos[:k_pos] + neg[:k_neg]


def source_pairs(split: str, per_source: int, seed: int) -> dict[str, list[Pair]]:
    real = load_pairs(split, [s for s in SOURCES if not s.endswith("-abstract")])
    for name in SOURCES:
        if name.endswith("-abstract"):
            real[name] = abstract_level_pairs(split, name.removesuffix("-abstract"))
    rng = random.Random(seed)
    return {name: balanced_sample(real[name], per_source, rng) for name in SOURCES}


class Questions:
    """Turns a pair into the judge's (claim, title, evidence) the way the checker does."""

    def __init__(self, settings) -> None:  # noqa: ANN001 - Settings
        from agent.faithfulness.checker import FaithfulnessChecker

        self.checker = FaithfulnessChecker(settings)

    def __call__(self, pair: Pair) -> tuple[str, str, list[str]]:
        from agent.faithfulness.claims import Claim

        claim = Claim(" ".join(pair.claim.split()), ["e1"], 0)
        return self.checker.judge_inputs(claim, {"e1": ("", pair.evidence)})


class FeatureCache:
    """Hidden states keyed by model and rendered prompt, in one .npz file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as z:
                self.data = {k: z[k] for k in z.files}
        self.dirty = 0

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, **self.data)
        tmp.replace(self.path)
        self.dirty = 0


def featurize(pairs: list[Pair], questions: Questions, hidden, cache: FeatureCache, tag: str) -> np.ndarray:  # noqa: ANN001
    from tqdm import tqdm

    from agent.faithfulness.judge import claim_prompt

    out = []
    for pair in tqdm(pairs, desc=tag, unit="pair", mininterval=10):
        messages = claim_prompt(*questions(pair))
        key = hashlib.sha1(json.dumps([str(hidden.path.name), messages]).encode()).hexdigest()
        if key not in cache.data:
            cache.data[key] = hidden.last(messages).astype(np.float16)
            cache.dirty += 1
            if cache.dirty >= 50:
                cache.save()
        out.append(cache.data[key].astype(np.float32))
    cache.save()
    return np.vstack(out) if out else np.zeros((0, hidden.dim), np.float32)


def zero_shot_direction(path: Path, hidden) -> np.ndarray:  # noqa: ANN001 - HiddenStates
    """The LLM judge's own read-out of the same hidden state: the output matrix's YES row minus its NO row.

    sigmoid(h . d) is the judge's P(YES) renormalised over YES/NO (checked
    against ``choice_logprobs``), so scoring it on the same pairs is the
    baseline "same model, same prompt, fixed read-out".
    """
    import gguf

    tensors = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    out = tensors.get("output.weight") or tensors["token_embd.weight"]  # tied embeddings have no output.weight
    ids = [hidden.llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in ("YES", "NO")]
    rows = gguf.quants.dequantize(out.data[ids], out.tensor_type)
    return (rows[0] - rows[1]).astype(np.float32)


def balanced_accuracy(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    pred = p >= threshold
    tpr = float(np.mean(pred[y == 1])) if np.any(y == 1) else float("nan")
    tnr = float(np.mean(~pred[y == 0])) if np.any(y == 0) else float("nan")
    return (tpr + tnr) / 2


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The P threshold with the highest balanced accuracy on (y, p): the train side's choice."""
    cands = np.unique(np.round(p, 4))
    return float(max(cands, key=lambda t: (balanced_accuracy(y, p, t), -abs(t - 0.5))))


def zero_shot_report(args, path: Path, hidden, questions, cache) -> int:  # noqa: ANN001
    """The model's own P(YES) (the LLM judge) on the held-out pairs: AUC, balanced accuracy at 0.5 and, with
    ``--calibrate-per-source``, at the threshold chosen on that many train-side pairs per source."""
    from sklearn.metrics import roc_auc_score

    direction = zero_shot_direction(path, hidden)

    def p_yes(split: str, n: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for name, pairs in source_pairs(split, n, seed).items():
            hx = featurize(pairs, questions, hidden, cache, f"{split} {name}")
            out[name] = (np.asarray([p.label for p in pairs]), 1 / (1 + np.exp(-(hx @ direction))))
        return out

    threshold = None
    if args.calibrate_per_source:
        train = p_yes("train", args.calibrate_per_source, args.seed)
        ty, tp = (np.concatenate([v[i] for v in train.values()]) for i in (0, 1))
        threshold = best_threshold(ty, tp)
        print(f"threshold chosen on {len(ty)} train-side pairs: P(YES) >= {threshold:.4f} "
              f"(train balanced accuracy {balanced_accuracy(ty, tp, threshold):.3f})", flush=True)
    report = {}
    for name, (hy, zp) in p_yes("heldout", args.heldout_per_source, args.seed + 1).items():
        report[name] = {
            "n": len(hy), "zero_shot_auc": round(float(roc_auc_score(hy, zp)), 4),
            "zero_shot_balanced_accuracy": round(balanced_accuracy(hy, zp, 0.5), 4),
        }
        if threshold is not None:
            report[name]["balanced_accuracy_at_train_threshold"] = round(balanced_accuracy(hy, zp, threshold), 4)
        print(f"held-out {name}: {report[name]}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "zero_shot.json").write_text(
        json.dumps({"model": args.model, "train_threshold": threshold, "heldout": report}, indent=1) + "\n"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="local:qwen2.5-coder-0.5b", help="local GGUF model whose hidden state is probed")
    ap.add_argument("--per-source", type=int, default=400, help="train pairs per source (balanced)")
    ap.add_argument("--heldout-per-source", type=int, default=150, help="held-out pairs per source scored at the end (0 = none)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--n-ctx", type=int, default=1024, help="context of the hidden-state model (prompts are cut to fit)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cache", type=Path, default=ROOT / "artifacts" / "probe-features.npz")
    ap.add_argument(
        "--zero-shot-only", action="store_true",
        help="train nothing: score the model's own P(YES) read-out on the held-out pairs (the LLM judge baseline)",
    )
    ap.add_argument(
        "--calibrate-per-source", type=int, default=0,
        help="with --zero-shot-only: choose the P(YES) threshold on this many train-side pairs per source",
    )
    ap.add_argument("--out", type=Path, required=True, help="directory for model.json and manifest.json (or zero_shot.json)")
    args = ap.parse_args(argv)

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from agent.checksums import sha256_file
    from agent.llm.gguf_assets import resolve_local_model
    from agent.prompts import load_prompt
    from agent.settings import Settings

    if not args.model.startswith("local:"):
        ap.error("--model must be a local: GGUF model")
    settings = Settings()
    path = resolve_local_model(args.model.removeprefix("local:"), settings)
    hidden = HiddenStates(path, args.n_ctx, args.threads)
    questions = Questions(settings)
    cache = FeatureCache(args.cache)

    t0 = time.perf_counter()
    if args.zero_shot_only:
        return zero_shot_report(args, path, hidden, questions, cache)
    train = source_pairs("train", args.per_source, args.seed)
    xs, ys, srcs = [], [], []
    for name, pairs in train.items():
        xs.append(featurize(pairs, questions, hidden, cache, f"train {name}"))
        ys += [p.label for p in pairs]
        srcs += [name] * len(pairs)
    x, y = np.vstack(xs), np.asarray(ys)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    print(f"featurized {len(y)} train pairs in {time.perf_counter() - t0:.0f} s", flush=True)

    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    best = None
    for c in (0.001, 0.003, 0.01, 0.03, 0.1):
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
        p = cross_val_predict(clf, z, y, cv=folds, method="predict_proba")[:, 1]
        auc = roc_auc_score(y, p)
        print(f"C={c}: 5-fold AUC {auc:.3f}, BAcc@0.5 {balanced_accuracy(y, p, 0.5):.3f}", flush=True)
        if best is None or auc > best[1]:
            best = (c, auc, p)
    c, cv_auc, cv_p = best
    per_source_cv = {
        s: round(float(roc_auc_score(y[np.array(srcs) == s], cv_p[np.array(srcs) == s])), 4)
        for s in SOURCES if len(set(y[np.array(srcs) == s])) == 2
    }
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(z, y)
    coef = clf.coef_[0] / scale
    intercept = float(clf.intercept_[0] - np.dot(clf.coef_[0], mean / scale))
    threshold = 0.5  # balanced classes: 0.5 is the probe's own decision point

    direction = zero_shot_direction(path, hidden)
    zero_cv = round(float(roc_auc_score(y, x @ direction)), 4)
    print(f"zero-shot read-out (the {args.model} judge's P(YES)) on the train pairs: AUC {zero_cv:.3f}", flush=True)
    heldout: dict[str, dict] = {}
    if args.heldout_per_source:
        for name, pairs in source_pairs("heldout", args.heldout_per_source, args.seed + 1).items():
            hx = featurize(pairs, questions, hidden, cache, f"held-out {name}")
            hy = np.asarray([p.label for p in pairs])
            hp = 1 / (1 + np.exp(-(hx @ coef + intercept)))
            zp = 1 / (1 + np.exp(-(hx @ direction)))
            heldout[name] = {
                "n": len(hy), "auc": round(float(roc_auc_score(hy, hp)), 4),
                "balanced_accuracy": round(balanced_accuracy(hy, hp, threshold), 4),
                "zero_shot_auc": round(float(roc_auc_score(hy, zp)), 4),
                "zero_shot_balanced_accuracy": round(balanced_accuracy(hy, zp, 0.5), 4),
            }
            print(f"held-out {name}: {heldout[name]}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "model.json"
    model_path.write_text(json.dumps({"coef": [round(float(v), 7) for v in coef], "intercept": intercept}) + "\n")
    manifest = {
        "name": "citewise-probe-judge",
        "version": VERSION,
        "kind": "logistic regression over the LLM's last hidden state at the judge prompt",
        "base_model": args.model,
        "base_sha256": sha256_file(path),
        "prompt": load_prompt("judge_claim").version,
        "dim": int(hidden.dim),
        "n_ctx": args.n_ctx,
        "threshold": threshold,
        "training_data": {
            "split": "train side of evals/splits.py, balanced per source",
            "pairs": {name: len(p) for name, p in train.items()},
            "supported": int(y.sum()),
        },
        "hyperparameters": {"C": c, "class_weight": "balanced", "seed": args.seed, "per_source": args.per_source},
        "metrics": {
            "cv_auc": round(float(cv_auc), 4), "cv_auc_per_source": per_source_cv, "train_zero_shot_auc": zero_cv,
            "heldout": heldout,
        },
        "sha256": {"model.json": sha256_file(model_path)},
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {args.out} (C={c}, cv AUC {cv_auc:.3f}) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
