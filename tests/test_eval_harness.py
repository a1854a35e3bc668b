"""The batch harness: rows, resume after a crash, error rows, parallel workers, the CLI.

The run mechanics (resume, errors, threads) use an instant stub pipeline; the
real answer engine with the fake model runs once per module (it costs seconds
per question on a 2-core machine) and in the CLI tests.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from support import FAKE_SCREENING
from typer.testing import CliRunner

from agent.cli import app
from agent.evaluation.harness import EnginePipeline, RunMismatchError, run_eval
from agent.evaluation.questions import load_questions
from agent.evaluation.results import ResultsFile
from agent.evaluation.scoring import Observation
from agent.evaluation.questions import EvalQuestion
from agent.llm.base import EndpointError
from agent.prompts import load_prompt
from agent.types import Answer, Citation, FaithfulnessVerdict, Timings

ROOT = Path(__file__).resolve().parent.parent
#: A handful of dev questions, every type, and an off-topic question (the fake model answers the
#: dev set's unanswerable questions, which ask for details of indexed papers; off-topic ones it refuses).
QIDS = ("q001", "q004", "q023", "q042", "q060", "q070", "x01")
OFF_TOPIC = EvalQuestion(qid="x01", type="unanswerable", question="What is the recommended daily intake of vitamin C for adults?")
PROMPT_VERSION = load_prompt("quotes").version  # the default pipeline builds answers from quotes


@pytest.fixture(scope="module")
def questions():
    qs, problems = load_questions(ROOT / "evals" / "questions.jsonl")
    assert not problems
    by_id = {q.qid: q for q in qs}
    return [by_id[q] for q in QIDS[:-1]] + [OFF_TOPIC]


class Stub:
    """An instant pipeline: 'answers' by citing the first gold id; can crash or fail on chosen calls."""

    model_name = "stub"
    prompt_version = PROMPT_VERSION

    def __init__(self, crash_on: int | None = None, fail: set[str] = frozenset(), exc: Exception | None = None, delay: float = 0.0) -> None:
        self.crash_on, self.fail, self.exc, self.delay, self.calls = crash_on, set(fail), exc, delay, []

    def ids_by_title_key(self) -> dict[str, str]:
        return {}

    def observe(self, q) -> Observation:
        self.calls.append(q.qid)
        if self.crash_on is not None and len(self.calls) == self.crash_on:
            raise KeyboardInterrupt  # Ctrl-C, or a crash, in the middle of the run
        if q.qid in self.fail:
            raise self.exc or EndpointError("endpoint down")
        time.sleep(self.delay)
        cited = [Citation(id="g1", title="G")] if q.answerable else []
        answer = Answer(
            question=q.question,
            answer="An answer [g1]." if q.answerable else "The abstracts do not say.",
            citations=cited,
            retrieved=[Citation(id="g1", title="G"), Citation(id="x", title="X")],
            refused=not q.answerable,
            model="stub",
            prompt_version=PROMPT_VERSION,
            timings=Timings(retrieve_s=0.01, first_token_s=0.02, total_s=0.03),
            faithfulness=FaithfulnessVerdict(verdict="faithful", score=0.9) if q.answerable else None,
        )
        return Observation(answer=answer, ranking=["x", "g1"])


@pytest.fixture(scope="module")
def engine_run(bundled_home: Path, questions, tmp_path_factory: pytest.TempPathFactory):
    """One real run (answer engine + fake model) of QIDS, shared by the tests that read it."""
    from agent.settings import Settings

    out = tmp_path_factory.mktemp("engine-run") / "run"
    # Screening thresholds for the fake's word-overlap P(YES) (the shipped ones are the 1.5B's).
    settings = Settings(home=bundled_home).with_overrides(**{"llm.model": "fake", **FAKE_SCREENING})
    outcome = run_eval(questions, EnginePipeline(settings), out, source="dev")
    return out, outcome, settings


def test_engine_run_writes_rows_summary_and_report(engine_run, questions) -> None:
    out, outcome, _ = engine_run
    assert {q.type for q in questions} == {"single", "list", "compare", "summary", "unanswerable"}
    assert not outcome.interrupted and outcome.ran == len(QIDS) and outcome.errors == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["qid"] for r in rows] == list(QIDS)
    for r in rows:
        assert r["status"] == "ok" and r["model"] == "fake" and r["prompt_version"] == PROMPT_VERSION
        assert set(r["metrics"]) >= {"recall@10", "mrr", "citation_precision", "key_point_coverage", "refusal_correct", "total_s"}
        assert r["gold_unresolved"] == []  # every gold title of the dev set is in the bundled corpus
    by_id = {r["qid"]: r for r in rows}
    # The fake model echoes one evidence sentence per retrieved paper, so the gold paper is retrieved and cited.
    assert by_id["q001"]["metrics"]["recall@10"] == 1.0 and by_id["q001"]["metrics"]["citation_recall"] == 1.0
    assert len(by_id["q001"]["key_points"]) == 3 and all(isinstance(k["covered"], bool) for k in by_id["q001"]["key_points"])
    assert by_id["q004"]["metrics"]["key_point_coverage"] > 0  # echoes "a weak supervision-inspired routing approach"
    # every screening decision is in the row (why a paper was left out or a question refused)
    listed = by_id["q023"]["screened"]
    assert listed and set(listed[0]) == {"id", "title", "included", "p", "quote"}
    assert {c["id"] for c in by_id["q023"]["citations"]} <= {s["id"] for s in listed if s["included"]}
    x01 = by_id["x01"]  # off-topic: refused, and that is correct
    assert x01["refused"] is True and x01["metrics"]["refusal_correct"] == 1.0 and x01["metrics"]["recall@10"] is None
    q070 = by_id["q070"]  # asks about a paper that is not indexed, but the fake model answers: wrong
    assert q070["refused"] is False and q070["metrics"]["refusal_correct"] == 0.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["total"] == len(QIDS) and summary["run"]["model"] == "fake"
    assert summary["run"]["complete"] is True
    assert summary["nan_counts"]["recall@10"] == 2  # the unanswerable questions
    assert set(summary["by_type"]) == {"single", "list", "compare", "summary", "unanswerable"}
    html = (out / "report.html").read_text()
    assert "q042" in html and "data:image/png;base64," in html


def test_fake_error_model_gives_error_rows(engine_run, questions, tmp_path: Path) -> None:
    _, _, settings = engine_run
    out = tmp_path / "run"
    outcome = run_eval(questions[:2], EnginePipeline(settings.with_overrides(**{"llm.model": "fake:error"})), out)
    assert not outcome.interrupted and outcome.errors == 2
    rows = ResultsFile(out).load()
    assert all(r["status"] == "error" and "simulated endpoint failure" in r["error"] for r in rows)
    assert all(r["model"] == "fake:error" and r["prompt_version"] == PROMPT_VERSION for r in rows)
    assert all(v is None for v in rows[0]["metrics"].values())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["errors"] == 2 and summary["metrics"]["recall@10"] is None
    assert "EndpointError" in next(iter(summary["counts"]["error_messages"]))
    assert "simulated endpoint failure" in (out / "report.html").read_text()


def test_parallel_workers_give_the_same_rows(engine_run, questions, tmp_path: Path) -> None:
    out_one, _, settings = engine_run
    chosen = [q for q in questions if q.qid in ("q001", "q023", "x01")]
    run_eval(chosen, EnginePipeline(settings), tmp_path / "two", workers=3, report=False)
    rows1 = {r["qid"]: r for r in ResultsFile(out_one).load()}
    rows2 = {r["qid"]: r for r in ResultsFile(tmp_path / "two").load()}
    assert set(rows2) == {"q001", "q023", "x01"}
    for qid, row in rows2.items():
        assert row["answer"] == rows1[qid]["answer"]
        for key in ("recall@10", "citation_recall", "key_point_coverage", "refusal_correct"):
            assert row["metrics"][key] == rows1[qid]["metrics"][key]


def test_crash_keeps_rows_and_rerun_resumes(questions, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = Stub(crash_on=4)
    outcome = run_eval(questions, first, out)
    assert outcome.interrupted and outcome.ran == 3
    assert [r["qid"] for r in ResultsFile(out).load()] == list(QIDS[:3])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["complete"] is False and summary["counts"]["total"] == 3
    # A kill in the middle of a write leaves a torn last line: dropped on resume.
    with (out / "results.jsonl").open("a") as f:
        f.write('{"qid": "q042", "type": "comp')
    second = Stub()
    outcome = run_eval(questions, second, out)
    assert not outcome.interrupted and outcome.already_done == 3 and outcome.ran == len(QIDS) - 3
    assert second.calls == list(QIDS[3:])  # finished questions are not asked again
    assert [r["qid"] for r in ResultsFile(out).load()] == list(QIDS)  # no duplicates, torn line gone
    assert json.loads((out / "summary.json").read_text())["run"]["complete"] is True
    # Nothing left to do: another run only rewrites summary and report.
    third = Stub()
    assert run_eval(questions, third, out).ran == 0 and third.calls == []


def test_crash_with_parallel_workers_keeps_finished_rows(questions, tmp_path: Path) -> None:
    outcome = run_eval(questions, Stub(crash_on=3, delay=0.05), tmp_path / "run", workers=2)
    rows = ResultsFile(tmp_path / "run").load()
    assert outcome.interrupted  # a worker's crash stops the run; the other worker's answer is still written
    assert 2 <= len(rows) <= len(QIDS) - 1 and len({r["qid"] for r in rows}) == len(rows)
    resumed = Stub()
    run_eval(questions, resumed, tmp_path / "run", workers=2)
    assert sorted(resumed.calls) == sorted(set(QIDS) - {r["qid"] for r in rows})
    assert sorted(r["qid"] for r in ResultsFile(tmp_path / "run").load()) == sorted(QIDS)
    assert outcome.ran == len(rows)


def test_one_failing_question_does_not_end_the_run(questions, tmp_path: Path) -> None:
    outcome = run_eval(questions, Stub(fail={"q004"}, exc=TimeoutError("model took too long")), tmp_path / "run", workers=2)
    rows = {r["qid"]: r for r in ResultsFile(tmp_path / "run").load()}
    assert outcome.errors == 1 and len(rows) == len(QIDS)
    assert rows["q004"]["status"] == "error" and rows["q004"]["error"] == "TimeoutError: model took too long"
    assert all(rows[q]["status"] == "ok" for q in QIDS if q != "q004")


def test_error_rows_are_kept_on_resume_unless_retried(questions, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_eval(questions[:3], Stub(fail={"q001", "q004", "q023"}), out).errors == 3
    healthy = Stub()
    assert run_eval(questions[:3], healthy, out).ran == 0 and healthy.calls == []
    outcome = run_eval(questions[:3], healthy, out, retry_errors=True)
    assert outcome.ran == 3 and outcome.errors == 0 and healthy.calls == list(QIDS[:3])
    assert len(ResultsFile(out).load()) == 6  # appended; the latest row per qid wins
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["total"] == 3 and summary["counts"]["errors"] == 0


def test_a_directory_holds_one_model(questions, tmp_path: Path) -> None:
    run_eval(questions[:1], Stub(), tmp_path / "run", report=False)
    other = Stub()
    other.model_name = "fake"
    with pytest.raises(RunMismatchError, match="'stub'"):
        run_eval(questions[:1], other, tmp_path / "run")


def test_limit_and_summary_scope(questions, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_eval(questions, Stub(), out, limit=2, report=False)
    assert [r["qid"] for r in ResultsFile(out).load()] == list(QIDS[:2])
    outcome = run_eval(questions, Stub(), out, limit=4, report=False)
    assert outcome.already_done == 2 and outcome.ran == 2 and outcome.summary["counts"]["total"] == 4


def test_cli_eval_with_malformed_lines(bundled_settings, tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    good = (ROOT / "evals" / "questions.jsonl").read_text().splitlines()[0]
    qfile.write_text(good + "\n{oops\n")
    runner = CliRunner()
    res = runner.invoke(app, ["eval", str(qfile), "--out", str(tmp_path / "r"), "--model", "fake", "--no-progress"])
    assert res.exit_code == 2
    assert f"{qfile}:2:" in res.output and "invalid JSON" in res.output and "--skip-invalid" in res.output
    assert not (tmp_path / "r").exists()
    res = runner.invoke(app, ["eval", str(qfile), "--out", str(tmp_path / "r"), "--model", "fake", "--no-progress", "--skip-invalid"])
    assert res.exit_code == 0, res.output
    assert "recall@10" in res.output and "1 questions, 1 answered" in res.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["counts"]["total"] == 1 and "line 2" in summary["input_problems"][0]
    for name in ("results.jsonl", "summary.json", "report.html", "run.json"):
        assert (tmp_path / "r" / name).exists()
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["settings"]["llm"]["model"] == "fake"
    # the trained models that shaped the answers, by version, next to the answering model
    assert meta["trained_models"]["embedder"] == meta["settings"]["index"]["embed_model"]
    assert meta["trained_models"]["checker"] == meta["settings"]["faithfulness"]["engine"]


def test_cli_eval_can_check_answers_in_thorough_mode(bundled_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--check thorough: the answers are checked as `ask --check thorough` checks them, and each row says how long
    the whole-answer check took (step_seconds.final_check), so thorough mode's cost on real answers can be measured."""
    monkeypatch.setenv("CITEWISE_FAITHFULNESS__JUDGE_MODEL", "fake")
    qfile = tmp_path / "q.jsonl"
    qfile.write_text((ROOT / "evals" / "questions.jsonl").read_text().splitlines()[0] + "\n")
    runner = CliRunner()
    for mode in ("thorough", "fast"):
        out = tmp_path / mode
        res = runner.invoke(app, ["eval", str(qfile), "--out", str(out), "--model", "fake", "--no-progress", "--check", mode])
        assert res.exit_code == 0, res.output
        row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
        assert row["faithfulness"]["mode"] == mode
        assert row["step_seconds"]["final_check"]["calls"] == 1 and row["step_seconds"]["final_check"]["s"] >= 0
        assert json.loads((out / "run.json").read_text())["check"] == mode
    # a run directory holds one check mode: resuming the thorough run in fast mode is refused
    res = runner.invoke(app, ["eval", str(qfile), "--out", str(tmp_path / "thorough"), "--model", "fake", "--no-progress", "--check", "fast"])
    assert res.exit_code != 0 and "check 'thorough'" in res.output
    res = runner.invoke(app, ["eval", str(qfile), "--out", str(tmp_path / "bad"), "--model", "fake", "--no-progress", "--check", "slow"])
    assert res.exit_code != 0 and "--check must be fast or thorough" in res.output


def test_trained_models_name_what_the_settings_use() -> None:
    from agent.chain.engine import trained_models
    from agent.settings import Settings

    s = Settings()
    assert trained_models(s.with_overrides(**{"answer.screen_by": "model"}))["screening"] == "screening-v1"
    assert "screening" not in trained_models(s.with_overrides(**{"answer.screen_by": "p_yes"}))
    assert "roles" not in trained_models(s.with_overrides(**{"answer.role_weight": 0.0}))
    learned = trained_models(s.with_overrides(**{"faithfulness.engine": "learned"}))
    assert learned["learned"] == "learned-v1-trees" and learned["verifier"] == "verifier-v1"


def test_cli_bad_model_fails_before_the_run(bundled_settings, tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text((ROOT / "evals" / "questions.jsonl").read_text().splitlines()[0] + "\n")
    res = CliRunner().invoke(app, ["eval", str(qfile), "--out", str(tmp_path / "r"), "--model", "nosuch:model", "--no-progress"])
    assert res.exit_code == 1
    assert not (tmp_path / "r" / "results.jsonl").exists()


def test_cli_eval_compare(engine_run, tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    shutil.copytree(engine_run[0], a)
    shutil.copytree(engine_run[0], b)
    # B: q001 lost its citations of the gold paper, q070 became an error row, q999 is new.
    rows = ResultsFile(b).load()
    for r in rows:
        if r["qid"] == "q001":
            r["metrics"]["citation_recall"] = 0.0
        if r["qid"] == "q070":
            r.update(status="error", error="EndpointError: down", metrics={k: None for k in r["metrics"]})
    rows.append({**rows[0], "qid": "q999"})
    (b / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["eval-compare", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "| citation_recall |" in res.output and "Worse in B (2)" in res.output and "Better in B (0)" in res.output
    assert "q070 (unanswerable): now an error: EndpointError: down" in res.output
    cmp = json.loads((b / "compare-a.json").read_text())
    assert cmp["common"] == len(QIDS) and cmp["only_b"] == ["q999"] and cmp["errors"] == {"a": 0, "b": 1}
    assert cmp["metrics"]["citation_recall"]["better"] is False
    assert {e["qid"] for e in cmp["worse"]} == {"q001", "q070"}
    assert (b / "compare-a.md").exists()
    res = CliRunner().invoke(app, ["eval-compare", str(a), str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not an eval run directory" in res.output
