"""Evals tab helpers: finding runs, summaries, comparison and the sandboxed report."""

from __future__ import annotations

import json
from pathlib import Path

from agent.ui import evals


def _run(root: Path, name: str, summary: dict, report: str | None = "<h1>Report</h1>") -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (run / "results.jsonl").write_text("", encoding="utf-8")
    if report is not None:
        (run / "report.html").write_text(report, encoding="utf-8")
    return run


def test_find_runs_only_lists_dirs_with_summary(tmp_path):
    root = tmp_path / "runs"
    _run(root, "r1", {"faithfulness": {"accuracy": 0.8}})
    _run(root, "nested/r2", {"faithfulness": {"accuracy": 0.9}})
    (root / "empty").mkdir()
    runs = evals.find_runs([root, tmp_path / "missing"])
    assert set(runs) == {"runs/r1", "runs/nested/r2"}
    assert all(p.is_dir() for p in runs.values())


def test_summary_and_compare_tables():
    a = {"model": "fake", "metrics": {"recall@5": 0.5, "n": 10}, "tags": ["x", "y"]}
    b = {"model": "local:<b>", "metrics": {"recall@5": 0.75, "n": 10}, "new": 1}
    html = evals.summary_html("runs/a", a)
    assert "metrics.recall@5" in html and "0.5" in html and "x, y" in html and "All fields" in html
    cmp = evals.compare_html("A", a, "B", b)
    assert "+0.25" in cmp and "&lt;b&gt;" in cmp and "<b>" not in cmp
    assert "changed" in cmp  # model string differs
    assert "—" in cmp  # key only in B


def test_bad_summary_is_reported(tmp_path):
    run = tmp_path / "bad"
    run.mkdir()
    (run / "summary.json").write_text("{nope", encoding="utf-8")
    assert "error" in evals.load_summary(run)


def test_report_is_sandboxed_and_escaped(tmp_path):
    run = _run(tmp_path, "r", {}, report='<script>alert(1)</script><p class="x">hi</p>')
    frame = evals.report_iframe(run)
    assert frame.startswith("<iframe") and 'sandbox=""' in frame
    assert "<script>" not in frame and "&lt;script&gt;" in frame
    copy = evals.report_download(run, tmp_path / "tmp")
    assert copy and Path(copy).read_text(encoding="utf-8").startswith("<script>")
    assert Path(copy).parent != run
    # A second click replaces the copy instead of leaving another folder behind.
    assert evals.report_download(run, tmp_path / "tmp") == copy
    assert [p.name for p in Path(copy).parent.iterdir()] == [Path(copy).name]
    assert len(list((tmp_path / "tmp" / "citewise-reports").iterdir())) == 1
    norep = _run(tmp_path, "n", {}, report=None)
    assert "no report.html" in evals.report_iframe(norep) and evals.report_download(norep) is None


def test_harness_comparison_is_rendered_when_available(tmp_path, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("agent.evaluation.compare")

    def compare_dirs(a, b):
        return {
            "common": 2, "only_a": [], "only_b": ["q9"], "errors": {"a": 0, "b": 1},
            "metrics": {"recall@5": {"a": 0.5, "b": 0.75, "diff": 0.25, "better": True},
                        "total_s": {"a": 1.0, "b": 2.0, "diff": 1.0, "better": False}},
            "better": [{"qid": "q1", "type": "single", "question": "<i>why</i>", "score": {"a": 0.1, "b": 0.9, "diff": 0.8}}],
            "worse": [{"qid": "q2", "type": "list", "question": "x", "change": "now an error: boom"}],
        }

    fake.compare_dirs = compare_dirs
    monkeypatch.setitem(sys.modules, "agent.evaluation.compare", fake)
    html = evals.harness_compare_html(tmp_path, tmp_path)
    assert html and "✓ better" in html and "✗ worse" in html and "+0.25" in html
    assert "Better in B (1)" in html and "now an error: boom" in html
    assert "&lt;i&gt;why&lt;/i&gt;" in html and "<i>" not in html
