"""The "Check a draft" tab's logic: validation like corpus uploads, results and the downloadable report."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.ui import audit_tab

DRAFT = (
    "Decoupled contrastive learning removes the positive term from the denominator of the InfoNCE loss [p196b093a].\n"
    "A <b>bold</b> claim about the <script>x</script> world is cited to a missing key [@ghost2020].\n"
)


class _Services:
    def __init__(self, settings, retriever) -> None:
        self.settings = settings
        self.retriever = retriever


@pytest.fixture(scope="module")
def services(bundled_home: Path, bundled_retriever):
    from agent.settings import Settings

    return _Services(Settings(home=bundled_home), bundled_retriever)


def test_pasted_draft_results_and_download(services, tmp_path: Path) -> None:
    report, path = audit_tab.run_audit(services, DRAFT, None, "session-a", tmp_root=tmp_path)
    assert [r.verdict for r in report.sentences] == ["supported", "unknown_key"]
    page = Path(path).read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "Citation audit" in page
    html = audit_tab.results_html(report)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;bold" in html
    assert 'data-verdict="supported"' in html and 'data-verdict="unknown_key"' in html
    # the same session's download is replaced, another session gets its own
    _, again = audit_tab.run_audit(services, DRAFT, None, "session-a", tmp_root=tmp_path)
    _, other = audit_tab.run_audit(services, DRAFT, None, "session-b", tmp_root=tmp_path)
    assert again == path and other != path


def test_uploaded_tex_is_parsed_as_latex(services, tmp_path: Path) -> None:
    tex = tmp_path / "draft.tex"
    tex.write_text("\\section{Intro}\nDecoupled contrastive learning removes the positive term \\cite{p196b093a}.\n", encoding="utf-8")
    report, _ = audit_tab.run_audit(services, "ignored when a file is given", str(tex), "s", tmp_root=tmp_path)
    assert report.format == "latex" and [r.line for r in report.sentences] == [1, 2]
    assert report.sentences[1].verdict == "supported"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("draft.exe", b"text", "unsupported file type .exe"),
        ("draft.tex", b"", "empty file"),
        ("draft.md", b"abc\x00def", "binary file"),
        ("draft.md", b"\xef\xbb\xbfcaf\xe9 \xff\xfe", "UTF-8"),  # a UTF-8 mark over bytes that are not UTF-8
    ],
)
def test_bad_uploads_are_rejected_like_corpus_uploads(services, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(audit_tab.DraftRejected, match=message):
        audit_tab.run_audit(services, "", str(path), "s", tmp_root=tmp_path)


def test_empty_and_oversized_paste(services, tmp_path: Path) -> None:
    with pytest.raises(audit_tab.DraftRejected, match="paste a draft"):
        audit_tab.run_audit(services, "   ", None, "s", tmp_root=tmp_path)
    small = services.settings.model_copy(update={"audit": services.settings.audit.model_copy(update={"max_draft_mb": 0.0001})})
    with pytest.raises(audit_tab.DraftRejected, match="over the"):
        audit_tab.run_audit(_Services(small, services.retriever), "x" * 1000, None, "s", tmp_root=tmp_path)
