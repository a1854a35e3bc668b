"""PubMedQA as an outside sanity check of the faithfulness checker.

Each PubMedQA (PQA-L) item is one abstract cut in two: CONTEXTS (background,
methods, results) and LONG_ANSWER (the authors' conclusion). On the
development split (the 500 ids NOT in test_ground_truth.json) this script
checks, for a fixed-seed random sample of items:

* positive: the conclusion, each sentence cited to the item's own paper, against
  that paper's CONTEXTS -> it should mostly PASS (verdict "faithful");
* negative: the same conclusion cited to another paper, against a different
  random abstract of the dev split -> it should FAIL.

The paper is given without a title (PubMedQA has none; its QUESTION is derived
from the conclusion and would leak it). Only that one paper is in the
contexts, so the negatives test the checker's support judgement, not its
"cited to the wrong paper" check. PubMedQA conclusions legitimately
generalise ("may be useful", "should be considered"), so a checker that is
strict with research-summary answers fails some of them: the pass rate is a
measure of how often that happens on real, expert-written text.

    python evals/pubmedqa_faithfulness.py                  # fast mode, 200 items, seed 13
    python evals/pubmedqa_faithfulness.py --n 50 --modes fast,thorough
"""

from __future__ import annotations

import argparse
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

from agent.faithfulness.checker import FaithfulnessChecker  # noqa: E402
from agent.faithfulness.judge import DEFAULT_JUDGE_MODEL, ClaimJudge  # noqa: E402
from agent.sentences import split_sentences  # noqa: E402

DATA = Path(os.environ.get("PUBMEDQA_DIR", "/work/shared/external/pubmedqa"))


def load_dev(data: Path) -> dict[str, dict]:
    items = json.loads((data / "ori_pqal.json").read_text(encoding="utf-8"))
    test = json.loads((data / "test_ground_truth.json").read_text(encoding="utf-8"))
    return {pmid: item for pmid, item in items.items() if pmid not in test}


def cite(conclusion: str, pid: str) -> str:
    """Every sentence of ``conclusion`` cited to ``pid`` (the marker goes before the final stop)."""
    out = []
    for s in split_sentences(conclusion):
        s = s.rstrip()
        out.append(f"{s[:-1]} [{pid}]{s[-1]}" if s[-1:] in ".!?" else f"{s} [{pid}].")
    return " ".join(out)


def make_pairs(dev: dict[str, dict], n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    ids = sorted(dev)
    sample = rng.sample(ids, min(n, len(ids)))
    pairs = []
    for pmid in sample:
        other = rng.choice([i for i in ids if i != pmid])
        pairs.append({"pmid": pmid, "other": other})
    return pairs


def context(item: dict) -> str:
    return " ".join(c.strip() for c in item["CONTEXTS"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="items sampled from the dev split (default 200)")
    ap.add_argument("--seed", type=int, default=13, help="sampling seed (default 13)")
    ap.add_argument("--modes", default="fast", help="comma-separated: fast,thorough")
    ap.add_argument("--judge-model", default=None, help=f"judge for thorough mode (default {DEFAULT_JUDGE_MODEL})")
    ap.add_argument("--json-out", type=Path, default=None, help="write per-item verdicts and reasons here")
    args = ap.parse_args(argv)

    dev = load_dev(DATA)
    pairs = make_pairs(dev, args.n, args.seed)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    from agent.settings import Settings

    settings = Settings()
    judge = None
    if "thorough" in modes:
        from agent.llm import load_llm

        judge = ClaimJudge(load_llm(args.judge_model or settings.faithfulness.judge_model or DEFAULT_JUDGE_MODEL, settings))
    checker = FaithfulnessChecker(settings, judge=judge)
    checker.embed(["warm-up"])

    details: list[dict] = []
    print(f"PubMedQA dev split: {len(dev)} items; sample n={len(pairs)}, seed={args.seed}\n")
    print("| mode | own abstract: pass rate | other abstract: fail rate | balanced | s/answer |")
    print("|---|---|---|---|---|")
    for mode in modes:
        pos_pass = neg_fail = 0
        secs = 0.0
        for k, pr in enumerate(pairs, 1):
            item, other = dev[pr["pmid"]], dev[pr["other"]]
            conclusion = " ".join(item["LONG_ANSWER"].split())
            t0 = time.perf_counter()
            pos = checker.check(cite(conclusion, pr["pmid"]), {pr["pmid"]: ("", context(item))}, mode=mode)
            neg = checker.check(cite(conclusion, pr["other"]), {pr["other"]: ("", context(other))}, mode=mode)
            secs += time.perf_counter() - t0
            pos_pass += pos.verdict.verdict == "faithful"
            neg_fail += neg.verdict.verdict == "unfaithful"
            details.append(
                {
                    "mode": mode, "pmid": pr["pmid"], "other": pr["other"],
                    "own": pos.verdict.verdict, "own_score": pos.verdict.score,
                    "own_flagged": [(s.text, s.reason) for s in pos.sentences if not s.supported],
                    "other_verdict": neg.verdict.verdict, "other_score": neg.verdict.score,
                }
            )
            if k % 25 == 0:
                print(f"  [{mode}] {k}/{len(pairs)}", file=sys.stderr, flush=True)
        n = len(pairs)
        print(
            f"| {mode} | {pos_pass / n:.3f} ({pos_pass}/{n}) | {neg_fail / n:.3f} ({neg_fail}/{n}) "
            f"| {(pos_pass + neg_fail) / (2 * n):.3f} | {secs / (2 * n):.2f} |",
            flush=True,
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(details, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
