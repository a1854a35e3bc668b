"""Labelled (evidence, claim) pairs for the learned claim verifier, read from ../shared/external at run time.

Every source is split by :func:`evals.splits.is_heldout` on the item's own id
(SciFact / Citation-Integrity claim id, HealthVer claim text, COVID-Fact claim
text, ...), so the same claim never sits on both sides. ``load_pairs(split)``
returns the real labelled pairs; :func:`synthetic_pairs` adds the FactCC /
MiniCheck-style perturbations of real corpus sentences (numbers swapped,
negation, quantifier escalation, added cause, reversed direction, swapped
names, a finding moved to another paper) with matching positives (the
sentence itself inside a window, a sub-clause, two sentences fused).

A pair is ``Pair(evidence, claim, label, source, kind)``: label 1 = the
evidence supports the claim, 0 = it does not (contradicts or is silent).
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.splits import is_heldout  # noqa: E402

EXTERNAL = ROOT.parent / "shared" / "external"
#: Sentences of evidence in one pair at most (the verifier reads short windows).
MAX_EVIDENCE_SENTENCES = 3


@dataclass(frozen=True)
class Pair:
    evidence: str
    claim: str
    label: int
    source: str
    kind: str = "real"


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _wanted(split: str, source: str, item_id: object) -> bool:
    held = is_heldout(source, item_id)
    return held if split == "heldout" else not held


_WORD = re.compile(r"[a-z0-9]+")


def _overlap_rank(claim: str, sentences: list[str]) -> list[int]:
    """Sentence indices, most word overlap with the claim first (for 'not enough info' evidence)."""
    cw = set(_WORD.findall(claim.lower()))
    scores = [(len(cw & set(_WORD.findall(s.lower()))), -i) for i, s in enumerate(sentences)]
    return [-i for _, i in sorted(scores, reverse=True)]


def _window(sentences: list[str], idx: list[int]) -> str:
    return " ".join(sentences[i] for i in sorted(idx)[:MAX_EVIDENCE_SENTENCES])


def scifact_format(
    split: str, source: str, claims_path: Path, corpus_path: Path, rng: random.Random, *, abstract_level: bool = False
) -> list[Pair]:
    """SciFact-format claims (SciFact, Citation-Integrity): rationale windows, plus NEI windows as negatives.

    ``abstract_level`` instead yields one pair per (claim, cited abstract) with
    the whole abstract as evidence — the benchmark's claim-vs-gold-abstract task.
    """
    corpus = {str(d["doc_id"]): d for d in _jsonl(corpus_path)}
    out: list[Pair] = []
    for c in _jsonl(claims_path):
        if not _wanted(split, source, c["id"]):
            continue
        claim = re.sub(r"\s*\[?<\|(multi_)?cit\|>[^\]]*\]?", "", c["claim"]).strip()
        evidence = c.get("evidence") or {}
        for doc_id in [str(d) for d in c.get("cited_doc_ids", [])]:
            doc = corpus.get(doc_id)
            if doc is None:
                continue
            sents = [s.strip() for s in doc["abstract"] if s.strip()]
            if not sents:
                continue
            sets = evidence.get(doc_id, [])
            label = 1 if sets and sets[0]["label"] == "SUPPORT" else 0
            if abstract_level:
                out.append(Pair(" ".join(sents), claim, label, source, "abstract"))
                continue
            if sets:
                used: set[int] = set()
                for ev in sets:
                    idx = [i for i in ev["sentences"] if i < len(sents)]
                    if not idx:
                        continue
                    used.update(idx)
                    out.append(Pair(_window(sents, idx), claim, 1 if ev["label"] == "SUPPORT" else 0, source))
                # A sentence of the same abstract that is not a rationale does not support the claim on its own.
                rest = [i for i in _overlap_rank(claim, sents) if i not in used]
                if rest and label == 1:
                    out.append(Pair(sents[rest[0]], claim, 0, source, "non-rationale"))
            else:
                top = _overlap_rank(claim, sents)[: rng.choice([1, 2])]
                out.append(Pair(_window(sents, top), claim, 0, source, "nei"))
    return out


def healthver(split: str, rng: random.Random) -> list[Pair]:
    out = []
    with (EXTERNAL / "healthver" / "healthver_dev.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            claim = row["claim"].strip()
            if not _wanted(split, "healthver", claim):
                continue
            out.append(Pair(row["evidence"].strip(), claim, 1 if row["label"] == "Supports" else 0, "healthver"))
    return out


def covidfact(split: str, rng: random.Random) -> list[Pair]:
    out = []
    for row in _jsonl(EXTERNAL / "covidfact" / "COVIDFACT_dataset.jsonl"):
        claim = row["claim"].strip()
        if not _wanted(split, "covidfact", claim):
            continue
        ev = [s for s in row["evidence"] if s.strip()][:MAX_EVIDENCE_SENTENCES]
        if ev:
            out.append(Pair(" ".join(ev), claim, 1 if row["label"] == "SUPPORTED" else 0, "covidfact"))
    return out


def attributionbench(split: str, rng: random.Random) -> list[Pair]:
    out = []
    for row in _jsonl(EXTERNAL / "attributionbench" / "dev_all_subset_balanced.jsonl"):
        if not _wanted(split, "attributionbench", row["id"]):
            continue
        refs = " ".join(r for r in row.get("references", []) if r)
        if refs.strip():
            label = 1 if row["attribution_label"] == "attributable" else 0
            out.append(Pair(refs[:2000], row["claim"].strip(), label, "attributionbench"))
    return out


def wice(split: str, rng: random.Random) -> list[Pair]:
    out = []
    for i, row in enumerate(_jsonl(EXTERNAL / "wice" / "oracle_chunks_claim" / "dev.jsonl")):
        if not _wanted(split, "wice", row["claim"]):
            continue
        ev = " ".join(row["evidence"])
        out.append(Pair(ev[:2000], row["claim"].strip(), 1 if row["label"] == "supported" else 0, "wice"))
    return out


SOURCES = {
    "scifact": lambda split, rng: scifact_format(
        split, "scifact", EXTERNAL / "scifact" / "claims_train.jsonl", EXTERNAL / "scifact" / "corpus.jsonl", rng
    ),
    "citation-integrity": lambda split, rng: scifact_format(
        split,
        "citation-integrity",
        EXTERNAL / "citation-integrity" / "claims_train.jsonl",
        EXTERNAL / "citation-integrity" / "corpus.jsonl",
        rng,
    ),
    "healthver": healthver,
    "covidfact": covidfact,
    "attributionbench": attributionbench,
    "wice": wice,
}


def load_pairs(split: str, sources: list[str] | None = None, seed: int = 13) -> dict[str, list[Pair]]:
    """Real labelled pairs of each source for ``split`` ("train" or "heldout")."""
    rng = random.Random(seed)
    return {name: SOURCES[name](split, rng) for name in (sources or list(SOURCES))}


def abstract_level_pairs(split: str, source: str = "scifact") -> list[Pair]:
    """(whole abstract, claim) pairs: SciFact / Citation-Integrity claims against their cited abstracts."""
    folder = {"scifact": "scifact", "citation-integrity": "citation-integrity"}[source]
    return scifact_format(
        split, source, EXTERNAL / folder / "claims_train.jsonl", EXTERNAL / folder / "corpus.jsonl",
        random.Random(0), abstract_level=True,
    )


# ---------------------------------------------------------------------------- synthetic pairs

_NUM = re.compile(r"(?<![\w.-])(\d+(?:[.,]\d+)?)(\s?%|\s?-?fold|×|x\b)?")
_AUX = re.compile(r"\b(is|are|was|were|can|could|may|might|will|would|should|has|have|had|does|do|did)\b(?! not\b)")
_NEG = re.compile(r"\b(not|no longer|never)\s+", re.I)
_DIRECTION = [
    ("increase", "decrease"), ("increased", "decreased"), ("increases", "decreases"), ("higher", "lower"),
    ("more", "less"), ("improves", "worsens"), ("improved", "worsened"), ("positive", "negative"),
    ("upregulated", "downregulated"), ("up-regulated", "down-regulated"), ("enhances", "reduces"),
    ("enhanced", "reduced"), ("promotes", "inhibits"), ("activates", "suppresses"), ("outperforms", "underperforms"),
    ("larger", "smaller"), ("faster", "slower"), ("better", "worse"), ("gain", "loss"), ("rise", "fall"),
]
_DIR_MAP = {**{a: b for a, b in _DIRECTION}, **{b: a for a, b in _DIRECTION}}
_DIR_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in _DIR_MAP) + r")\b", re.I)
_QUANT = re.compile(
    r"(?<![\w'-])(some|several|many|most|a subset of|a majority of|a minority of|a few|often|sometimes|frequently|"
    r"may|might|can|could|partially|partly)\b",
    re.I,
)
_QUANT_UP = {
    "some": "all", "several": "all", "many": "all", "most": "all", "a subset of": "all", "a majority of": "all",
    "a minority of": "most", "a few": "all", "often": "always", "sometimes": "always", "frequently": "always",
    "may": "always", "might": "always", "can": "always", "could": "always", "partially": "fully", "partly": "fully",
}
_N_OF_M = re.compile(r"\b(\d+) (?:of|out of) (\d+)\b")
_ASSOC = re.compile(r"\b(is|was|are|were) (associated with|correlated with|linked to|related to)\b")
_NAME = re.compile(r"\b([A-Z][A-Za-z]*[A-Z0-9][A-Za-z0-9-]*)\b")  # acronyms and CamelCase names


def _swap_numbers(s: str, rng: random.Random) -> str | None:
    nums = [m for m in _NUM.finditer(s) if not re.fullmatch(r"(19|20)\d\d", m.group(1))]
    distinct = list(dict.fromkeys(m.group(1) for m in nums))
    if len(distinct) >= 2:  # swap two numbers: both still appear in the evidence, bound to the wrong thing
        a, b = rng.sample(distinct, 2)
        return re.sub(
            rf"(?<![\w.-]){re.escape(a)}(?![\d])|(?<![\w.-]){re.escape(b)}(?![\d])",
            lambda m: b if m.group(0) == a else a,
            s,
        )
    if distinct:
        a = distinct[0]
        try:
            val = float(a.replace(",", ""))
        except ValueError:
            return None
        new = val * rng.choice([2, 3, 0.5, 10]) + rng.choice([0, 1])
        text = f"{new:.{len(a.split('.')[1])}f}" if "." in a else str(int(round(new)))
        if text == a:
            return None
        return re.sub(rf"(?<![\w.-]){re.escape(a)}(?![\d])", text, s, count=1)
    return None


def _negate(s: str, rng: random.Random) -> str | None:
    if _NEG.search(s):
        return _NEG.sub("", s, count=1)
    m = _AUX.search(s)
    if m:
        return s[: m.end()] + " not" + s[m.end() :]
    return None


def _reverse_direction(s: str, rng: random.Random) -> str | None:
    m = _DIR_RE.search(s)
    if not m:
        return None
    word = m.group(1)
    repl = _DIR_MAP[word.lower()]
    repl = repl.capitalize() if word[0].isupper() else repl
    return s[: m.start()] + repl + s[m.end() :]


def _escalate(s: str, rng: random.Random) -> str | None:
    m = _N_OF_M.search(s)
    if m and m.group(1) != m.group(2):
        return s[: m.start()] + f"all {m.group(2)}" + s[m.end() :]
    m = _QUANT.search(s)
    if not m:
        return None
    up = _QUANT_UP[m.group(1).lower()]
    return s[: m.start()] + (up.capitalize() if m.group(1)[0].isupper() else up) + s[m.end() :]


def _add_cause(s: str, rng: random.Random) -> str | None:
    m = _ASSOC.search(s)
    if m:
        return s[: m.start()] + f"{m.group(1)} caused by" + s[m.end() :]
    return None


def _swap_name(s: str, other_names: list[str], rng: random.Random) -> str | None:
    names = [n for n in _NAME.findall(s) if len(n) > 1]
    cands = [n for n in other_names if n not in s]
    if not names or not cands:
        return None
    old = rng.choice(names)
    return re.sub(rf"\b{re.escape(old)}\b", rng.choice(cands), s)


def _sub_clause(s: str, rng: random.Random) -> str | None:
    """A shorter claim the sentence still supports: drop a parenthetical or keep the main clause."""
    t = re.sub(r"\s*\([^()]{3,80}\)", "", s)
    if t != s:
        return t
    parts = re.split(r",\s+(?:and|while|whereas|but|which)\s+", s)
    if len(parts) > 1 and len(parts[0].split()) >= 6:
        return parts[0].rstrip(".") + "."
    return None


PERTURBATIONS = {
    "number": _swap_numbers,
    "negation": _negate,
    "direction": _reverse_direction,
    "quantifier": _escalate,
    "cause": _add_cause,
}


def _similar_sentence(s: str, pool: list[list[str]], rng: random.Random, tries: int = 40) -> str | None:
    """A sentence of another abstract that shares the most words with ``s`` (a hard attribution negative)."""
    words = set(_WORD.findall(s.lower()))
    best, best_score = None, 0
    for _ in range(tries):
        cand = rng.choice(rng.choice(pool))
        score = len(words & set(_WORD.findall(cand.lower())))
        if score > best_score and cand != s:
            best, best_score = cand, score
    return best


def synthetic_pairs(abstracts: list[list[str]], n: int, seed: int = 13, source: str = "synthetic") -> list[Pair]:
    """About ``n`` pairs from real abstracts (lists of sentences): perturbed negatives and faithful positives.

    The kind of pair is drawn first (40% faithful, 12% a finding of another
    paper, the rest one perturbation each), then sentences are drawn until one
    admits that kind, so rare kinds (numbers, causes) are not starved.
    """
    rng = random.Random(seed)
    names = sorted({m for sents in abstracts for s in sents for m in _NAME.findall(s) if len(m) > 2})
    usable = [a for a in abstracts if len(a) >= 3]
    neg_kinds = list(PERTURBATIONS) + ["name"]
    out: list[Pair] = []
    for _ in range(n):
        roll = rng.random()
        kind = "pos" if roll < 0.40 else "attribution" if roll < 0.52 else rng.choice(neg_kinds)
        for _try in range(30):
            sents = rng.choice(usable)
            i = rng.randrange(len(sents))
            s = sents[i]
            if not (8 <= len(s.split()) <= 60):
                continue
            lo = max(0, i - rng.randint(0, 1))
            window = sents[lo : lo + rng.randint(1, MAX_EVIDENCE_SENTENCES)]
            evidence = " ".join(window if s in window else [s])
            if kind == "pos":
                how = rng.choice(["copy", "sub", "fuse", "fuse"])
                if how == "fuse" and i + 1 < len(sents):
                    nxt = sents[i + 1]
                    claim = s.rstrip(".") + ", and " + nxt[0].lower() + nxt[1:]
                    evidence = " ".join(sents[max(0, i - rng.randint(0, 1)) : i + 2])
                else:
                    claim = (_sub_clause(s, rng) if how == "sub" else None) or s
                    how = "sub" if claim != s else "copy"
                out.append(Pair(evidence, claim, 1, source, f"pos-{how}"))
                break
            if kind == "attribution":
                claim = _similar_sentence(s, usable, rng)
                if claim and claim not in sents:
                    out.append(Pair(evidence, claim, 0, source, "neg-attribution"))
                    break
                continue
            claim = _swap_name(s, names, rng) if kind == "name" else PERTURBATIONS[kind](s, rng)
            if claim and claim != s:
                out.append(Pair(evidence, claim, 0, source, f"neg-{kind}"))
                break
    return out


def corpus_abstracts(split: str) -> list[list[str]]:
    """Sentence lists of the SciFact corpus abstracts (split by doc id) for synthetic pairs."""
    return [
        [s.strip() for s in d["abstract"] if s.strip()]
        for d in _jsonl(EXTERNAL / "scifact" / "corpus.jsonl")
        if _wanted(split, "scifact-corpus", d["doc_id"])
    ]


if __name__ == "__main__":  # a quick census of what the loaders produce
    for split in ("train", "heldout"):
        pairs = load_pairs(split)
        for name, ps in pairs.items():
            pos = sum(p.label for p in ps)
            print(f"{split:8s} {name:20s} {len(ps):6d} pairs, {pos / max(1, len(ps)):.2f} positive")
    syn = synthetic_pairs(corpus_abstracts("train"), 2000)
    from collections import Counter

    print(Counter(p.kind for p in syn))
    for p in syn[:12]:
        print(p.label, p.kind, "|", p.claim[:150])
