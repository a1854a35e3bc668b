"""report.html is self-contained and has its sections; eval-compare on hand-made rows."""

from __future__ import annotations

import re

from agent.evaluation.compare import compare_rows, to_markdown
from agent.evaluation.report import render_report
from agent.evaluation.scoring import METRICS
from agent.evaluation.summary import summarize


def _metrics(**values):
    m = {k: None for k in METRICS}
    m.update(values)
    return m


def _rows():
    return [
        {
            "qid": "q1",
            "type": "single",
            "question": "What does <LightGCL> use?",
            "status": "ok",
            "answer": "LightGCL uses SVD [p1]. It was invented in 1850 [p1].",
            "refused": False,
            "citations": [{"id": "p1", "title": "LightGCL"}],
            "gold_ids": ["p1"],
            "sentences": [
                {"text": "LightGCL uses SVD [p1].", "citations": ["p1"], "supported": True, "score": 0.9, "reason": "supported"},
                {"text": "It was invented in 1850 [p1].", "citations": ["p1"], "supported": False, "score": 0.1, "reason": "number 1850 not in the cited abstract"},
            ],
            "faithfulness": {"verdict": "unfaithful", "score": 0.1},
            "key_points": [{"text": "uses SVD", "covered": True, "score": 0.9}, {"text": "robust to sparsity", "covered": False, "score": 0.2}],
            "metrics": _metrics(**{"recall@10": 1.0, "citation_precision": 1.0, "faithful": 0.0, "refusal_correct": 1.0, "retrieve_s": 0.05, "first_token_s": 0.4, "total_s": 2.5}),
        },
        {
            "qid": "q2",
            "type": "unanswerable",
            "question": "Capital of France?",
            "status": "ok",
            "answer": "The abstracts do not say.",
            "refused": True,
            "citations": [],
            "gold_ids": [],
            "sentences": [],
            "metrics": _metrics(refusal_correct=1.0, retrieve_s=0.04, first_token_s=0.05, total_s=0.06),
        },
        {"qid": "q3", "type": "list", "question": "Which papers?", "status": "error", "error": "EndpointError: boom", "metrics": _metrics()},
    ]


def test_report_is_self_contained_with_sections() -> None:
    rows = _rows()
    html = render_report(rows, summarize(rows, {"model": "fake", "prompt_version": "answer-v1", "source": "dev.jsonl"}))
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    # Self-contained: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    images = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(images) == 2 and all(src.startswith("data:image/png;base64,") and len(src) > 2000 for src in images)
    for section in ('id="summary"', 'id="by-type"', 'id="latency"', 'id="questions"', 'id="q1"', 'id="q2"', 'id="q3"'):
        assert section in html
    # The flagged sentence and its reason are shown; the question text is escaped.
    assert 'class="flag">It was invented in 1850 [p1].' in html and "number 1850 not in the cited abstract" in html
    assert "&lt;LightGCL&gt;" in html and "<LightGCL>" not in html
    assert "EndpointError: boom" in html
    assert 'class="kp-ok"' in html and 'class="kp-no"' in html


def test_report_with_labels_and_no_rows() -> None:
    rows = _rows()[:1]
    rows[0]["expected_label"], rows[0]["predicted_label"] = "yes", "no"
    html = render_report(rows, summarize(rows))
    assert 'id="labels"' in html and "Expected yes, predicted no" in html
    empty = render_report([], summarize([]))
    assert "No rows." in empty


def test_compare_rows_by_hand() -> None:
    a = [
        {"qid": "q1", "type": "single", "status": "ok", "metrics": _metrics(**{"recall@10": 1.0, "refusal_correct": 1.0, "total_s": 2.0})},
        {"qid": "q2", "type": "single", "status": "ok", "metrics": _metrics(**{"recall@10": 0.0, "refusal_correct": 1.0, "total_s": 2.0})},
        {"qid": "q3", "type": "list", "status": "error", "error": "x", "metrics": _metrics()},
        {"qid": "q4", "type": "list", "status": "ok", "metrics": _metrics(**{"recall@10": 0.5, "refusal_correct": 1.0})},
        {"qid": "q5", "type": "list", "status": "ok", "metrics": _metrics(**{"recall@10": 0.5})},
    ]
    b = [
        {"qid": "q1", "type": "single", "status": "ok", "metrics": _metrics(**{"recall@10": 0.5, "refusal_correct": 1.0, "total_s": 1.0})},
        {"qid": "q2", "type": "single", "status": "ok", "metrics": _metrics(**{"recall@10": 1.0, "refusal_correct": 1.0, "total_s": 1.0})},
        {"qid": "q3", "type": "list", "status": "ok", "metrics": _metrics(**{"recall@10": 1.0, "refusal_correct": 1.0})},
        {"qid": "q4", "type": "list", "status": "ok", "metrics": _metrics(**{"recall@10": 0.5, "refusal_correct": 1.0})},
        {"qid": "q6", "type": "list", "status": "ok", "metrics": _metrics(**{"recall@10": 1.0})},
    ]
    cmp = compare_rows(a, b)
    assert cmp["common"] == 4 and cmp["only_a"] == ["q5"] and cmp["only_b"] == ["q6"]
    assert cmp["errors"] == {"a": 1, "b": 0}
    # Means over ok rows of common qids: A recall@10 (1 + 0 + 0.5) / 3 = 0.5, B (0.5 + 1 + 1 + 0.5) / 4 = 0.75.
    r = cmp["metrics"]["recall@10"]
    assert (r["a"], r["b"], r["diff"], r["better"]) == (0.5, 0.75, 0.25, True)
    t = cmp["metrics"]["total_s"]
    assert t["diff"] == -1.0 and t["better"] is True  # faster is better
    assert cmp["metrics"]["refusal_correct"]["better"] is None  # unchanged
    # q1: score (1 + 1) / 2 = 1.0 -> (0.5 + 1) / 2 = 0.75 (worse); q2: 0.5 -> 1.0 (better); q3: error fixed.
    assert [e["qid"] for e in cmp["better"]] == ["q3", "q2"] or [e["qid"] for e in cmp["better"]] == ["q2", "q3"]
    assert [e["qid"] for e in cmp["worse"]] == ["q1"]
    assert cmp["worse"][0]["score"] == {"a": 1.0, "b": 0.75, "diff": -0.25}
    assert cmp["worse"][0]["changed"] == {"recall@10": {"a": 1.0, "b": 0.5}}
    text = to_markdown(cmp)
    assert "| recall@10 | 0.500 | 0.750 | +0.2500 | better |" in text
    assert "Worse in B (1)" in text and "q1 (single) -0.250: recall@10 1.00->0.50" in text
    assert "q3 (list): error fixed" in text
