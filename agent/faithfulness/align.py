"""Embedding alignment of claims with evidence sentences (MiniLM, cosine).

Each context paper is cut into evidence units: its title, each abstract
sentence, and each pair of adjacent sentences (a claim often joins two).
A claim is aligned with every unit; the checker uses the best unit among the
cited papers, the best among the other retrieved papers, and the best few
cited units as the evidence shown to the judge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from agent.faithfulness.text import content_stems
from agent.sentences import split_sentences

EmbedFn = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Unit:
    """A piece of evidence: one title, sentence or adjacent-sentence window of one paper."""

    paper_id: str
    text: str
    kind: str  # "title" | "sentence" | "window"
    position: int = 0


@dataclass
class Alignment:
    """How one claim lines up with the evidence."""

    cited_score: float = 0.0
    cited_unit: Unit | None = None
    other_score: float = 0.0
    other_unit: Unit | None = None
    top_cited: list[tuple[float, Unit]] = field(default_factory=list)
    paper_scores: dict[str, float] = field(default_factory=dict)
    paper_units: dict[str, Unit] = field(default_factory=dict)  # best unit of each paper

    @property
    def best_sentence(self) -> Unit | None:
        """The best cited unit that is a single sentence (or title), for quoting."""
        for _, unit in self.top_cited:
            if unit.kind != "window":
                return unit
        return self.cited_unit

    def body_sentences(self, n: int) -> list[Unit]:
        """The ``n`` best cited abstract sentences."""
        return [u for _, u in self.top_cited if u.kind == "sentence"][:n]

    @property
    def best_body_sentence(self) -> Unit | None:
        """The best cited abstract sentence (not the title, not a window)."""
        for _, unit in self.top_cited:
            if unit.kind == "sentence":
                return unit
        return None


class EmbeddingCache:
    """Embeds texts once per process run: abstracts repeat across the cases of a benchmark."""

    def __init__(self, embed: EmbedFn) -> None:
        self._embed = embed
        self._vecs: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vecs))
        if missing:
            vecs = np.asarray(self._embed(missing), dtype=np.float32)
            for t, v in zip(missing, vecs):
                self._vecs[t] = v
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._vecs[t] for t in texts])


def paper_units(paper_id: str, title: str, abstract: str, windows: bool = True) -> list[Unit]:
    """Evidence units of one paper."""
    units: list[Unit] = []
    if title.strip():
        units.append(Unit(paper_id, title.strip(), "title", -1))
    sents = split_sentences(abstract)
    for i, s in enumerate(sents):
        units.append(Unit(paper_id, s, "sentence", i))
    if windows:
        for i in range(len(sents) - 1):
            units.append(Unit(paper_id, f"{sents[i]} {sents[i + 1]}", "window", i))
    return units


class EvidenceIndex:
    """All evidence units of the retrieved papers of one answer, embedded."""

    def __init__(
        self, contexts: Mapping[str, tuple[str, str]], embed: EmbedFn, windows: bool = True
    ) -> None:
        self.contexts = dict(contexts)
        self.units: list[Unit] = []
        for pid, (title, abstract) in self.contexts.items():
            self.units.extend(paper_units(pid, title, abstract, windows))
        self.vecs = embed([u.text for u in self.units]) if self.units else np.zeros((0, 1), np.float32)
        self._paper_of = np.array([u.paper_id for u in self.units], dtype=object)
        self._stems = [set(content_stems(u.text)) for u in self.units]
        df: dict[str, int] = {}
        for st in self._stems:
            for w in st:
                df[w] = df.get(w, 0) + 1
        n = max(len(self.units), 1)
        self._idf = {w: float(np.log(1.0 + n / c)) for w, c in df.items()}
        self._idf_default = float(np.log(1.0 + n))

    def lexical(self, claim_text: str) -> np.ndarray:
        """IDF-weighted share of the claim's content words found in each unit."""
        stems = list(dict.fromkeys(content_stems(claim_text)))
        if not stems or not self.units:
            return np.zeros(len(self.units), dtype=np.float32)
        w = np.array([self._idf.get(t, self._idf_default) for t in stems], dtype=np.float32)
        hits = np.array([[t in st for t in stems] for st in self._stems], dtype=np.float32)
        return hits @ w / w.sum()

    def sentences(self, paper_id: str) -> list[Unit]:
        return [u for u in self.units if u.paper_id == paper_id and u.kind != "window"]

    def align(
        self,
        claim_vecs: np.ndarray,
        cited: list[list[str]],
        top_k: int = 3,
        claim_texts: list[str] | None = None,
        lexical_weight: float = 0.5,
    ) -> list[Alignment]:
        """One :class:`Alignment` per claim vector; ``cited[i]`` are claim i's cited paper ids.

        Scores are cosine similarities; the ranking of cited units (``top_cited``,
        used to pick the evidence sentence) adds ``lexical_weight`` times the
        IDF-weighted word overlap, since MiniLM alone often ranks a long
        paraphrase's real source sentence low.
        """
        out: list[Alignment] = []
        if not self.units or not cited:
            return [Alignment() for _ in cited]
        sims = claim_vecs @ self.vecs.T  # (claims, units)
        for i, ids in enumerate(cited):
            row = sims[i]
            rank = row + lexical_weight * self.lexical(claim_texts[i]) if claim_texts else row
            al = Alignment()
            for pid in self.contexts:
                mask = self._paper_of == pid
                if mask.any():
                    j = np.where(mask)[0][int(np.argmax(row[mask]))]
                    al.paper_scores[pid] = float(row[j])
                    al.paper_units[pid] = self.units[j]
            cited_mask = np.isin(self._paper_of, [p for p in ids if p in self.contexts])
            if cited_mask.any():
                idx = np.where(cited_mask)[0]
                order = idx[np.argsort(-rank[idx])]
                best = idx[int(np.argmax(row[idx]))]
                al.cited_score = float(row[best])
                al.cited_unit = self.units[best]
                al.top_cited = [(float(row[j]), self.units[j]) for j in order[: max(top_k, 1) * 4]]
            other = np.where(~cited_mask)[0]
            if len(other):
                j = other[int(np.argmax(row[other]))]
                al.other_score = float(row[j])
                al.other_unit = self.units[j]
            out.append(al)
        return out
