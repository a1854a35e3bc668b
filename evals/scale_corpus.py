"""The corpus of ``evals/bench_scale.py``: real abstracts, generated variants, planted needles, fast vectors.

- **Real abstracts** from ``../shared/external`` (read at run time, never copied into the repo): SciFact's
  5,183, PubMedQA's 1,000 contexts and Citation-Integrity's 3,063 cited documents.
- **Variants** to reach N: the first half of one real abstract's sentences joined to the second half of
  another's, under the first one's title with a variant number (real vocabulary and lengths; only the pairing
  is synthetic).
- **Needles**: real abstracts with one planted sentence stating a unique, known fact about a named method;
  each has two questions, one naming the method and one describing the fact without the name.
- **Vectors**: a random projection of hashed bag-of-words counts (:class:`ProjectionEmbedder`), so a million
  papers get 384-dim vectors in minutes on 2 cores; MiniLM's own rate is measured on a sample instead.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.types import Paper

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
SOURCE = "bench-scale"
#: Hashed feature space of the projection (2^14 features x 384 dims of float32 = 25 MB).
HASH_FEATURES = 2**14
DIM = 384
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_FIRST_WORDS = 12

OUTCOMES = ["serum ferritin", "graft survival", "walking speed", "insulin sensitivity", "bone density",
            "viral clearance", "sleep latency", "renal function", "wound closure", "lung capacity"]
CONDITIONS = ["sickle cell anaemia", "psoriatic arthritis", "chronic migraine", "atrial fibrillation",
              "type 1 diabetes", "cystic fibrosis", "multiple sclerosis", "heart failure", "glaucoma", "lupus"]


@dataclass
class Needle:
    paper_id: str
    questions: list[str]  # [names the method, describes the fact without the name]


def real_abstracts(external: Path = EXTERNAL) -> list[tuple[str, str]]:
    """(title, abstract) of every real abstract available; titles made from the first words when missing."""
    out: list[tuple[str, str]] = []
    for name in ("scifact", "citation-integrity"):
        path = external / name / "corpus.jsonl"
        if path.exists():
            with path.open(encoding="utf-8") as f:
                for line in f:
                    obj = json.loads(line)
                    abstract = " ".join(obj["abstract"]) if isinstance(obj["abstract"], list) else str(obj["abstract"])
                    out.append((obj.get("title") or "", abstract))
    path = external / "pubmedqa" / "ori_pqal.json"
    if path.exists():
        for item in json.loads(path.read_text(encoding="utf-8")).values():
            out.append((item["QUESTION"], " ".join(c.strip() for c in item["CONTEXTS"])))
    out = [(t.strip() or " ".join(a.split()[:_FIRST_WORDS]), a.strip()) for t, a in out if a.strip()]
    if not out:
        raise SystemExit(f"no abstracts found under {external} (SciFact, Citation-Integrity, PubMedQA)")
    return out


def _needle(i: int, rng: random.Random, base: tuple[str, str]) -> tuple[Paper, Needle]:
    name = f"Vornexa{i}"
    outcome, condition = rng.choice(OUTCOMES), rng.choice(CONDITIONS)
    pct, n = rng.randint(11, 89), rng.randint(120, 990)
    fact = f"With {name}, {outcome} improved by {pct}% in {n} patients with {condition}."
    paper = Paper(id=f"needle{i:05d}", title=f"{name}: {base[0]}", abstract=f"{base[1]} {fact}", source=SOURCE)
    questions = [f"What does {name} improve?", f"Which treatment improved {outcome} by {pct}% in {n} patients with {condition}?"]
    return paper, Needle(paper.id, questions)


def build_corpus(n: int, needles: int, seed: int, external: Path = EXTERNAL) -> tuple[Iterator[Paper], list[Needle]]:
    """N papers (real first, then variants; needles spread through them) streamed, and the needles' questions."""
    rng = random.Random(seed)
    real = real_abstracts(external)
    needle_at = set(rng.sample(range(n), min(needles, n)))
    planted = {}
    for i, pos in enumerate(sorted(needle_at)):
        planted[pos] = _needle(i, rng, real[rng.randrange(len(real))])

    def papers() -> Iterator[Paper]:
        vr = random.Random(seed + 1)
        for pos in range(n):
            if pos in planted:
                yield planted[pos][0]
            elif pos < len(real):
                title, abstract = real[pos]
                yield Paper(id=f"r{pos:07d}", title=title, abstract=abstract, source=SOURCE)
            else:
                (ta, aa), (_, ab) = real[vr.randrange(len(real))], real[vr.randrange(len(real))]
                sa, sb = _SENTENCE.split(aa), _SENTENCE.split(ab)
                abstract = " ".join(sa[: max(1, len(sa) // 2)] + sb[len(sb) // 2 :])
                yield Paper(id=f"v{pos:07d}", title=f"{ta} (variant {pos})", abstract=abstract, source=SOURCE)

    return papers(), [planted[p][1] for p in sorted(planted)]


def general_queries(count: int, seed: int, external: Path = EXTERNAL) -> list[str]:
    """Real questions for latency (SciFact claims), besides the needles'."""
    path = external / "scifact" / "claims_train.jsonl"
    claims = [json.loads(line)["claim"] for line in path.open(encoding="utf-8")] if path.exists() else []
    random.Random(seed).shuffle(claims)
    return claims[:count]


class ProjectionEmbedder:
    """Unit vectors from a fixed Gaussian random projection of hashed word counts (fast, lexical-semantic only)."""

    dim = DIM

    def __init__(self, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self._hasher = HashingVectorizer(n_features=HASH_FEATURES, alternate_sign=False, norm=None, stop_words="english")
        self._proj = np.random.default_rng(seed).standard_normal((HASH_FEATURES, DIM)).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        counts = self._hasher.transform(texts)
        counts.data = np.log1p(counts.data)
        vecs = np.asarray(counts @ self._proj, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vecs / norms
