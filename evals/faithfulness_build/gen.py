"""Assemble faithfulness eval cases from the cases_*.py data modules into JSONL.

Case spec (in cases_dev_N.py / cases_held_N.py, list CASES):
  q:     question
  ctx:   corpus indices (see corpus.py) of context papers, in display order
  s:     answer sentences; "[#12]" is replaced with "[<paper_id of corpus #12>]"
  label: "f" (faithful) or "u" (unfaithful)
  bad:   for "u", index of the one unsupported sentence in s
  kind:  for "u", the error kind
"""
import importlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402

KINDS = {"number", "wrong_attribution", "negation", "quantifier", "unsupported_entity", "uncited_paper_claim"}
REF = re.compile(r"\[#(\d+)\]")


def render(sentence, papers):
    return REF.sub(lambda m: "[" + papers[int(m.group(1))]["id"] + "]", sentence)


def join_sentences(sents):
    """One answer text: list items ("- ...") on their own lines, as models write them; prose joined by spaces."""
    out = sents[0]
    for s in sents[1:]:
        out += ("\n" if s.startswith("- ") else " ") + s
    return out


def build(prefix, modules, out):
    papers = corpus.load()
    rows = []
    for mod in modules:
        for c in importlib.import_module(mod).CASES:
            n = len(rows) + 1
            ctx_idx = c["ctx"]
            assert len(set(ctx_idx)) == len(ctx_idx), (mod, n)
            for s in c["s"]:
                assert REF.search(s) or re.search(r"\[p[0-9a-f]{8}\]", s), (mod, n, s)
                assert re.search(r"\]\.?$", s.rstrip()), (mod, n, s)
                cited = {int(x) for x in REF.findall(s)}
                if not cited <= set(ctx_idx):
                    assert c.get("kind") == "uncited_paper_claim", (mod, n, s)
            sents = [render(s, papers) for s in c["s"]]
            label = {"f": "faithful", "u": "unfaithful"}[c["label"]]
            if label == "faithful":
                unsup, kind = [], None
                assert "bad" not in c and "kind" not in c, (mod, n)
            else:
                unsup, kind = [sents[c["bad"]]], c["kind"]
                assert kind in KINDS, (mod, n)
            rows.append({
                "cid": f"{prefix}{n:03d}",
                "question": c["q"],
                "answer": join_sentences(sents),
                "contexts": [{"id": papers[i]["id"], "title": papers[i]["title"], "abstract": papers[i]["abstract"]} for i in ctx_idx],
                "label": label,
                "unsupported": unsup,
                "error_kind": kind,
            })
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return rows


def discover(stem):
    return sorted((p.stem for p in HERE.glob(f"{stem}_*.py")), key=lambda s: int(s.rsplit("_", 1)[1]))


if __name__ == "__main__":
    root = HERE.parents[1] / "evals"
    sets = [
        ("fd", "cases_dev", "faithfulness_dev.jsonl"),
        ("fe", "cases_dev2", "faithfulness_dev2.jsonl"),  # a second dev set, written after the checker was tuned on the first
        ("fh", "cases_held", "faithfulness_heldout.jsonl"),
    ]
    for prefix, stem, name in sets:
        mods = discover(stem)
        if mods:
            rows = build(prefix, mods, root / name)
            print(name, len(rows), "cases from", mods)
