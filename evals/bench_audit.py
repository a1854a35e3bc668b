"""Benchmark ``citewise audit`` on external development data (read at run time from ../shared/external).

(a) Citation-Integrity (citing sentences from biomedical papers vs the cited
    paper's text; labels SUPPORT / REFUTE / none = not enough info): accuracy
    and balanced accuracy of "supported by the cited paper" vs not, on the
    held-out 20% (``evals/splits.py``), with baselines in the same run:
    "always supported" and word overlap (its threshold chosen on the other 80%).
(b) SciFact: for claims with SUPPORT evidence, a library of their gold
    abstracts plus ``--distractors`` other abstracts is indexed; each claim is
    audited uncited and we count how often a gold abstract is among the top-3
    better-source suggestions (and, for reference, among the top-3 retrieved).
(c) Timing: a 2,000-word draft with 60 citations built from the bundled corpus.

    python evals/bench_audit.py --ci-limit 200 --scifact-limit 40 --distractors 500
    python evals/bench_audit.py --parts ci --ci-split all

Claim placeholders of Citation-Integrity (``[<|cit|>]``, ``<|multi_cit|>``,
numbered references) are removed before checking.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from agent.audit import Auditor, DraftSentence, parse_draft  # noqa: E402
from agent.audit.audit import claim_text  # noqa: E402
from agent.settings import Settings  # noqa: E402
from agent.types import Paper  # noqa: E402
from evals.splits import is_heldout  # noqa: E402

EXTERNAL = ROOT.parent / "shared" / "external"
if not EXTERNAL.is_dir():
    EXTERNAL = Path("/work/shared/external")
_CIT_GROUP = re.compile(r"[\[(][^\[\]()]*<\|(?:multi_)?cit\|>[^\[\]()]*[\])]")
_CIT = re.compile(r"<\|(?:multi_)?cit\|>")
_NUM_REF = re.compile(r"\s*[\[(]\s*\d+(?:\s*[,–-]\s*\d+)*\s*[\])]")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("the a an of in on for to and or with by from as at is are was were be been that this these those which".split())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def clean_claim(text: str) -> str:
    text = _CIT_GROUP.sub("", text)
    text = _NUM_REF.sub("", _CIT.sub("", text))
    return re.sub(r"\s+([.,;:])", r"\1", " ".join(text.split()))


class LibraryStub:
    """What :class:`Auditor` needs of a retriever when only the cited papers matter."""

    def __init__(self, papers: dict[str, Paper]) -> None:
        self.papers = papers

    def search(self, query: str, k: int | None = None) -> list:
        return []


def overlap(claim: str, doc: str) -> float:
    words = [w for w in _WORD.findall(claim.lower()) if w not in _STOP and len(w) > 2]
    have = set(_WORD.findall(doc.lower()))
    return sum(w in have for w in words) / len(words) if words else 0.0


def binary_metrics(gold: list[bool], pred: list[bool]) -> dict[str, float]:
    tp = sum(g and p for g, p in zip(gold, pred))
    tn = sum((not g) and (not p) for g, p in zip(gold, pred))
    pos = sum(gold)
    neg = len(gold) - pos
    tpr = tp / pos if pos else float("nan")
    tnr = tn / neg if neg else float("nan")
    flagged = sum(not p for p in pred)
    return {
        "n": len(gold),
        "accuracy": (tp + tn) / len(gold) if gold else float("nan"),
        "balanced_accuracy": (tpr + tnr) / 2,
        "recall_supported": tpr,
        "recall_not_supported": tnr,
        "precision_not_supported": tn / flagged if flagged else float("nan"),
    }


def citation_integrity(args: argparse.Namespace, settings: Settings) -> list[tuple[str, dict]]:
    from agent.faithfulness import FaithfulnessChecker

    base = EXTERNAL / "citation-integrity"
    docs = {str(d["doc_id"]): d for d in read_jsonl(base / "corpus.jsonl")}
    claims = read_jsonl(base / "claims_train.jsonl")
    dev = [c for c in claims if not is_heldout("citation-integrity", c["id"])]
    test = [c for c in claims if is_heldout("citation-integrity", c["id"])] if args.ci_split == "heldout" else claims
    if args.ci_split == "dev":
        test = dev
    if args.ci_limit:
        test = random.Random(args.seed).sample(test, min(args.ci_limit, len(test)))

    def item(c: dict) -> tuple[str, str, str, bool]:
        did = str(c["cited_doc_ids"][0])
        labels = [e["label"] for e in c["evidence"].get(did, [])]
        return clean_claim(c["claim"]), f"ci{did}", " ".join(docs[did]["abstract"]), "SUPPORT" in labels

    # word-overlap baseline: threshold with the best balanced accuracy on the 80% dev part
    dev_items = [item(c) for c in dev]
    dev_scores = [overlap(t, d) for t, _, d, _ in dev_items]
    dev_gold = [g for *_, g in dev_items]
    best_t = max((t / 100 for t in range(5, 100, 5)),
                 key=lambda t: binary_metrics(dev_gold, [s >= t for s in dev_scores])["balanced_accuracy"])

    items = [item(c) for c in test]
    gold = [g for *_, g in items]
    rows = [("always supported", binary_metrics(gold, [True] * len(gold)))]
    rows.append((f"word overlap >= {best_t:.2f} (tuned on dev 80%)", binary_metrics(gold, [overlap(t, d) >= best_t for t, _, d, _ in items])))
    for mode in args.modes.split(","):
        judge = None
        if mode == "thorough":
            from agent.faithfulness import load_judge

            judge = load_judge(None, settings)
        checker = FaithfulnessChecker(settings, judge=judge)

        def run(batch: list[tuple[str, str, str, bool]]) -> list:
            lib = {pid: Paper(id=pid, title=docs[pid[2:]].get("title") or "", abstract=doc) for _, pid, doc, _ in batch}
            auditor = Auditor(settings, LibraryStub(lib), checker, mode)
            out = []
            for text, pid, _, _ in batch:
                sentence = DraftSentence(line=1, text=text, citations=[pid], claim=text)
                out.append(auditor.support(claim_text(sentence) or text, [pid]))
            return out

        t0 = time.perf_counter()
        got = run(items)
        m = binary_metrics(gold, [g.supported for g in got])
        m["s_per_claim"] = (time.perf_counter() - t0) / max(len(items), 1)
        rows.append((f"audit ({mode} checker)", m))
        if args.tune_limit:
            # the checker's score with a threshold chosen on a sample of the dev 80% (audit.support_threshold)
            sample = random.Random(args.seed + 1).sample(dev_items, min(args.tune_limit, len(dev_items)))
            dev_got = run(sample)
            sg = [g for *_, g in sample]
            t_best = max((t / 100 for t in range(0, 101, 5)),
                         key=lambda t: binary_metrics(sg, [x.score >= t for x in dev_got])["balanced_accuracy"])
            rows.append((f"audit ({mode}), score >= {t_best:.2f} (tuned on {len(sample)} dev claims)",
                         binary_metrics(gold, [g.score >= t_best for g in got])))
    return rows


def scifact(args: argparse.Namespace, settings: Settings) -> list[tuple[str, dict]]:
    from agent.audit import open_auditor
    from agent.index import index_corpus, open_store
    from agent.retrieval import open_retriever

    base = EXTERNAL / "scifact"
    corpus = {str(d["doc_id"]): d for d in read_jsonl(base / "corpus.jsonl")}
    claims = [c for c in read_jsonl(base / "claims_train.jsonl")
              if any(e["label"] == "SUPPORT" for ev in c["evidence"].values() for e in ev)]
    if args.scifact_split == "heldout":
        claims = [c for c in claims if is_heldout("scifact", c["id"])]
    if args.scifact_limit:
        claims = random.Random(args.seed).sample(claims, min(args.scifact_limit, len(claims)))
    gold = {c["id"]: {f"sf{d}" for d, ev in c["evidence"].items() if any(e["label"] == "SUPPORT" for e in ev)} for c in claims}
    wanted = {g[2:] for s in gold.values() for g in s}
    others = sorted((d for d in corpus if d not in wanted), key=int)
    others = random.Random(args.seed).sample(others, min(args.distractors, len(others)))
    home = Path(args.scifact_home or tempfile.mkdtemp(prefix="citewise-bench-audit-"))
    home.mkdir(parents=True, exist_ok=True)
    lib = home / "scifact-library.jsonl"
    with lib.open("w", encoding="utf-8") as fh:
        for d in sorted(wanted | set(others), key=int):
            doc = corpus[d]
            fh.write(json.dumps({"id": f"sf{d}", "title": doc["title"], "abstract": " ".join(doc["abstract"])}) + "\n")
    s = settings.with_overrides(home=home)
    t0 = time.perf_counter()
    index_corpus(open_store(s), [lib], s)
    index_s = time.perf_counter() - t0
    retriever = open_retriever(s, auto_index=False)
    auditor = open_auditor(s, "fast", retriever=retriever)
    hit3 = conf3 = ret3 = retk = 0
    verdicts: dict[str, int] = {}
    t0 = time.perf_counter()
    for c in claims:
        text = c["claim"]
        row = auditor.audit_sentence(DraftSentence(line=1, text=text, citations=[], claim=text))
        verdicts[row.verdict] = verdicts.get(row.verdict, 0) + 1
        g = gold[c["id"]]
        hit3 += bool(g & {x.id for x in row.suggestions[:3]})
        conf3 += bool(g & {x.id for x in [x for x in row.suggestions if x.confirmed][:3]})
        hits = [h.paper.id for h in retriever.search(text, settings.audit.candidates)]
        ret3 += bool(g & set(hits[:3]))
        retk += bool(g & set(hits))
    n = max(len(claims), 1)
    return [
        ("audit: gold in top-3 suggestions (confirmed first, then close ones)", {"n": len(claims), "rate": hit3 / n}),
        ("audit: gold in top-3 confirmed suggestions only", {"n": len(claims), "rate": conf3 / n}),
        ("baseline: gold in top-3 retrieved (no check)", {"n": len(claims), "rate": ret3 / n}),
        (f"gold among the {settings.audit.candidates} candidates checked", {"n": len(claims), "rate": retk / n}),
        ("library / timing", {"papers": len(wanted) + len(others), "index_s": index_s, "s_per_claim": (time.perf_counter() - t0) / n,
                              **{f"verdict {k}": v for k, v in sorted(verdicts.items())}}),
    ]


def timing(args: argparse.Namespace, settings: Settings) -> list[tuple[str, dict]]:
    """A ~2,000-word draft of abstract sentences: 60 cited (45 to their paper, 15 to another), the rest uncited."""
    from agent.audit import open_auditor
    from agent.index import index_corpus, open_store
    from agent.retrieval import open_retriever
    from agent.sentences import split_sentences

    home = Path(args.bundled_home or tempfile.mkdtemp(prefix="citewise-bench-audit-"))
    s = settings.with_overrides(home=home)
    store = open_store(s)
    if store.count() == 0:
        index_corpus(store, None, s)
    rng = random.Random(args.seed)
    papers = store.all_papers()
    pool = [(p.id, x) for p in papers for x in split_sentences(p.abstract) if 12 <= len(x.split()) <= 40]
    rng.shuffle(pool)
    lines, words, cited = [], 0, 0
    for pid, sent in pool:
        if words >= 2000:
            break
        if cited < 60:
            target = pid if cited % 4 else rng.choice(papers).id
            lines.append(f"{sent.rstrip('.')} [{target}].")
            cited += 1
        else:
            lines.append(sent)
        words += len(sent.split())
    draft = parse_draft("\n".join(lines), "plain")
    t0 = time.perf_counter()
    auditor = open_auditor(s, "fast", retriever=open_retriever(s, auto_index=False))
    report = auditor.audit(draft)
    cold = time.perf_counter() - t0
    return [("2,000-word draft, 60 citations (fast)", {"words": words, "sentences": len(draft.sentences),
                                                       "citations": cited, "seconds": cold, **report.summary()})]


def table(title: str, rows: list[tuple[str, dict]]) -> str:
    keys = list(dict.fromkeys(k for _, m in rows for k in m))
    out = [f"\n### {title}\n", "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, m in rows:
        cells = [f"{m[k]:.3f}" if isinstance(m.get(k), float) else str(m.get(k, "")) for k in keys]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="ci,scifact,timing", help="comma-separated: ci, scifact, timing")
    ap.add_argument("--modes", default="fast", help="checker modes for Citation-Integrity: fast,thorough")
    ap.add_argument("--ci-split", default="heldout", choices=["heldout", "dev", "all"])
    ap.add_argument("--ci-limit", type=int, default=None, help="sample this many Citation-Integrity claims")
    ap.add_argument("--tune-limit", type=int, default=0, help="also pick a checker-score threshold on this many dev claims")
    ap.add_argument("--scifact-split", default="heldout", choices=["heldout", "all"])
    ap.add_argument("--scifact-limit", type=int, default=None, help="sample this many SciFact SUPPORT claims")
    ap.add_argument("--distractors", type=int, default=2000, help="SciFact abstracts indexed besides the gold ones")
    ap.add_argument("--scifact-home", default=None, help="CITEWISE_HOME for the SciFact library (reused if indexed)")
    ap.add_argument("--bundled-home", default=None, help="CITEWISE_HOME holding the bundled corpus (for timing)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)
    settings = Settings()
    results: dict[str, list] = {}
    parts = args.parts.split(",")
    if "ci" in parts:
        results["Citation-Integrity: supported by the cited paper"] = citation_integrity(args, settings)
    if "scifact" in parts:
        results["SciFact: supporting paper proposed for an uncited claim"] = scifact(args, settings)
    if "timing" in parts:
        results["Timing"] = timing(args, settings)
    for title, rows in results.items():
        print(table(title, rows), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
