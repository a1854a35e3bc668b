"""``citewise check``: JSONL input, bad lines, outputs and the labelled summary (fake embedder, no LLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.cli import check_cmd
from agent.faithfulness.cases import parse_lines
from agent.faithfulness.metrics import Record, summarize

from test_faithfulness_checker import CONTEXTS, FAITHFUL, bow_embed  # noqa: E402


class _FakeEmbedder:
    def embed(self, texts: list[str]):  # noqa: ANN201
        return bow_embed(texts)


@pytest.fixture()
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> typer.Typer:
    import agent.index.embeddings as emb

    monkeypatch.setattr(emb, "get_embedder", lambda spec, *args, **kwargs: _FakeEmbedder())
    monkeypatch.setenv("CITEWISE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CITEWISE_CHROMA_URL", raising=False)
    a = typer.Typer()
    check_cmd.register(a)

    @a.command("noop")
    def _noop() -> None:  # a second command keeps typer from collapsing the app into `check`
        pass

    return a


def _contexts() -> list[dict]:
    return [{"id": k, "title": t, "abstract": a} for k, (t, a) in CONTEXTS.items()]


def _case(cid: str, answer: str, **extra: object) -> str:
    return json.dumps({"cid": cid, "question": "q?", "answer": answer, "contexts": _contexts(), **extra})


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "cases.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _run(app: typer.Typer, *args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["check", *args])


BAD_NUMBER = FAITHFUL.replace("10 points", "25 points")


def test_json_output_and_summary(app: typer.Typer, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            _case("c1", FAITHFUL, label="faithful"),
            _case("c2", BAD_NUMBER, label="unfaithful", error_kind="number",
                  unsupported=["It outperforms routing baselines by up to 25 points accuracy [pA]."]),
        ],
    )
    res = _run(app, str(path), "--json")
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x.get("cid") for x in lines[:2]] == ["c1", "c2"]
    c2 = lines[1]
    assert set(c2) == {"cid", "verdict", "score", "sentences"}
    assert c2["verdict"] == "unfaithful"
    assert set(c2["sentences"][1]) == {"text", "supported", "score", "evidence", "reason"}
    assert c2["sentences"][1]["supported"] is False and c2["sentences"][1]["evidence"]["id"] == "pA"
    summary = lines[2]["summary"]
    assert summary["balanced_accuracy"] == 1.0
    assert summary["flagged_sentence_hit_rate"] == 1.0
    assert summary["per_error_kind_recall"] == {"number": {"n": 1, "recall": 1.0}}
    assert summary["seconds_per_answer"] is not None and summary["skipped_lines"] == []


def test_no_summary_without_labels(app: typer.Typer, tmp_path: Path) -> None:
    res = _run(app, str(_write(tmp_path, [_case("c1", FAITHFUL)])), "--json")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and "summary" not in json.loads(lines[0])


def test_malformed_lines_are_reported_and_skipped(app: typer.Typer, tmp_path: Path) -> None:
    lines = [
        _case("ok1", FAITHFUL),
        "{not json",
        json.dumps({"cid": "x", "contexts": _contexts()}),  # no answer
        json.dumps({"cid": "y", "answer": "a", "contexts": "nope"}),
        json.dumps({"cid": "z", "answer": 3, "contexts": _contexts()}),
        json.dumps({"cid": "w", "answer": "a", "contexts": [{"id": "p1", "title": "t"}]}),
        json.dumps(["a", "list"]),
        _case("badlabel", FAITHFUL, label="maybe"),
        "",
        _case("ok2", BAD_NUMBER),
    ]
    res = _run(app, str(_write(tmp_path, lines)), "--json")
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["cid"] for x in res.stdout.splitlines()] == ["ok1", "ok2"]
    err = res.stderr
    for n in (2, 3, 4, 5, 6, 7, 8):
        assert f"line {n}:" in err
    assert "invalid JSON" in err and "missing field 'answer'" in err and "'label' must be one of" in err


def test_missing_empty_and_all_bad_files_fail(app: typer.Typer, tmp_path: Path) -> None:
    res = _run(app, str(tmp_path / "nope.jsonl"))
    assert res.exit_code == 2 and "not found" in res.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    res = _run(app, str(empty))
    assert res.exit_code == 2 and "empty" in res.stderr
    res = _run(app, str(_write(tmp_path, ["{bad", "[]"])))
    assert res.exit_code == 2 and "no usable case" in res.stderr


def test_context_ids_without_an_index_is_a_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    line = json.dumps({"cid": "c", "answer": "X [p1].", "context_ids": ["p1"]})
    res = _run(app, str(_write(tmp_path, [line])))
    assert res.exit_code == 2
    assert "no index" in res.stderr and "citewise index" in res.stderr


def test_human_output_marks_unsupported_sentences(app: typer.Typer, tmp_path: Path) -> None:
    res = _run(app, str(_write(tmp_path, [_case("c9", BAD_NUMBER, label="unfaithful")])))
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "c9" in out and "unfaithful" in out and "✗" in out and "✓" in out
    assert "balanced_accuracy" in out
    assert not out.lstrip().startswith("{")


def test_thorough_mode_with_fake_judge_runs(app: typer.Typer, tmp_path: Path) -> None:
    res = _run(app, str(_write(tmp_path, [_case("c1", FAITHFUL)])), "--json", "--mode", "thorough", "--judge-model", "fake")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.splitlines()[0])["verdict"] == "faithful"


def test_context_ids_resolved_by_a_resolver() -> None:
    from agent.types import Paper

    def resolver(ids: list[str]) -> list[Paper]:
        return [Paper(id=i, title=CONTEXTS[i][0], abstract=CONTEXTS[i][1]) for i in ids if i in CONTEXTS]

    cases, errors = parse_lines(
        [
            json.dumps({"cid": 1, "answer": "a", "context_ids": ["pA", "pZ"]}),
            json.dumps({"cid": 2, "answer": "a", "context_ids": ["pZ"]}),
        ],
        resolver,
    )
    assert [c.cid for c in cases] == ["1"] and list(cases[0].contexts) == ["pA"]
    assert "pZ" in cases[0].warnings[0]
    assert errors and errors[0].line == 2 and "none of the context ids" in errors[0].message


def test_summary_metrics() -> None:
    recs = [
        Record("unfaithful", "unfaithful", "number", ["S1 [p1]."], ["S1 [p1]."]),
        Record("unfaithful", "unfaithful", "negation", ["S2."], ["S3."]),
        Record("unfaithful", "faithful", "negation"),
        Record("faithful", "unfaithful"),
        Record("faithful", "faithful"),
        Record("faithful", "faithful"),
    ]
    s = summarize(recs)
    assert s["recall_unfaithful"] == round(2 / 3, 4)
    assert s["specificity"] == round(2 / 3, 4)
    assert s["balanced_accuracy"] == round(2 / 3, 4)
    assert s["precision_unfaithful"] == round(2 / 3, 4)
    assert s["flagged_sentence_hit_rate"] == 0.5
    assert s["per_error_kind_recall"]["negation"] == {"n": 2, "recall": 0.5}


def test_unknown_mode_is_a_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    res = _run(app, str(_write(tmp_path, [_case("c1", FAITHFUL)])), "--mode", "quick")
    assert res.exit_code == 2
    assert "unknown --mode 'quick'" in res.stderr and "Traceback" not in res.output
