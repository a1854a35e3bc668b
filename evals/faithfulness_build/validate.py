"""Validate evals/faithfulness_dev.jsonl, faithfulness_dev2.jsonl and faithfulness_heldout.jsonl.

Checks: JSON shape; context ids == paper_id(title) of real corpus papers with matching
clean_display abstracts; citation markers; every "unsupported" sentence verbatim in its
answer; label/unsupported/error_kind consistency; label balance; error-kind spread;
no (paper set + question) overlap between either dev set and heldout (and no shared papers at all).
Exit status 1 on any error.
"""
import collections
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402
from agent.ingest.normalize import paper_id  # noqa: E402
from agent.sentences import split_sentences  # noqa: E402

EVALS = HERE.parents[0]
FILES = {
    "dev": (EVALS / "faithfulness_dev.jsonl", "fd", 70),
    "dev2": (EVALS / "faithfulness_dev2.jsonl", "fe", 70),
    "heldout": (EVALS / "faithfulness_heldout.jsonl", "fh", 40),
}
KINDS = ["number", "wrong_attribution", "negation", "quantifier", "unsupported_entity", "uncited_paper_claim"]
KEYS = {"cid", "question", "answer", "contexts", "label", "unsupported", "error_kind"}
CITE = re.compile(r"\[(p[0-9a-f]{8})\]")

errors = []


def err(msg):
    errors.append(msg)


def sentences(answer):
    """The answer's sentences as the checker splits them (abbreviations such as "U.S." do not end one)."""
    return split_sentences(answer)


def check_file(name, path, prefix, minimum, by_id):
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) < minimum:
        err(f"{name}: {len(rows)} cases < {minimum}")
    seen_cids = set()
    for i, r in enumerate(rows, 1):
        cid = r.get("cid")
        where = f"{name}:{cid}"
        if set(r) != KEYS:
            err(f"{where}: keys {sorted(r)}")
            continue
        if cid != f"{prefix}{i:03d}" or cid in seen_cids:
            err(f"{where}: bad/duplicate cid (expected {prefix}{i:03d})")
        seen_cids.add(cid)
        if not (isinstance(r["question"], str) and r["question"].strip()):
            err(f"{where}: empty question")
        ctx = r["contexts"]
        if not isinstance(ctx, list) or not ctx:
            err(f"{where}: contexts must be a non-empty list")
            continue
        ctx_ids = []
        for c in ctx:
            if set(c) != {"id", "title", "abstract"}:
                err(f"{where}: context keys {sorted(c)}")
                continue
            if c["id"] != paper_id(c["title"]):
                err(f"{where}: id {c['id']} != paper_id(title)")
            p = by_id.get(c["id"])
            if p is None or p["title"] != c["title"]:
                err(f"{where}: {c['id']} not a corpus paper")
            elif p["abstract"] != c["abstract"]:
                err(f"{where}: abstract mismatch for {c['id']}")
            ctx_ids.append(c["id"])
        if len(set(ctx_ids)) != len(ctx_ids):
            err(f"{where}: duplicate context ids")
        sents = sentences(r["answer"])
        if not 1 <= len(sents) <= 5:
            err(f"{where}: {len(sents)} answer sentences")
        cited_any = set()
        for s in sents:
            cites = CITE.findall(s)
            if not cites or not re.search(r"\]\.?$", s):
                err(f"{where}: sentence lacks trailing citation: {s[:60]}")
            cited_any.update(cites)
        outside = cited_any - set(ctx_ids)
        label, unsup, kind = r["label"], r["unsupported"], r["error_kind"]
        if label not in ("faithful", "unfaithful"):
            err(f"{where}: label {label!r}")
        if not isinstance(unsup, list):
            err(f"{where}: unsupported must be a list")
            continue
        if label == "faithful":
            if unsup or kind is not None:
                err(f"{where}: faithful case with unsupported/error_kind")
            if outside:
                err(f"{where}: faithful case cites ids outside contexts {outside}")
            if not cited_any & set(ctx_ids):
                err(f"{where}: no context paper cited")
        else:
            if len(unsup) != 1:
                err(f"{where}: unfaithful case must list exactly one unsupported sentence")
            if kind not in KINDS:
                err(f"{where}: error_kind {kind!r}")
            for u in unsup:
                if u not in r["answer"] or u not in sents:
                    err(f"{where}: unsupported sentence not verbatim in answer: {u[:60]}")
            if kind == "uncited_paper_claim":
                if not any(set(CITE.findall(u)) - set(ctx_ids) for u in unsup):
                    err(f"{where}: uncited_paper_claim without out-of-context citation")
            elif outside:
                err(f"{where}: cites ids outside contexts but kind is {kind}")
            if kind == "wrong_attribution":
                if not all(set(CITE.findall(u)) <= set(ctx_ids) for u in unsup) or len(ctx_ids) < 2:
                    err(f"{where}: wrong_attribution needs >=2 contexts and in-context citations")
            # the unsupported sentence should be the only one citing outside ids
            for s in sents:
                if s not in unsup and set(CITE.findall(s)) - set(ctx_ids):
                    err(f"{where}: supported sentence cites outside ids")
    labels = collections.Counter(r["label"] for r in rows)
    kinds = collections.Counter(r["error_kind"] for r in rows if r["label"] == "unfaithful")
    if abs(labels["faithful"] - labels["unfaithful"]) > max(2, len(rows) // 20):
        err(f"{name}: labels unbalanced {dict(labels)}")
    if set(kinds) != set(KINDS) or max(kinds.values()) - min(kinds.values()) > 1:
        err(f"{name}: error kinds not evenly spread {dict(kinds)}")
    return rows, labels, kinds


def main():
    papers = corpus.load()
    by_id = {p["id"]: p for p in papers}
    if len(by_id) != len(papers):
        err("corpus paper ids collide")
    results = {}
    for name, (path, prefix, minimum) in FILES.items():
        results[name] = check_file(name, path, prefix, minimum, by_id)
    def keyset(rows):
        return {(frozenset(c["id"] for c in r["contexts"]), r["question"].strip().lower()) for r in rows}
    held = results["heldout"][0]
    dev = results["dev"][0] + results["dev2"][0]
    if keyset(dev) & keyset(held):
        err("dev/heldout share a (paper set, question) pair")
    if {r["question"].strip().lower() for r in dev} & {r["question"].strip().lower() for r in held}:
        err("dev/heldout share a question")
    dev_papers = {c["id"] for r in dev for c in r["contexts"]}
    held_papers = {c["id"] for r in held for c in r["contexts"]}
    shared = dev_papers & held_papers
    if shared:
        err(f"dev/heldout share context papers: {sorted(shared)}")
    for name, (rows, labels, kinds) in results.items():
        print(f"{name}: {len(rows)} cases, labels {dict(labels)}, kinds {dict(sorted(kinds.items()))}")
    print(f"papers: dev {len(dev_papers)}, heldout {len(held_papers)}, shared {len(shared)}")
    if errors:
        print(f"{len(errors)} ERROR(S):")
        for e in errors[:50]:
            print(" -", e)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
