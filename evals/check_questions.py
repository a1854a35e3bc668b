#!/usr/bin/env python3
"""Validate evals/questions.jsonl against the bundled corpus (stdlib only).

Usage:
    python3 evals/check_questions.py [--corpus PATH] [--questions PATH]

Fails loudly (exit status 1, one line per problem) when:
- a line is not a JSON object or lacks / mistypes a required field;
- a qid is duplicated or not of the form q<digits>;
- a type is not one of single | list | compare | summary | unanswerable;
- a gold or borderline title is not an exact corpus title;
- a title is listed twice, or as both gold and borderline;
- a list question has fewer than 2 gold titles, a compare question fewer
  than 2, or a single / summary question none;
- an answerable question has no key points;
- the set is smaller than 60 questions or has fewer than 15 paraphrased.
On success it prints counts by type and the number of paraphrased questions.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "agent" / "data" / "papers-page.txt"
DEFAULT_QUESTIONS = ROOT / "evals" / "questions.jsonl"

HEADER = re.compile(r"^Get trending papers in your email inbox")
TITLE_PREFIX = "Subscribe"
TYPES = {"single", "list", "compare", "summary", "unanswerable"}
REQUIRED = {
    "qid": str,
    "type": str,
    "question": str,
    "gold_titles": list,
    "key_points": list,
    "paraphrased": bool,
}
MIN_QUESTIONS = 60
MIN_PARAPHRASED = 15
MIN_GOLD = {"list": 2, "compare": 2, "single": 1, "summary": 1}


def load_titles(path: Path) -> list[str]:
    """Titles of the saved listing page: header lines dropped, then title/abstract pairs."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not HEADER.match(ln)]
    if len(lines) % 2:
        raise SystemExit(f"corpus {path}: odd number of title/abstract lines ({len(lines)})")
    titles = lines[0::2]
    if titles and titles[0].startswith(TITLE_PREFIX):
        titles[0] = titles[0][len(TITLE_PREFIX):]
    return titles


def check(questions_path: Path, titles: list[str]) -> tuple[list[str], list[dict]]:
    errors: list[str] = []
    records: list[dict] = []
    corpus = set(titles)
    seen_qids: dict[str, int] = {}
    for n, raw in enumerate(questions_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{questions_path.name}:{n}"
        try:
            q = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(q, dict):
            errors.append(f"{where}: not a JSON object")
            continue
        bad = False
        for key, typ in REQUIRED.items():
            if key not in q:
                errors.append(f"{where}: missing field {key!r}")
                bad = True
            elif not isinstance(q[key], typ):
                errors.append(f"{where}: field {key!r} should be {typ.__name__}")
                bad = True
        if "borderline_titles" in q and not isinstance(q["borderline_titles"], list):
            errors.append(f"{where}: field 'borderline_titles' should be list")
            bad = True
        if bad:
            continue
        qid = q["qid"]
        where = f"{where} ({qid})"
        if not re.fullmatch(r"q\d{3,}", qid):
            errors.append(f"{where}: qid should look like q001")
        if qid in seen_qids:
            errors.append(f"{where}: duplicate qid (first on line {seen_qids[qid]})")
        else:
            seen_qids[qid] = n
        qtype = q["type"]
        if qtype not in TYPES:
            errors.append(f"{where}: invalid type {qtype!r} (expected one of {sorted(TYPES)})")
        if not q["question"].strip():
            errors.append(f"{where}: empty question")
        gold = q["gold_titles"]
        border = q.get("borderline_titles", [])
        for field, items in (("gold_titles", gold), ("borderline_titles", border)):
            for t in items:
                if not isinstance(t, str):
                    errors.append(f"{where}: {field} entry is not a string: {t!r}")
                elif t not in corpus:
                    errors.append(f"{where}: {field} title not in corpus: {t!r}")
            dupes = [t for t, c in Counter(map(str, items)).items() if c > 1]
            if dupes:
                errors.append(f"{where}: {field} repeats {dupes}")
        both = set(map(str, gold)) & set(map(str, border))
        if both:
            errors.append(f"{where}: title(s) both gold and borderline: {sorted(both)}")
        need = MIN_GOLD.get(qtype)
        if need and len(gold) < need:
            errors.append(f"{where}: {qtype} question needs at least {need} gold title(s), has {len(gold)}")
        kps = q["key_points"]
        if any(not isinstance(k, str) or not k.strip() for k in kps):
            errors.append(f"{where}: key_points must be non-empty strings")
        if qtype in MIN_GOLD and not kps:
            errors.append(f"{where}: answerable question without key points")
        records.append(q)
    if len(records) < MIN_QUESTIONS:
        errors.append(f"only {len(records)} questions (need at least {MIN_QUESTIONS})")
    n_para = sum(1 for q in records if q.get("paraphrased") is True)
    if n_para < MIN_PARAPHRASED:
        errors.append(f"only {n_para} paraphrased questions (need at least {MIN_PARAPHRASED})")
    return errors, records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    args = ap.parse_args(argv)
    titles = load_titles(args.corpus)
    errors, records = check(args.questions, titles)
    if errors:
        for e in errors:
            print(f"ERROR: {e}", file=sys.stderr)
        print(f"FAILED: {len(errors)} problem(s) in {args.questions}", file=sys.stderr)
        return 1
    counts = Counter(q["type"] for q in records)
    n_para = sum(1 for q in records if q["paraphrased"])
    print(f"OK: {len(records)} questions over a corpus of {len(titles)} papers")
    print("by type: " + ", ".join(f"{t}={counts.get(t, 0)}" for t in sorted(TYPES)))
    print(f"paraphrased: {n_para}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
