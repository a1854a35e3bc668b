"""Scores of a faithfulness run against labels (used by ``citewise check`` and the benchmark).

The positive class is "unfaithful" (what the checker must catch):

* balanced accuracy = (recall on unfaithful + recall on faithful) / 2;
* precision / recall on the unfaithful class;
* localisation: among correctly flagged answers that list their unsupported
  sentences, how often a flagged sentence is a labelled one ("hit") and how
  often the flagged sentences are exactly the labelled ones ("exact");
* recall per ``error_kind``; seconds per answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from agent.sentences import strip_markers


@dataclass
class Record:
    """One labelled case's outcome."""

    label: str  # gold: faithful | unfaithful
    predicted: str  # faithful | unfaithful | error
    error_kind: str | None = None
    flagged: list[str] = field(default_factory=list)  # sentences the checker marked unsupported
    gold_unsupported: list[str] = field(default_factory=list)
    seconds: float = 0.0


def norm_sentence(text: str) -> str:
    return re.sub(r"[^a-z0-9%.]+", " ", strip_markers(text).lower()).strip(" .")


def _same_sentence(a: str, b: str) -> bool:
    na, nb = norm_sentence(a), norm_sentence(b)
    return bool(na) and bool(nb) and (na == nb or na in nb or nb in na)


def summarize(records: list[Record]) -> dict:
    """Metrics over labelled records (see module doc)."""
    pos = [r for r in records if r.label == "unfaithful"]
    neg = [r for r in records if r.label == "faithful"]
    tp = sum(r.predicted == "unfaithful" for r in pos)
    fp = sum(r.predicted == "unfaithful" for r in neg)
    tn = len(neg) - fp
    recall = tp / len(pos) if pos else None
    specificity = tn / len(neg) if neg else None
    precision = tp / (tp + fp) if (tp + fp) else None
    parts = [x for x in (recall, specificity) if x is not None]
    balanced = sum(parts) / len(parts) if parts else None

    located = [r for r in pos if r.predicted == "unfaithful" and r.gold_unsupported]
    hits = sum(any(_same_sentence(f, g) for f in r.flagged for g in r.gold_unsupported) for r in located)
    exact = sum(
        len(r.flagged) == len(r.gold_unsupported)
        and all(any(_same_sentence(f, g) for g in r.gold_unsupported) for f in r.flagged)
        for r in located
    )
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for r in pos:
        by_kind[r.error_kind or "unknown"].append(r)
    per_kind = {
        k: {"n": len(v), "recall": round(sum(r.predicted == "unfaithful" for r in v) / len(v), 4)}
        for k, v in sorted(by_kind.items())
    }
    secs = [r.seconds for r in records]
    return {
        "n": len(records),
        "n_unfaithful": len(pos),
        "n_faithful": len(neg),
        "balanced_accuracy": _r(balanced),
        "precision_unfaithful": _r(precision),
        "recall_unfaithful": _r(recall),
        "specificity": _r(specificity),
        "flagged_sentence_hit_rate": _r(hits / len(located) if located else None),
        "flagged_sentence_exact_rate": _r(exact / len(located) if located else None),
        "per_error_kind_recall": per_kind,
        "seconds_per_answer": _r(sum(secs) / len(secs) if secs else None),
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)
