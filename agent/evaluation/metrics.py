"""Retrieval and citation metrics over paper ids (gold sets matched by normalized title upstream)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def recall_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Share of the gold papers found in the top ``k`` (NaN when there is no gold)."""
    if not gold:
        return math.nan
    return len(set(ranked[:k]) & gold) / len(gold)


def reciprocal_rank(ranked: Sequence[str], gold: set[str]) -> float:
    """1 / rank of the first gold paper; 0 if none is ranked (NaN when there is no gold)."""
    if not gold:
        return math.nan
    for rank, pid in enumerate(ranked, start=1):
        if pid in gold:
            return 1.0 / rank
    return 0.0


def precision_recall(predicted: Sequence[str], gold: set[str], ignore: set[str] = frozenset()) -> tuple[float, float]:
    """Citation precision and recall; ids in ``ignore`` (borderline) count neither way.

    Precision is NaN when nothing (non-ignored) was cited, recall NaN when there is no gold.
    """
    pred = [p for p in dict.fromkeys(predicted) if p not in ignore]
    hits = len([p for p in pred if p in gold])
    precision = hits / len(pred) if pred else math.nan
    recall = hits / len(gold) if gold else math.nan
    return precision, recall


def mean(values: Sequence[float]) -> float:
    """Mean of the non-NaN values (NaN when there are none)."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return math.nan
    pos = (len(vals) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)
