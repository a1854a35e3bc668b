"""Ingestion: every format, normalization, ids, and every bad-input case."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from agent.ingest import clean_display, load_corpus, paper_id, title_key
from agent.ingest.loader import BUNDLED_SOURCE

ABSTRACT = "We study a problem in detail and propose a method that improves accuracy by 5% on two benchmarks."


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_corpus_has_205_papers_without_header_or_subscribe() -> None:
    result = load_corpus(None)
    assert len(result.papers) == 205
    assert result.problems == []
    assert result.sources == [BUNDLED_SOURCE]
    first = result.papers[0]
    assert first.title == "Forward χ^2 Divergence Based Variational Importance Sampling"
    assert not any(p.title.startswith("Subscribe") or "trending papers" in p.title for p in result.papers)
    assert len({p.id for p in result.papers}) == 205


def test_ids_are_stable_and_title_based() -> None:
    assert paper_id("LightGCL: Simple Yet Effective") == paper_id("  lightgcl -- simple yet   effective ")
    assert paper_id("A") != paper_id("B")
    assert title_key("InfoVAE: Balancing  Learning") == "infovae balancing learning"


def test_clean_display_fixes_whitespace_and_latex() -> None:
    assert clean_display("gains of 5\\% \\& more\n\t here") == "gains of 5% & more here"
    assert clean_display(r"the \emph{best} model") == "the best model"


def test_jsonl_all_fields_and_original_text_kept(tmp_path: Path) -> None:
    rows = [
        {"title": "Paper  One", "abstract": ABSTRACT.replace("5%", "5\\%"), "id": "one", "year": 2021, "authors": ["A. B", "C. D"], "url": "http://x"},
        {"title": "Paper Two", "abstract": ABSTRACT, "authors": "E. F and G. H", "year": "2020"},
    ]
    f = write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    result = load_corpus([f])
    assert [p.id for p in result.papers] == ["one", paper_id("Paper Two")]
    one = result.papers[0]
    assert one.title == "Paper One" and one.original_title == "Paper  One"
    assert "5%" in one.abstract and "5\\%" in one.original_abstract
    assert one.year == 2021 and one.authors == ["A. B", "C. D"] and one.url == "http://x"
    assert result.papers[1].authors == ["E. F", "G. H"] and result.papers[1].year == 2020


def test_jsonl_bad_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        json.dumps({"title": "Good", "abstract": ABSTRACT}),
        "{not json",
        json.dumps({"title": "No abstract"}),
        json.dumps(["a", "list"]),
        json.dumps({"title": "good", "abstract": ABSTRACT}),  # duplicate by normalized title
        json.dumps({"title": "Bad year", "abstract": ABSTRACT, "year": "soon"}),
        json.dumps({"title": "Bad id", "abstract": ABSTRACT, "id": "has space"}),
    ]
    f = write(tmp_path / "c.jsonl", "\n".join(lines))
    result = load_corpus([f])
    assert [p.title for p in result.papers] == ["Good"]
    by_line = {p.line: p.kind for p in result.problems}
    assert by_line == {2: "malformed", 3: "missing_abstract", 4: "malformed", 5: "duplicate", 6: "bad_field", 7: "bad_field"}
    assert all(str(f) in str(p) for p in result.problems)
    assert "c.jsonl:1" in result.problems[3].message  # the duplicate names the first copy


def test_csv_reader_and_missing_columns(tmp_path: Path) -> None:
    good = write(tmp_path / "c.csv", f'Title,Abstract,year\n"A, with comma","{ABSTRACT}",2019\nNo abstract,,2019\n')
    result = load_corpus([good])
    assert [p.title for p in result.papers] == ["A, with comma"]
    assert [(p.line, p.kind) for p in result.problems] == [(3, "missing_abstract")]
    bad = write(tmp_path / "bad.csv", "name,text\nx,y\n")
    result = load_corpus([bad])
    assert result.papers == [] and result.rejected_sources == [str(bad)]
    assert "abstract" in result.problems[0].message


def test_bibtex_reader(tmp_path: Path) -> None:
    bib = write(
        tmp_path / "c.bib",
        "@article{smith2020,\n  title={{LightX}: A {Great} Method},\n  author={Smith, A. and Doe, B.},\n"
        f"  year={{2020}},\n  abstract={{{ABSTRACT} Gains of 3\\%.}}\n}}\n\n"
        "@inproceedings{noabs,\n  title={No abstract here},\n  year={2021}\n}\n",
    )
    result = load_corpus([bib])
    assert [p.id for p in result.papers] == ["smith2020"]
    paper = result.papers[0]
    assert paper.title == "LightX: A Great Method" and paper.authors == ["Smith, A.", "Doe, B."]
    assert paper.abstract.endswith("Gains of 3%.")
    assert [(p.kind, p.line) for p in result.problems] == [("missing_abstract", 8)]


def test_page_text_with_missing_lines_resynchronizes(tmp_path: Path) -> None:
    text = "\n".join(["Title A", ABSTRACT, "Title B", "Title C", ABSTRACT + " C.", ABSTRACT + " orphan paragraph " * 20])
    result = load_corpus([write(tmp_path / "p.txt", text)])
    assert [p.title for p in result.papers] == ["Title A", "Title C"]
    assert [(p.line, p.kind) for p in result.problems] == [(3, "missing_abstract"), (6, "missing_title")]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.jsonl", b"", "empty file"),
        ("blank.jsonl", b"  \n\n", "only whitespace"),
        ("bin.jsonl", b"\x00\x01\x02binary", "binary"),
        ("high.csv", bytes(range(0x80, 0x100)) * 3, "not text in any encoding tried"),
        ("damaged.jsonl", json.dumps({"title": "Café", "abstract": ABSTRACT}, ensure_ascii=False).encode()[:-3] + b"\xc3\"}", "UTF-8 text with an invalid byte 0xc3"),
        ("badbom.csv", codecs.BOM_UTF16_LE + b"t\x00\x00\xd8", "UTF-16 byte-order mark but is not valid UTF-16"),
        ("notes.docx", b"PK..", "unknown format"),
    ],
)
def test_unreadable_files_are_rejected_not_fatal(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    good = write(tmp_path / "good.jsonl", json.dumps({"title": "Fine", "abstract": ABSTRACT}))
    result = load_corpus([bad, good])
    assert [p.title for p in result.papers] == ["Fine"]
    assert result.rejected_sources == [str(bad)]
    assert needle in result.problems[0].message


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    result = load_corpus([tmp_path / "nope.jsonl"])
    assert "no such file" in result.problems[0].message
    big = write(tmp_path / "big.jsonl", json.dumps({"title": "x", "abstract": "y" * 3000}))
    result = load_corpus([big], max_file_mb=0.001)
    assert "limit" in result.problems[0].message


def test_duplicates_across_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", json.dumps({"title": "Same Paper", "abstract": ABSTRACT}))
    b = write(tmp_path / "b.csv", f'title,abstract\nSAME  paper!,"{ABSTRACT}"\n')
    result = load_corpus([a, b])
    assert len(result.papers) == 1
    assert result.problems[0].kind == "duplicate" and result.problems[0].source == str(b)


def test_same_title_different_abstracts_are_both_kept(tmp_path: Path) -> None:
    """Different papers share titles (SciFact has such pairs): only the same title AND abstract is a duplicate."""
    other = "A different study of another question, with its own methods and results."
    lines = [
        json.dumps({"title": "Editorial", "abstract": ABSTRACT}),
        json.dumps({"title": "EDITORIAL", "abstract": other}),
        json.dumps({"title": "editorial", "abstract": ABSTRACT}),  # a true duplicate
        json.dumps({"title": "Editorial", "abstract": other, "id": "user-7"}),  # the user's own id: kept
    ]
    f = write(tmp_path / "t.jsonl", "\n".join(lines))
    first = load_corpus([f])
    assert [p.abstract for p in first.papers] == [ABSTRACT, other, other]
    assert len({p.id for p in first.papers}) == 3 and first.papers[2].id == "user-7"
    assert [(p.line, p.kind) for p in first.problems] == [(3, "duplicate")]
    # Re-reading the file gives the same ids (re-indexing stays idempotent).
    assert [p.id for p in load_corpus([f]).papers] == [p.id for p in first.papers]


# -- files as they come: encodings and broken BibTeX ------------------------------------------------
#: Text that only survives a correct decode: accents, sharp s, curly quotes (Latin-1 has no curly quotes).
TRICKY = {
    "title": "“Café” über Straße",
    "abstract": "We study naïve résumé parsing for Müller’s “Größe” data and improve accuracy by 5% on two benchmarks.",
}
LATIN1_TRICKY = {k: v.replace("“", "«").replace("”", "»").replace("’", "'") for k, v in TRICKY.items()}


def _corpus_text(suffix: str, fields: dict[str, str] = TRICKY) -> str:
    title, abstract = fields["title"], fields["abstract"]
    if suffix == ".jsonl":
        return json.dumps({"title": title, "abstract": abstract, "id": "p1"}, ensure_ascii=False) + "\n"
    if suffix == ".csv":
        return f'id,title,abstract\r\np1,{title},"{abstract}"\r\n'
    return f"@article{{p1,\n  title = {{{title}}},\n  abstract = {{{abstract}}}\n}}\n"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".bib"])
@pytest.mark.parametrize(
    ("encoding", "shown"),
    [("utf-16", "UTF-16 (byte-order mark)"), ("cp1252", "cp1252"), ("latin-1", "cp1252"), ("utf-8-sig", None), ("utf-8", None)],
)
def test_files_in_common_encodings_index_with_correct_text(tmp_path: Path, suffix: str, encoding: str, shown: str | None) -> None:
    fields = LATIN1_TRICKY if encoding == "latin-1" else TRICKY
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(_corpus_text(suffix, fields).encode(encoding))
    result = load_corpus([path])
    assert result.problems == [] and len(result.papers) == 1
    paper = result.papers[0]
    assert (paper.title, paper.abstract) == (fields["title"], fields["abstract"])
    if shown is None:
        assert result.notices == []
    else:  # Latin-1 text reads the same as cp1252, the preferred single-byte code page
        assert [(n.source, n.kind, n.message) for n in result.notices] == [(str(path), "encoding", f"not UTF-8; read as {shown}")]


def test_undecodable_file_is_rejected_with_the_reason_and_others_still_load(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.csv"
    bad.write_bytes(b"title,abstract\n" + bytes(range(0x80, 0x100)) * 4)
    good = tmp_path / "good.jsonl"
    good.write_bytes(_corpus_text(".jsonl").encode("utf-16"))
    result = load_corpus([bad, good])
    assert [p.id for p in result.papers] == ["p1"]
    assert result.rejected_sources == [str(bad)]
    [problem] = result.problems
    assert problem.kind == "rejected_file" and "not text in any encoding tried" in problem.message and "save it as UTF-8" in problem.message


BROKEN_BIB = f"""@article{{first,
  title = {{First Paper}},
  abstract = {{{ABSTRACT}}}
}}

@article{{broken,
  title = {{Broken entry without its closing brace,
  abstract = {{{ABSTRACT}}}

@inproceedings{{third,
  title = {{Third Paper}},
  abstract = {{{ABSTRACT} Third.}}
}}
"""


def test_broken_bibtex_entry_is_one_line_numbered_problem_and_nothing_printed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = load_corpus([write(tmp_path / "refs.bib", BROKEN_BIB)])
    assert [p.id for p in result.papers] == ["first", "third"]
    [problem] = result.problems
    assert (problem.line, problem.kind) == (6, "malformed")
    assert str(problem).startswith(f"{tmp_path / 'refs.bib'}:6: unreadable BibTeX entry: ") and "\n" not in str(problem)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # bibtexparser's own multi-line warning is silenced
