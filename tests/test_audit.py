"""``citewise audit`` over the bundled corpus: each verdict on hand-checked sentences, the CLI, bad input.

The sentences below were checked by hand against the bundled abstracts:
[p196b093a] Decoupled Contrastive Learning (DCL removes the positive term from the
InfoNCE denominator; SimCLR with DCL reaches 68.2% top-1 at batch size 256) and
[p04eba747] LightGCL (singular value decomposition for contrastive augmentation;
robust against data sparsity and popularity bias).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.audit import VERDICTS, Auditor, parse_draft
from agent.audit.report import render_report

ROOT = Path(__file__).resolve().parent.parent
DCL, LIGHTGCL = "p196b093a", "p04eba747"

DRAFT = f"""# Related work

In this section we review contrastive learning.
Decoupled contrastive learning removes the positive term from the denominator of the InfoNCE loss [{DCL}].
SimCLR with DCL reaches 75.1% ImageNet-1K top-1 accuracy with batch size 256 [{DCL}].
LightGCL uses singular value decomposition for contrastive augmentation in recommendation [{DCL}].
AdaVAE unifies the encoder and decoder of a VAE with adaptive GPT-2s [@nosuchkey2020].
LightGCL is robust against data sparsity and popularity bias.
Protein folding pathways of membrane enzymes were mapped with cryo-electron microscopy in yeast.
We propose a new method for contrastive recommendation.
"""


@pytest.fixture(scope="module")
def auditor(bundled_home: Path) -> Auditor:
    from agent.audit import open_auditor
    from agent.retrieval import open_retriever
    from agent.settings import Settings

    settings = Settings(home=bundled_home)
    return open_auditor(settings, "fast", retriever=open_retriever(settings, auto_index=False))


@pytest.fixture(scope="module")
def report(auditor: Auditor):
    return auditor.audit(parse_draft(DRAFT, name="draft.md"))


def by_line(report) -> dict[int, object]:
    return {row.line: row for row in report.sentences}


def test_each_verdict_kind(report) -> None:
    rows = by_line(report)
    assert rows[1].verdict == "not_checkable" and rows[1].reason == "heading"
    assert rows[3].verdict == "not_checkable"  # "In this section ..."
    assert rows[4].verdict == "supported"
    assert "positive term from the denominator" in rows[4].quote
    assert rows[5].verdict == "unsupported"
    assert "number" in rows[5].reason and "68.2%" in rows[5].quote  # the closest sentence of the cited abstract
    assert rows[6].verdict == "better_source"
    assert rows[6].suggestions[0].id == LIGHTGCL and "singular value decomposition" in rows[6].suggestions[0].quote
    assert rows[7].verdict == "unknown_key" and "nosuchkey2020" in rows[7].reason
    assert rows[8].verdict == "better_source" and rows[8].citations == []
    assert rows[8].suggestions[0].id == LIGHTGCL
    assert rows[9].verdict == "uncited"
    assert not any(s.confirmed for s in rows[9].suggestions)  # at most close papers, marked as not confirmed
    assert not rows[9].suggestions or "not confirmed" in rows[9].reason
    assert rows[10].verdict == "not_checkable"  # the draft's own work
    assert report.summary() == {
        "supported": 1, "unsupported": 1, "better_source": 2, "uncited": 1, "unknown_key": 1, "not_checkable": 3,
    }


def test_public_json_shape(report) -> None:
    doc = report.public_json()
    assert set(doc) == {"sentences", "summary"}
    assert set(doc["summary"]) == set(VERDICTS)
    for row in doc["sentences"]:
        assert set(row) == {"line", "text", "citations", "verdict", "quote", "reason", "suggestions"}
        assert row["verdict"] in VERDICTS
        for s in row["suggestions"]:
            assert set(s) == {"id", "title", "quote"}
    json.dumps(doc)


def test_only_confirmed_suggestions_when_asked(bundled_home: Path) -> None:
    from agent.audit import open_auditor
    from agent.retrieval import open_retriever
    from agent.settings import Settings

    settings = Settings(home=bundled_home).with_overrides(**{"audit.unconfirmed_suggestions": False})
    auditor = open_auditor(settings, "fast", retriever=open_retriever(settings, auto_index=False))
    rows = by_line(auditor.audit(parse_draft(DRAFT, name="draft.md")))
    assert rows[9].verdict == "uncited" and rows[9].suggestions == []
    assert [s.id for s in rows[8].suggestions] == [LIGHTGCL]


def test_mixed_known_and_unknown_keys(auditor: Auditor) -> None:
    text = f"Decoupled contrastive learning removes the positive term from the InfoNCE denominator [@{DCL}; @ghost].\n"
    row = auditor.audit(parse_draft(text, "markdown")).sentences[0]
    assert row.verdict == "supported" and "ghost" in row.reason
    text = f"SimCLR with DCL reaches 75.1% ImageNet-1K top-1 accuracy with batch size 256 [@{DCL}; @ghost].\n"
    row = auditor.audit(parse_draft(text, "markdown")).sentences[0]
    assert row.verdict == "unknown_key" and "ghost" in row.reason


def test_keys_resolve_case_insensitively_and_through_key_to_id(auditor: Auditor) -> None:
    assert auditor.resolve(DCL.upper()) == DCL
    assert auditor.resolve("no-such") is None


def test_report_html_escapes_draft_text(auditor: Auditor) -> None:
    text = f"Decoupled contrastive <script>alert(1)</script> learning removes the positive term [{DCL}].\n"
    page = render_report(auditor.audit(parse_draft(text, "plain")))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.startswith("<!doctype html>") and "http" not in page.split("<body>")[0]


# -- CLI ------------------------------------------------------------------
def _citewise(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITEWISE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


BIB = r"""@article{dcl2022,
  title = {Decoupled Contrastive Learning},
  year = {2022},
  abstract = {By removing the negative-positive-coupling effect, we propose decoupled contrastive learning (DCL) loss, which removes the positive term from the denominator and significantly improves the learning efficiency.}
}
@article{broken2020,
  title = {Broken entry
  abstract = {never closed
@article{müller/2021,
  title = {Odd Key Paper on Graph Recommendation},
  year = {2021},
  abstract = {We show that singular value decomposition augmentation makes graph contrastive recommenders robust to popularity bias.}
}
@article{noabs2019,
  title = {A Paper Without Abstract},
  year = {2019}
}
"""

TEX = r"""\section{Background}
Decoupled contrastive learning removes the positive term from the denominator~\cite{dcl2022}.
SVD augmentation makes graph recommenders robust to popularity bias \citep{müller/2021}.
Something is claimed about things in general \cite{noabs2019, broken2020}.
An {unbalanced brace here \cite{dcl2022}.
"""


@pytest.fixture
def copied_home(bundled_home: Path, tmp_path: Path) -> Path:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(bundled_home, home)
    return home


def test_cli_bib_latex_json(copied_home: Path, tmp_path: Path) -> None:
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB, encoding="utf-8")
    tex = tmp_path / "draft.tex"
    tex.write_text(TEX, encoding="utf-8")
    html = tmp_path / "out" / "report.html"
    proc = _citewise("audit", str(tex), "--bib", str(bib), "--json", "--html", str(html), home=copied_home)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    rows = {r["line"]: r for r in doc["sentences"]}
    assert rows[1]["verdict"] == "not_checkable"
    assert rows[2]["verdict"] == "supported" and rows[2]["citations"] == ["dcl2022"]
    assert rows[3]["verdict"] == "supported" and rows[3]["citations"] == ["müller/2021"]  # odd key found its paper
    assert rows[4]["verdict"] == "unknown_key" and "noabs2019" in rows[4]["reason"] and "broken2020" in rows[4]["reason"]
    assert rows[5]["citations"] == ["dcl2022"]
    # broken entries reported by line, the rest used; the brace by its draft line
    assert f"{bib}:6" in proc.stderr and "unreadable BibTeX entry" in proc.stderr
    assert f"{bib}:14" in proc.stderr and "without an abstract" in proc.stderr
    assert f"{tex}:5" in proc.stderr and "never closed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert html.is_file() and "Citation audit" in html.read_text(encoding="utf-8")
    # re-running indexes nothing new (the key -> id mapping is stable)
    again = _citewise("audit", str(tex), "--bib", str(bib), "--json", home=copied_home)
    assert again.returncode == 0 and "added 0" in again.stderr and "unchanged 2" in again.stderr
    assert json.loads(again.stdout) == doc


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01binary\x00", "binary file"),
        (b"caf\xe9 au lait\n", "not UTF-8 text"),
        (b"   \n\n", "empty draft"),
    ],
)
def test_cli_unreadable_drafts(copied_home: Path, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "draft.tex"
    path.write_bytes(content)
    proc = _citewise("audit", str(path), "--json", home=copied_home)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_cli_missing_draft_and_bad_flags(copied_home: Path, tmp_path: Path) -> None:
    proc = _citewise("audit", str(tmp_path / "nope.md"), home=copied_home)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    draft = tmp_path / "d.md"
    draft.write_text("A claim that is long enough [@x].\n", encoding="utf-8")
    proc = _citewise("audit", str(draft), "--bib", str(draft), home=copied_home)
    assert proc.returncode == 2 and "not a .bib file" in proc.stderr
    proc = _citewise("audit", str(draft), "--mode", "slow", home=copied_home)
    assert proc.returncode == 2 and "--mode" in proc.stderr


@pytest.mark.slow
def test_cli_large_draft(copied_home: Path, tmp_path: Path) -> None:
    """A 50,000-word draft is audited (repeated sentences are checked once)."""
    block = DRAFT.split("\n", 3)[3]  # the checkable sentences, without the heading and the signpost
    words = len(block.split())
    path = tmp_path / "big.md"
    path.write_text("# Big\n\n" + "\n".join([block] * (50_000 // words + 1)), encoding="utf-8")
    proc = _citewise("audit", str(path), "--json", home=copied_home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert sum(doc["summary"].values()) == len(doc["sentences"]) > 3000
