"""Per-question metrics of one answer: retrieval, citations, key points, faithfulness, refusal, cost.

Every metric is a float in a row's ``metrics`` dict; one that does not apply
to the question (e.g. recall for an unanswerable question, faithfulness of a
refusal) is ``None`` — written as JSON ``null`` and counted as NaN in the summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.evaluation.metrics import precision_recall, recall_at_k, reciprocal_rank
from agent.evaluation.questions import LABELS, EvalQuestion, Gold

if TYPE_CHECKING:
    from agent.faithfulness import FaithfulnessChecker
    from agent.types import Answer

#: Metric keys in display order. Lower is better only for latency and tokens.
QUALITY_METRICS = (
    "recall@5",
    "recall@10",
    "mrr",
    "evidence_recall",
    "citation_precision",
    "citation_recall",
    "key_point_coverage",
    "substantive_sentences",
    "faithful",
    "faithfulness_score",
    "refusal_correct",
    "judge_coverage",
    "label_correct",
)
COST_METRICS = ("retrieve_s", "first_token_s", "total_s", "tokens_in", "tokens_out")
METRICS = QUALITY_METRICS + COST_METRICS
#: Metrics where a smaller value is better (for comparisons).
LOWER_IS_BETTER = frozenset(COST_METRICS)
#: Depths of the direct-retrieval recall metrics (the ranking searched is this deep).
RECALL_DEPTHS = (5, 10)
#: Title given to the answer when it is used as the "paper" that must support a key point.
_ANSWER_ID = "answer"
_MARKER = re.compile(r"\s*\[[A-Za-z0-9_.:,;\s-]+\]")


def clean(value: float | None) -> float | None:
    """NaN and infinities become None (JSON null); numbers are rounded for readable files."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return round(value, 4)


def answer_prose(answer: Answer) -> str:
    """The answer without its reference list and ``[id]`` markers."""
    return _MARKER.sub("", answer.prose).strip()


#: A sentence is substantive when it has at least this many content words beyond the titles of the papers.
MIN_SUBSTANTIVE_TERMS = 3


def substantive_sentences(answer: Answer) -> list[str]:
    """The answer's sentences that say more than a paper's title (markers removed).

    A sentence's stemmed content words, less those of every retrieved or cited
    paper's title, must number at least :data:`MIN_SUBSTANTIVE_TERMS`: a bare
    re-listing ("- [p1] LightGCL: Simple Yet Effective Graph Contrastive
    Learning") makes no claim and must not count as covering a key point.
    """
    from agent.chain.quotes import terms
    from agent.sentences import cited_sentences, strip_markers

    title_terms: set[str] = set()
    for c in [*answer.citations, *answer.retrieved]:
        title_terms |= terms(c.title)
    out = []
    for s in cited_sentences(answer.prose):
        text = strip_markers(s.text).strip()
        if len(terms(text) - title_terms) >= MIN_SUBSTANTIVE_TERMS:
            out.append(text)
    return out


class KeyPointScorer:
    """Judges whether an answer entails each key point with the offline faithfulness checker.

    The roles are swapped: the key point is the "claim", citing the answer as if the
    answer were the only paper, so a key point counts as covered when the checker
    would call it supported by the answer (same similarity, coverage, number and
    name checks, same ``faithfulness.support_threshold``).
    """

    def __init__(self, checker: FaithfulnessChecker) -> None:
        self.checker = checker

    def score(self, key_points: Sequence[str], prose: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        contexts = {_ANSWER_ID: ("Answer", prose)}
        for point in key_points:
            claim = point.strip().rstrip(".")
            if not prose.strip() or not claim:
                out.append({"text": point, "covered": False, "score": 0.0})
                continue
            result = self.checker.check(f"{claim} [{_ANSWER_ID}].", contexts, mode="fast")
            out.append(
                {
                    "text": point,
                    "covered": result.verdict.verdict == "faithful",
                    "score": round(float(result.verdict.score), 4),
                }
            )
        return out


def parse_label(text: str) -> str | None:
    """The first yes / no / maybe word in a model's reply (case-insensitive), else None."""
    m = re.search(r"\b(yes|no|maybe)\b", text.lower())
    return m.group(1) if m and m.group(1) in LABELS else None


@dataclass
class Observation:
    """What one run of the answer pipeline produced, as plain data."""

    answer: Answer
    ranking: list[str]  # ids of a direct hybrid search for the planned query, best first
    key_points: list[dict[str, Any]] | None = None  # KeyPointScorer output
    judge: list[bool | None] | None = None  # hosted judge's verdict per key point
    label: str | None = None  # predicted yes/no/maybe (PubMedQA)
    label_reply: str | None = None  # the model's raw reply to the label prompt


def question_metrics(q: EvalQuestion, gold: Gold, obs: Observation) -> dict[str, float | None]:
    """All metrics of one answered question (see the module docstring for None)."""
    a = obs.answer
    evidence = [c.id for c in a.retrieved]
    cited = [c.id for c in a.citations]
    m: dict[str, float | None] = {}
    for depth in RECALL_DEPTHS:
        m[f"recall@{depth}"] = recall_at_k(obs.ranking, gold.ids, depth)
    m["mrr"] = reciprocal_rank(obs.ranking, gold.ids)
    m["evidence_recall"] = recall_at_k(evidence, gold.ids, len(evidence))
    precision, recall = precision_recall(cited, gold.ids, gold.borderline)
    m["citation_precision"], m["citation_recall"] = precision, recall
    m["substantive_sentences"] = float(len(substantive_sentences(a))) if q.answerable and not a.refused else None
    if q.key_points and q.answerable and obs.key_points is not None:
        m["key_point_coverage"] = sum(1 for k in obs.key_points if k["covered"]) / len(q.key_points)
    else:
        m["key_point_coverage"] = None
    if a.faithfulness is not None and not a.refused:
        m["faithful"] = 1.0 if a.faithfulness.verdict == "faithful" else 0.0
        m["faithfulness_score"] = a.faithfulness.score
    else:
        m["faithful"] = m["faithfulness_score"] = None
    m["refusal_correct"] = 1.0 if a.refused == (not q.answerable) else 0.0
    judged = [j for j in (obs.judge or []) if j is not None]
    m["judge_coverage"] = sum(judged) / len(judged) if judged and q.answerable else None
    if q.expected_label is not None:
        m["label_correct"] = 1.0 if obs.label == q.expected_label else 0.0
    else:
        m["label_correct"] = None
    t = a.timings
    m["retrieve_s"] = t.retrieve_s
    m["first_token_s"] = t.first_token_s
    m["total_s"] = t.total_s
    m["tokens_in"] = float(a.tokens_in)
    m["tokens_out"] = float(a.tokens_out)
    return {k: clean(v) for k, v in m.items()}


def empty_metrics() -> dict[str, None]:
    """The metrics of an error row: all not applicable."""
    return {k: None for k in METRICS}
