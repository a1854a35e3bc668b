"""The PubMedQA adapter: explicit splits, a separate index, yes/no/maybe scoring (fake model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.evaluation import pubmedqa
from agent.evaluation.results import ResultsFile
from agent.prompts import load_prompt

ITEMS = {
    "101": ("Does aspirin reduce the risk of stroke in older adults?", "Aspirin was given to 2,000 older adults and stroke incidence was recorded over five years.", "yes"),
    "102": ("Is coffee consumption associated with liver fibrosis?", "We measured coffee intake and liver stiffness in 800 patients with hepatitis.", "no"),
    "103": ("Do night shifts impair nurses' sleep quality?", "Sleep diaries were collected from 300 nurses on rotating night shifts.", "yes"),
    "104": ("Does vitamin D supplementation prevent fractures?", "A trial randomized 5,000 people to vitamin D or placebo and counted fractures.", "maybe"),
    "105": ("Is telemedicine as effective as clinic visits for diabetes control?", "HbA1c was compared between telemedicine and clinic groups of diabetic patients.", "yes"),
    "106": ("Do statins lower mortality after heart surgery?", "Statin use before cardiac surgery was related to 30-day mortality in a cohort.", "no"),
}
TEST_IDS = ("102", "104", "105")


@pytest.fixture
def pmqa_dir(tmp_path: Path) -> Path:
    d = tmp_path / "pubmedqa"
    d.mkdir()
    ori = {
        pid: {"QUESTION": q, "CONTEXTS": [ctx, "Results were analysed with regression."], "LABELS": ["BACKGROUND", "METHODS"], "YEAR": "2010", "final_decision": label, "LONG_ANSWER": "..."}
        for pid, (q, ctx, label) in ITEMS.items()
    }
    (d / "ori_pqal.json").write_text(json.dumps(ori))
    (d / "test_ground_truth.json").write_text(json.dumps({pid: ITEMS[pid][2] for pid in TEST_IDS}))
    return d


def test_splits_are_explicit(pmqa_dir: Path) -> None:
    data = pubmedqa.load_pubmedqa(pmqa_dir)
    assert data.split_ids("test") == list(TEST_IDS)
    assert data.split_ids("dev") == ["101", "103", "106"]
    qs = data.questions("test")
    assert [q.qid for q in qs] == ["pm102", "pm104", "pm105"]
    assert [q.expected_label for q in qs] == ["no", "maybe", "yes"]
    assert qs[0].gold_ids == ["pm102"] and qs[0].type == "single"
    papers = {p.id: p for p in data.papers()}
    assert len(papers) == 6 and papers["pm101"].title == "PubMed 101"
    assert "Aspirin" in papers["pm101"].abstract and "Does aspirin" not in papers["pm101"].abstract  # no question leak
    assert pubmedqa.parse_source("pubmedqa:test") == "test" and pubmedqa.parse_source("evals/q.jsonl") is None
    with pytest.raises(ValueError, match="unknown PubMedQA split"):
        pubmedqa.parse_source("pubmedqa:train")
    with pytest.raises(ValueError, match="unknown PubMedQA split"):
        data.split_ids("train")


def test_real_data_splits_if_present() -> None:
    if not (pubmedqa.DEFAULT_DIR / "ori_pqal.json").is_file():
        pytest.skip("PubMedQA data not present")
    data = pubmedqa.load_pubmedqa(pubmedqa.DEFAULT_DIR)
    test, dev = data.split_ids("test"), data.split_ids("dev")
    assert len(test) == 500 and len(dev) == 500 and not set(test) & set(dev)
    assert set(test) == set(json.loads((pubmedqa.DEFAULT_DIR / "test_ground_truth.json").read_text()))


def test_separate_home_and_collection(settings) -> None:
    s = pubmedqa.pubmedqa_settings(settings)
    assert s.home == settings.home / "eval-pubmedqa"
    assert s.index_path == settings.home / "eval-pubmedqa" / "chroma" != settings.index_path
    assert s.index.collection == pubmedqa.COLLECTION != settings.index.collection
    with pytest.raises(ValueError, match="own collection"):
        pubmedqa.ensure_index(settings, pubmedqa.PubMedQA({}, {}), None)


def test_label_prompt_renders() -> None:
    prompt = load_prompt("pubmedqa")
    assert prompt.version == "pubmedqa-v1"
    text = prompt.render(question="Does X help?", answer="X helped [pm1].")[-1]["content"]
    assert "Does X help?" in text and "X helped" in text


def test_cli_eval_pubmedqa_test_split(home: Path, pmqa_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index_home = tmp_path / "pm-home"
    out = tmp_path / "run"
    args = ["eval", "pubmedqa:test", "--pubmedqa-dir", str(pmqa_dir), "--index-home", str(index_home), "--model", "fake", "--no-progress"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = ResultsFile(out).load()
    assert [r["qid"] for r in rows] == ["pm102", "pm104", "pm105"]
    assert all(r["status"] == "ok" and r["expected_label"] for r in rows)
    assert all(r["label_reply"] is not None for r in rows)
    assert all(r["prompt_version"] == "pubmedqa-decide-v2" for r in rows)  # the default direct decision
    # The fake model's answer cites the question's own context.
    assert all(r["metrics"]["recall@10"] == 1.0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labels"]["n"] == 3 and summary["run"]["pubmedqa_split"] == "test"
    assert "yes/no/maybe accuracy" in res.output
    # The PubMedQA index lives in its own home; the user's home got no index.
    assert (index_home / "chroma").exists() and not (home / "chroma").exists()

    # --label-mode answer: a cited answer, then a labelling call. With a labeller that says the right
    # word, accuracy is 1 (label parsing wired through).
    import agent.evaluation.harness as harness

    labels = {ITEMS[pid][0]: ITEMS[pid][2] for pid in ITEMS}
    monkeypatch.setattr(harness.EnginePipeline, "_label", lambda self, engine, q, answer: (labels[q.question], labels[q.question]))
    res = CliRunner().invoke(app, [*args, "--label-mode", "answer", "--out", str(tmp_path / "run2")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run2" / "summary.json").read_text())["labels"]["accuracy"] == 1.0
    assert {r["prompt_version"] for r in ResultsFile(tmp_path / "run2").load()} == {load_prompt("quotes").version}  # the default quote-built answers

    res = CliRunner().invoke(app, [*args, "--label-mode", "guess", "--out", str(tmp_path / "run3")])
    assert res.exit_code != 0 and "--label-mode" in res.output


def test_direct_decision_reads_the_retrieved_evidence(home: Path, pmqa_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct mode puts the question and its retrieved context into the decide prompt; the reply's word is scored."""
    import agent.llm.fake as fake

    prompts: list[str] = []

    def decide(text: str) -> str:
        prompts.append(text)
        question = text.split("Question: ")[1].splitlines()[0]
        return "Maybe." if "vitamin D" in question else f"{ITEMS[[k for k, v in ITEMS.items() if v[0] == question][0]][2].capitalize()}."

    monkeypatch.setattr(fake, "fake_answer", decide)
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        ["eval", "pubmedqa:test", "--pubmedqa-dir", str(pmqa_dir), "--index-home", str(tmp_path / "pm"), "--model", "fake", "--no-progress", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    rows = ResultsFile(out).load()
    assert [r["predicted_label"] for r in rows] == [ITEMS[pid][2] for pid in TEST_IDS]
    assert json.loads((out / "summary.json").read_text())["labels"]["accuracy"] == 1.0
    # Each prompt quoted the question's own context as numbered evidence.
    for pid, text in zip(TEST_IDS, prompts, strict=True):
        assert ITEMS[pid][1] in text and "[1] PubMed" in text


def test_decide_prompt_is_strict() -> None:
    from agent.prompts import PromptError

    prompt = load_prompt(pubmedqa.DECIDE_PROMPT)
    assert prompt.version == "pubmedqa-decide-v2"
    with pytest.raises(PromptError):
        prompt.render(question="Does X help?")
