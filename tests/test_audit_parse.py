"""Draft parsing for ``citewise audit``: citation keys and original line numbers, by hand-written cases."""

from __future__ import annotations

import pytest

from agent.audit.parse import detect_format, parse_draft
from agent.ingest.normalize import VALID_ID, key_to_id


def rows(text: str, fmt: str | None = None, name: str | None = None) -> list[tuple[int, str, list[str]]]:
    draft = parse_draft(text, fmt, name)  # type: ignore[arg-type]
    return [(s.line, s.claim, s.citations) for s in draft.sentences]


LATEX = r"""\documentclass{article}
\usepackage{natbib}
\begin{document}
\section{Related Work}
% a comment that cites \cite{hidden}
Posterior collapse hurts VAEs~\citep[see][p.~3]{bowman2016, he2019}.
\citet{kingma2014} introduced the VAE. We use $\beta=4$ and reach $95\%$ accuracy
on the test set \parencite{x:y/z}.
\begin{equation}
 a = b \cite{ineq}
\end{equation}
\begin{itemize}
\item The first item is cited \autocite[12]{a1}.
\item The second item has \textbf{bold} text \cite{a2,a3}.
\end{itemize}
Footnotes are dropped\footnote{Not this \cite{fn}.} here \textcite{t1}.
\end{document}
\cite{after_end}
"""


def test_latex_keys_lines_and_stripping() -> None:
    draft = parse_draft(LATEX)
    assert draft.format == "latex"
    got = [(s.line, s.claim, s.citations, s.heading) for s in draft.sentences]
    assert got == [
        (4, "Related Work", [], True),
        (6, "Posterior collapse hurts VAEs.", ["bowman2016", "he2019"], False),
        (7, "introduced the VAE.", ["kingma2014"], False),
        (7, "We use beta=4 and reach 95% accuracy on the test set.", ["x:y/z"], False),
        (13, "The first item is cited.", ["a1"], False),
        (14, "The second item has bold text.", ["a2", "a3"], False),
        (16, "Footnotes are dropped here.", ["t1"], False),
    ]
    # the displayed text shows each citation where it stood
    assert draft.sentences[2].text == "[kingma2014] introduced the VAE."
    assert draft.sentences[1].text == "Posterior collapse hurts VAEs [bowman2016, he2019]."
    assert "hidden" not in draft.keys and "ineq" not in draft.keys and "after_end" not in draft.keys
    assert draft.problems == []


def test_latex_without_preamble_and_citation_variants() -> None:
    text = "A claim with two groups \\cite{a} and \\citep*{b,c}.\n\nAnother one \\Citealp{d} here \\footcite[p. 4]{e}.\n"
    assert rows(text) == [(1, "A claim with two groups and.", ["a", "b", "c"]), (3, "Another one here.", ["d", "e"])]


def test_latex_unbalanced_braces_are_reported_by_line_and_nothing_is_lost() -> None:
    text = "First sentence is fine \\cite{a}.\nSecond {has an open brace \\cite{b}.\nThird is plain \\cite{c}.\n"
    draft = parse_draft(text, "latex")
    assert [s.citations for s in draft.sentences] == [["a"], ["b"], ["c"]]
    assert [(p.line, "never closed" in p.message) for p in draft.problems] == [(2, True)]
    draft = parse_draft("First one is fine \\cite{a}.\nSecond closes twice}} \\cite{b}.\n", "latex")
    assert [s.citations for s in draft.sentences] == [["a"], ["b"]]
    assert [(p.line, "without a matching" in p.message) for p in draft.problems] == [(2, True), (2, True)]
    # a command whose argument is never closed: the text after it is still read
    draft = parse_draft("Bold \\textbf{starts here \\cite{a}.\n\nLater claim is here \\cite{b}.\n", "latex")
    assert [s.citations for s in draft.sentences] == [["a"], ["b"]]
    assert [p.line for p in draft.problems] == [1]


def test_latex_unclosed_environment_and_math_keep_the_rest() -> None:
    text = "Intro text is here \\cite{a}.\n\\begin{figure}\nCaption-less float.\nLater text $x survives \\cite{b}.\n"
    draft = parse_draft(text, "latex")
    assert [s.citations for s in draft.sentences if s.citations] == [["a"], ["b"]]
    assert {p.line for p in draft.problems} == {2, 4}


def test_latex_cite_without_key() -> None:
    draft = parse_draft("Nothing cited here \\cite{} at all.\n", "latex")
    assert draft.sentences[0].citations == []
    assert draft.problems and draft.problems[0].line == 1


MARKDOWN = """---
title: Draft
bibliography: refs.bib
---
# Introduction

Contrastive learning needs negatives [@chen2020; see @he2020, p. 4]. As @oord2018 showed, it works.
Mail me at someone@example.com for details.

```python
x = "@notacite"
```

- A bullet that cites [@{odd key!}] here.
- Suppressed author [-@smith2019] and a [link](https://example.org/@x) too.
<!-- [@commented] -->
"""


def test_markdown_pandoc_citations() -> None:
    draft = parse_draft(MARKDOWN, name="draft.md")
    assert draft.format == "markdown"
    got = [(s.line, s.claim, s.citations) for s in draft.sentences]
    assert got == [
        (5, "Introduction", []),
        (7, "Contrastive learning needs negatives.", ["chen2020", "he2020"]),
        (7, "As showed, it works.", ["oord2018"]),
        (8, "Mail me at someone@example.com for details.", []),
        (14, "A bullet that cites here.", ["odd key!"]),
        (15, "Suppressed author and a link too.", ["smith2019"]),
    ]
    assert draft.sentences[0].heading


def test_plain_text_citewise_markers() -> None:
    text = "Decoupled losses help [p196b093a]. Two papers agree [p1, p2].\nAn uncited sentence follows here.\n"
    assert rows(text) == [
        (1, "Decoupled losses help.", ["p196b093a"]),
        (1, "Two papers agree.", ["p1", "p2"]),
        (2, "An uncited sentence follows here.", []),
    ]


def test_markers_after_the_full_stop_stay_with_their_sentence() -> None:
    assert rows("It works.\\cite{a} Next one here.\n", "latex") == [(1, "It works.", ["a"]), (1, "Next one here.", [])]
    assert rows("It works. [@a] Next one here.\n", "markdown") == [(1, "It works.", ["a"]), (1, "Next one here.", [])]


@pytest.mark.parametrize(
    ("text", "name", "fmt"),
    [
        ("x", "a.tex", "latex"),
        ("x", "a.md", "markdown"),
        ("Text \\citep{a}.", None, "latex"),
        ("Text [@a].", None, "markdown"),
        ("Text [p1].", None, "plain"),
    ],
)
def test_detect_format(text: str, name: str | None, fmt: str) -> None:
    assert detect_format(text, name) == fmt


def test_crlf_line_numbers() -> None:
    assert rows("One claim here \\cite{a}.\r\n\r\nTwo claim here \\cite{b}.\r\n", "latex") == [
        (1, "One claim here.", ["a"]),
        (3, "Two claim here.", ["b"]),
    ]


@pytest.mark.parametrize("key", ["smith2020", "a:b.c-d_e", "müller2020", "smith/2020", "key with space", "x" * 80])
def test_key_to_id_is_valid_and_deterministic(key: str) -> None:
    pid = key_to_id(key)
    assert VALID_ID.match(pid)
    assert key_to_id(key) == pid
    if VALID_ID.match(key):
        assert pid == key
    assert key_to_id("smith/2020") != key_to_id("smith_2020")


def test_latex_items_and_environment_parameters() -> None:
    text = (
        "\\begin{itemize}[noitemsep]\n\\item {Bold} text claims stuff \\cite{a}.\n"
        "\\item[(b)] Labelled item claims more \\cite{b}.\n\\end{itemize}\n"
        "\\begin{minipage}{0.5\\textwidth}Inside the box we claim \\cite{c}.\\end{minipage}\n"
    )
    assert rows(text, "latex") == [
        (2, "Bold text claims stuff.", ["a"]),
        (3, "Labelled item claims more.", ["b"]),
        (5, "Inside the box we claim.", ["c"]),
    ]
