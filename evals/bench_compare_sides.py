"""Which papers a comparison is built from, against the gold papers: no model call, seconds to run.

Run:  .venv/bin/python evals/bench_compare_sides.py [--questions FILE ...] [--verbose]

For every compare question of the files (default: ``evals/questions.jsonl``,
``evals/compare_questions.jsonl`` and ``evals/described_compare_questions.jsonl``;
the second written on 2026-12-04 before the context-aware side resolution, to
check it on pairs it was not developed on; the third on 2026-12-08: papers
described rather than named, gold papers and no key points, n001-n012 written
first and that day's side rules developed on them, b001-b010 written before
those rules were run on them) it plans and retrieves the question as
``citewise ask`` does and takes the
papers the quote-built comparison writes about (``Composer._compare``: the
first ``answer.compare_papers`` hits, or one paper when the question is
planned as single). It prints, per file and split (tuning / our held-out part,
``evals/splits.py``): how many questions were planned as compare, the share of
gold papers among the compared ones (recall), the share of compared papers
that are gold (precision) and the share of questions with every gold paper
compared. Run it in an old checkout for the baseline (``git worktree``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.chain.classify import plan_question  # noqa: E402
from agent.chain.engine import AnswerEngine  # noqa: E402
from agent.ingest import title_key  # noqa: E402
from agent.settings import Settings  # noqa: E402
from evals.splits import is_heldout  # noqa: E402

DEFAULT_FILES = [ROOT / "evals" / n for n in ("questions.jsonl", "compare_questions.jsonl", "described_compare_questions.jsonl")]


def compared_papers(engine: AnswerEngine, question: str) -> tuple[str, list[str]]:
    """(planned type, titles of the papers the answer is written from) for a compare question."""
    assert engine.retriever is not None
    plan = plan_question(question, [], engine.retriever.names)
    hits = engine._retrieve(plan)
    if plan.qtype == "compare" and len(hits) >= 2:
        # plan.compared: how many sides the engine resolved to papers (older checkouts: answer.compare_papers)
        n = getattr(plan, "compared", 0) or max(2, engine.settings.answer.compare_papers)
        chosen = hits[:n]
    else:
        chosen = hits[:1]
    return plan.qtype, [h.paper.title for h in chosen]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=Path, nargs="*", default=DEFAULT_FILES)
    ap.add_argument("--verbose", action="store_true", help="print every question's compared papers")
    args = ap.parse_args(argv)
    engine = AnswerEngine(Settings())
    print(f"{'file':<26} {'part':<9} {'n':>3} {'as compare':>10} {'recall':>7} {'precision':>9} {'all gold':>8}")
    for path in args.questions:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r["type"] == "compare"]
        for part in ("tuning", "held-out"):
            mine = [r for r in rows if is_heldout("questions", r["qid"]) == (part == "held-out")]
            if not mine:
                continue
            as_compare = hit = total = chosen_n = complete = 0
            for r in mine:
                qtype, titles = compared_papers(engine, r["question"])
                gold = {title_key(t) for t in r["gold_titles"]}
                got = {title_key(t) for t in titles}
                as_compare += qtype == "compare"
                hit += len(gold & got)
                total += len(gold)
                chosen_n += len(got)
                complete += gold <= got
                if args.verbose:
                    mark = "ok " if gold <= got else "MISS"
                    print(f"  {mark} {r['qid']} [{qtype}] {r['question'][:70]}\n       -> " + " | ".join(t[:45] for t in titles))
            print(
                f"{path.name:<26} {part:<9} {len(mine):>3} {as_compare:>10} {hit / total:>7.3f} "
                f"{hit / max(chosen_n, 1):>9.3f} {complete / len(mine):>8.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
