"""Quote picking on data we did not write: does the picker choose the sentences SciFact's annotators marked?

SciFact (claims_train.jsonl, read from ../shared/external at run time) marks,
for each claim and cited abstract, the rationale sentences that support or
contradict it. For every (claim, abstract) pair with rationales this runs the
shipped quote picker (``agent.chain.quotes.pick_quotes``: the packaged MiniLM
cosine plus the lexical share, and the sentence-role prior at each
``--role-weights`` value) on the abstract, as the answer pipeline does, and
reports:

* hit@1 - the best-matching sentence (the one a single answer is written from
  and shown as the quote) is a rationale sentence;
* hit@2 / hit@3 - any of the 2 (list/summary quotes) or 3 (single-answer
  quotes) picked sentences is one.

A picked sentence counts as a rationale when it is one of the rationale
sentences (our splitter and SciFact's agree on most; an overlap of either's
text inside the other counts). Rows for weight 0 are the baseline, in the same
run; ``--position-control`` adds rows for a prior that is only the sentence's
relative position (0 first, 1 last), to show what the learned model adds
beyond "later sentences are findings". Claims are split by ``evals/splits.py`` (source ``scifact``, the claim
id): choose ``answer.role_weight`` on the tuning part, report the held-out part.

    .venv/bin/python evals/bench_quotes.py [--role-weights 0 0.05 0.1 0.15 0.2 0.3] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from evals.splits import is_heldout  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "external" / "scifact"
AT = (1, 2, 3)


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def pairs(limit: int = 0) -> list[tuple[int, str, dict, set[int]]]:
    """(claim id, claim, corpus doc, rationale sentence indices) for every claim-abstract pair with rationales."""
    docs = {d["doc_id"]: d for d in map(json.loads, (SCIFACT / "corpus.jsonl").open(encoding="utf-8"))}
    out = []
    for claim in map(json.loads, (SCIFACT / "claims_train.jsonl").open(encoding="utf-8")):
        for doc_id, sets in sorted(claim["evidence"].items()):
            doc = docs.get(int(doc_id))
            rationale = {i for s in sets for i in s["sentences"]}
            if doc and rationale:
                out.append((claim["id"], claim["claim"], doc, rationale))
    return out[:limit] if limit else out


def is_rationale(sentence: str, doc: dict, rationale: set[int]) -> bool:
    mine = _norm(sentence)
    for i in rationale:
        theirs = _norm(doc["abstract"][i])
        if mine and theirs and (mine in theirs or theirs in mine):
            return True
    return False


class PositionPrior:
    """The control prior: a sentence's relative position in its abstract (0 first, 1 last)."""

    version = "position"

    def own_work(self, vecs):
        import numpy as np

        return np.linspace(0.0, 1.0, len(vecs)) if len(vecs) > 1 else np.ones(len(vecs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role-weights", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5])
    ap.add_argument("--lexical-weight", type=float, default=0.3, help="the picker's lexical share weight (shipped: 0.3)")
    ap.add_argument("--position-control", action="store_true", help="also score a position-only prior at the same weights")
    ap.add_argument("--limit", type=int, default=0, help="first N claim-abstract pairs only (a quick look)")
    args = ap.parse_args()

    import numpy as np

    from agent.chain.evidence import EvidenceSelector
    from agent.chain.quotes import pick_quotes
    from agent.chain.roles import get_role_model
    from agent.index.embeddings import sentence_embedder_for
    from agent.settings import Settings
    from agent.types import Paper

    settings = Settings()
    roles = get_role_model()
    if roles.sentence_model != settings.index.sentence_model:
        raise SystemExit(f"the role model reads {roles.sentence_model} vectors; index.sentence_model is {settings.index.sentence_model}")
    embedder = sentence_embedder_for(settings)
    priors = {"roles": EvidenceSelector(embedder, roles=roles)}
    if args.position_control:
        priors["position"] = EvidenceSelector(embedder, roles=PositionPrior())
    items = pairs(args.limit)
    t0 = time.perf_counter()
    claim_vecs = embedder.embed([c for _, c, _, _ in items])
    # hits[part][(prior, weight)][k] -> list of 0/1
    rows = [(prior, w) for prior in priors for w in args.role_weights if prior == "roles" or w]
    hits: dict[str, dict[tuple[str, float], dict[int, list[int]]]] = {
        part: {row: {k: [] for k in AT} for row in rows} for part in ("tuning", "held-out")
    }
    sizes: dict[str, int] = {"tuning": 0, "held-out": 0}
    for n, ((cid, claim, doc, rationale), qvec) in enumerate(zip(items, claim_vecs, strict=True), 1):
        part = "held-out" if is_heldout("scifact", cid) else "tuning"
        sizes[part] += 1
        paper = Paper(id=str(doc["doc_id"]), title=doc["title"], abstract=" ".join(doc["abstract"]))
        for prior, w in rows:
            for k in AT:
                q = pick_quotes(priors[prior], claim, paper, k, np.asarray(qvec), args.lexical_weight, role_weight=w)
                picked = [q.best] if k == 1 else q.sentences
                hits[part][(prior, w)][k].append(int(any(is_rationale(s, doc, rationale) for s in picked)))
        if n % 100 == 0:
            print(f"  {n}/{len(items)} pairs, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    rationale_share = np.mean([len(r) / len(d["abstract"]) for _, _, d, r in items])
    print(f"SciFact claims_train: {len(items)} claim-abstract pairs with rationales "
          f"(tuning {sizes['tuning']}, held-out {sizes['held-out']}); a random sentence is a rationale "
          f"{rationale_share:.2f} of the time; role model {roles.version}; lexical weight {args.lexical_weight}")
    for part in ("tuning", "held-out"):
        print(f"\n{part} ({sizes[part]} pairs)\n  prior      weight   " + "   ".join(f"hit@{k}" for k in AT))
        for prior, w in rows:
            cells = "   ".join(f"{np.mean(hits[part][(prior, w)][k]):.3f}" for k in AT)
            print(f"  {prior if w else 'none':9}  {w:6.2f}   {cells}{'   (baseline)' if w == 0 else ''}")


if __name__ == "__main__":
    main()
