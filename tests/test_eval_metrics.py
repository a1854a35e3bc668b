"""Eval metrics on hand-made cases (expected numbers worked out by hand), question parsing, summaries."""

from __future__ import annotations

import json
import math

import pytest

from agent.evaluation.judge import parse_verdicts
from agent.evaluation.metrics import precision_recall, recall_at_k, reciprocal_rank
from agent.evaluation.questions import EvalQuestion, parse_lines, resolve_gold
from agent.evaluation.scoring import Observation, answer_prose, parse_label, question_metrics
from agent.evaluation.summary import summarize
from agent.types import Answer, Citation, FaithfulnessVerdict, Timings


def test_ranking_metrics_by_hand() -> None:
    ranked = ["a", "x", "b", "y", "c"]
    gold = {"a", "b", "z"}
    assert recall_at_k(ranked, gold, 1) == pytest.approx(1 / 3)  # a
    assert recall_at_k(ranked, gold, 3) == pytest.approx(2 / 3)  # a, b
    assert recall_at_k(ranked, gold, 5) == pytest.approx(2 / 3)  # z never retrieved
    assert reciprocal_rank(ranked, gold) == 1.0
    assert reciprocal_rank(["x", "y", "b"], gold) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], gold) == 0.0
    assert math.isnan(recall_at_k(ranked, set(), 5)) and math.isnan(reciprocal_rank(ranked, set()))


def test_citation_precision_recall_ignores_borderline() -> None:
    # cited: a (gold), m (borderline: ignored), x (wrong), a again (deduplicated)
    p, r = precision_recall(["a", "m", "x", "a"], {"a", "b"}, {"m"})
    assert p == pytest.approx(1 / 2)  # a of {a, x}
    assert r == pytest.approx(1 / 2)  # a of {a, b}
    p, r = precision_recall(["m"], {"a"}, {"m"})
    assert math.isnan(p) and r == 0.0


def _answer(cited: list[str], retrieved: list[str], refused: bool = False, verdict: str | None = "faithful") -> Answer:
    return Answer(
        question="q",
        answer="The abstracts do not say." if refused else "A claim [a]. Another [x].\n\nReferences:\n[a] A",
        citations=[Citation(id=c, title=c.upper()) for c in cited],
        retrieved=[Citation(id=c, title=c.upper()) for c in retrieved],
        refused=refused,
        timings=Timings(retrieve_s=0.1, first_token_s=0.5, total_s=2.0),
        tokens_in=100,
        tokens_out=20,
        faithfulness=FaithfulnessVerdict(verdict=verdict, score=0.8 if verdict == "faithful" else 0.2) if verdict else None,
    )


def test_question_metrics_by_hand() -> None:
    q = EvalQuestion(qid="q1", type="list", question="Which papers ...?", key_points=["k1", "k2", "k3", "k4"])
    gold = resolve_gold(
        EvalQuestion(qid="q1", type="list", question="", gold_ids=["a", "b"], borderline_ids=["m"]), {}
    )
    obs = Observation(
        answer=_answer(cited=["a", "m", "x"], retrieved=["x", "a", "m", "y"]),
        ranking=["x", "y", "a", "c", "d", "e", "b", "f", "g", "h", "b2"],
        key_points=[{"covered": True}, {"covered": False}, {"covered": True}, {"covered": True}],
    )
    m = question_metrics(q, gold, obs)
    assert m["recall@5"] == 0.5  # a at rank 3, b at rank 7
    assert m["recall@10"] == 1.0
    assert m["mrr"] == pytest.approx(0.3333, abs=1e-4)  # first gold at rank 3
    assert m["evidence_recall"] == 0.5  # the model saw a, not b
    assert m["citation_precision"] == 0.5  # a and x count, m is borderline
    assert m["citation_recall"] == 0.5
    assert m["key_point_coverage"] == 0.75
    assert m["faithful"] == 1.0 and m["faithfulness_score"] == 0.8
    assert m["refusal_correct"] == 1.0  # answerable and answered
    assert m["judge_coverage"] is None and m["label_correct"] is None
    assert (m["retrieve_s"], m["first_token_s"], m["total_s"], m["tokens_in"], m["tokens_out"]) == (0.1, 0.5, 2.0, 100, 20)
    json.dumps(m, allow_nan=False)  # no NaN leaks into the rows


def test_unanswerable_metrics_are_null_where_they_do_not_apply() -> None:
    q = EvalQuestion(qid="u1", type="unanswerable", question="What is the capital of France?")
    gold = resolve_gold(q, {})
    refused = question_metrics(q, gold, Observation(answer=_answer([], ["x"], refused=True, verdict=None), ranking=["x"]))
    for key in ("recall@5", "recall@10", "mrr", "evidence_recall", "citation_precision", "citation_recall", "key_point_coverage", "faithful"):
        assert refused[key] is None, key
    assert refused["refusal_correct"] == 1.0
    answered = question_metrics(q, gold, Observation(answer=_answer(["x"], ["x"]), ranking=["x"]))
    assert answered["refusal_correct"] == 0.0
    assert answered["citation_precision"] == 0.0  # every citation of an unanswerable question is wrong


def test_refused_answerable_question() -> None:
    q = EvalQuestion(qid="s1", type="single", question="What does X do?", gold_ids=["a"], key_points=["k"])
    m = question_metrics(
        q, resolve_gold(q, {}), Observation(answer=_answer([], ["a"], refused=True, verdict=None), ranking=["a"], key_points=[{"covered": False}])
    )
    assert m["refusal_correct"] == 0.0 and m["citation_recall"] == 0.0 and m["citation_precision"] is None
    assert m["key_point_coverage"] == 0.0 and m["recall@5"] == 1.0


def test_label_metric() -> None:
    q = EvalQuestion(qid="pm1", type="single", question="Does X help?", gold_ids=["pm1"], expected_label="no")
    gold = resolve_gold(q, {})
    assert question_metrics(q, gold, Observation(_answer(["pm1"], ["pm1"]), ["pm1"], label="no"))["label_correct"] == 1.0
    assert question_metrics(q, gold, Observation(_answer(["pm1"], ["pm1"]), ["pm1"], label=None))["label_correct"] == 0.0


def test_gold_matches_by_normalized_title() -> None:
    ids = {"lightgcl simple yet effective graph contrastive learning for recommendation": "p1", "other paper": "p2"}
    q = EvalQuestion(
        qid="q",
        type="single",
        question="?",
        gold_titles=["LightGCL: Simple Yet  Effective Graph Contrastive Learning for Recommendation", "Not In This Corpus"],
        gold_ids=["p9"],
        borderline_titles=["Other Paper!"],
    )
    gold = resolve_gold(q, ids)
    assert gold.ids == {"p1", "p9"}
    assert gold.borderline == {"p2"}
    assert gold.unresolved == ["Not In This Corpus"]


def test_malformed_lines_are_reported_with_line_numbers() -> None:
    good = '{"qid": "q1", "type": "single", "question": "What?", "gold_titles": ["T"], "key_points": ["k"]}'
    lines = [
        good,
        "",  # blank: skipped, still counted
        '{"qid": "q2", "type": "single", "question": "What?"',  # truncated JSON
        '{"qid": "q3", "type": "essay", "question": "What?"}',
        '{"qid": "q4", "type": "list", "question": "  "}',
        good,  # duplicate qid
        '["not", "an", "object"]',
        '{"qid": "q5", "type": "list", "question": "Which?", "gold_titles": "T"}',
        '{"qid": "q6", "type": "unanswerable", "question": "Who won?"}',
    ]
    questions, problems = parse_lines(lines)
    assert [q.qid for q in questions] == ["q1", "q6"]
    assert questions[1].line == 9
    by_line = {p.line: p.message for p in problems}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8]
    assert "invalid JSON" in by_line[3]
    assert "unknown type 'essay'" in by_line[4]
    assert "'question'" in by_line[5]
    assert "duplicate qid 'q1'" in by_line[6] and "line 1" in by_line[6]
    assert "JSON object" in by_line[7]
    assert "gold_titles" in by_line[8]
    assert str(problems[0]).startswith("line 3:")


def test_parse_label_and_judge_verdicts() -> None:
    assert parse_label("Yes.") == "yes"
    assert parse_label("Label: maybe — the evidence is mixed") == "maybe"
    assert parse_label("No, it does not.") == "no"
    assert parse_label("The abstracts do not say.") is None  # 'not' is not 'no'
    assert parse_verdicts("1: yes\n2: NO\n4: yes\nrubbish", 3) == [True, False, None]


def test_answer_prose_drops_markers_and_references() -> None:
    a = _answer(["a"], ["a"])
    assert answer_prose(a) == "A claim. Another."


def _row(qid: str, qtype: str, status: str = "ok", **metrics: float | None) -> dict:
    base = {k: None for k in ("recall@10", "refusal_correct", "total_s", "retrieve_s", "first_token_s", "tokens_in", "tokens_out")}
    base.update(metrics)
    return {"qid": qid, "type": qtype, "status": status, "metrics": base, "refused": False, "error": None if status == "ok" else "Boom: x"}


def test_summary_means_counts_and_nan_counts() -> None:
    rows = [
        _row("a", "single", **{"recall@10": 1.0, "refusal_correct": 1.0, "total_s": 1.0}),
        _row("b", "single", **{"recall@10": 0.5, "refusal_correct": 0.0, "total_s": 3.0}),
        _row("c", "unanswerable", **{"refusal_correct": 1.0, "total_s": 2.0}),
        _row("d", "list", status="error"),
    ]
    s = summarize(rows, {"model": "fake"})
    assert s["counts"]["total"] == 4 and s["counts"]["ok"] == 3 and s["counts"]["errors"] == 1
    assert s["counts"]["by_type"] == {"single": 2, "list": 1, "unanswerable": 1}
    assert s["metrics"]["recall@10"] == 0.75  # (1 + 0.5) / 2; the unanswerable row is n/a
    assert s["nan_counts"]["recall@10"] == 1  # over ok rows
    assert s["metrics"]["refusal_correct"] == pytest.approx(0.6667, abs=1e-4)
    assert s["by_type"]["single"]["metrics"]["refusal_correct"] == 0.5
    assert s["by_type"]["list"]["errors"] == 1 and s["by_type"]["list"]["metrics"]["recall@10"] is None
    assert s["latency"]["total_s"]["p50"] == 2.0 and s["latency"]["total_s"]["max"] == 3.0
    assert s["counts"]["error_messages"] == {"Boom: x": 1}
    json.dumps(s, allow_nan=False)


def test_summary_label_accuracy_and_confusion() -> None:
    rows = []
    for i, (exp, pred) in enumerate([("yes", "yes"), ("yes", "no"), ("no", "no"), ("maybe", None), ("yes", "yes")]):
        r = _row(f"pm{i}", "single")
        r["expected_label"], r["predicted_label"] = exp, pred
        rows.append(r)
    labels = summarize(rows)["labels"]
    assert labels["n"] == 5 and labels["accuracy"] == 0.6
    assert labels["majority_class"] == "yes" and labels["majority_baseline"] == 0.6
    assert labels["confusion"]["yes"] == {"yes": 2, "no": 1, "maybe": 0, "none": 0}
    assert labels["confusion"]["maybe"]["none"] == 1
