"""Read a draft into sentences with their citation keys and original line numbers.

Three input styles (:func:`detect_format`):

* **LaTeX** — ``\\cite{a,b}``, ``\\citep[see][p. 3]{a}``, ``\\citet``,
  ``\\parencite``, ``\\autocite``, ``\\textcite``, ``\\footcite`` … (any command
  whose name contains ``cite``, except ``\\nocite``). Comments, the preamble,
  math, and environments that hold no prose (equations, figures, tables,
  listings, the bibliography) are dropped; ``\\section{..}`` and friends become
  headings; formatting commands keep their text.
* **Markdown / pandoc** — ``[@key]``, ``[see @a, p. 3; @b]``, ``[-@key]`` and
  in-text ``@key`` (also ``@{odd key}``). Front matter, code, HTML comments,
  images and link targets are dropped; ``#`` lines are headings.
* **plain** — Citewise's own ``[id]`` / ``[id1, id2]`` markers (also read in
  Markdown).

The cleaned text keeps, for every character, its offset in the original, so
each sentence reports the line it starts on in the file the user wrote.
Citations are replaced by placeholder markers (``[cite:N]``) before sentence
splitting, so keys with any characters survive the splitter, and markers
written after a full stop stay with their sentence.

Problems that do not stop the audit (an unbalanced brace, an unclosed
environment or math, a ``\\cite`` without keys) are returned with their line.
"""

from __future__ import annotations

import bisect
import re

from agent.audit.draft import (
    _PLACEHOLDER_RE,
    TEXTUAL,
    DraftProblem,
    DraftSentence,
    Format,
    Out,
    ParsedDraft,
)
from agent.audit.latex import Latex
from agent.audit.markdown import _PANDOC_KEY, Markdown
from agent.sentences import sentence_starts, strip_markers

_BULLET = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.)])\s+")
_LATEX_HINT = re.compile(r"\\(?:[A-Za-z]*cite[a-z]*\*?\s*[\[{]|begin\{|section\*?\{|documentclass|usepackage)")
_PANDOC_HINT = re.compile(rf"\[[^\]\n]*@{_PANDOC_KEY}[^\]\n]*\]|(?<![\w@])@{_PANDOC_KEY}")


def detect_format(text: str, name: str | None = None) -> Format:
    """``latex`` for .tex/.ltx files or text with LaTeX commands, ``markdown`` for .md or pandoc citations, else ``plain``."""
    suffix = (name or "").lower().rsplit(".", 1)[-1] if name and "." in name else ""
    if suffix in ("tex", "ltx", "latex"):
        return "latex"
    if suffix in ("md", "markdown", "rmd", "qmd"):
        return "markdown"
    if _LATEX_HINT.search(text):
        return "latex"
    if _PANDOC_HINT.search(text) or re.search(r"(?m)^#{1,6} ", text):
        return "markdown"
    return "plain"


def _sentences(out: Out) -> list[DraftSentence]:
    clean = "".join(out.chars)
    cuts = [0, *sentence_starts(clean), len(clean)]
    pieces: list[tuple[int, int]] = [(a, b) for a, b in zip(cuts, cuts[1:]) if clean[a:b].strip()]
    # A piece that is only citation markers joins the sentence before it (as in agent.sentences.split_sentences).
    merged: list[tuple[int, int]] = []
    for a, b in pieces:
        if merged and not strip_markers(clean[a:b]).strip(" .;,"):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    heads = sorted(out.headings)
    head_starts = [h[0] for h in heads]
    result: list[DraftSentence] = []
    for a, b in merged:
        raw = clean[a:b]
        lead = len(raw) - len(raw.lstrip())
        keys: list[str] = []
        for m in _PLACEHOLDER_RE.finditer(raw):
            for key in out.cites[int(m.group(1))]:
                if key not in keys:
                    keys.append(key)
        raw = _BULLET.sub("", raw, count=1)
        claim = strip_markers(raw.replace(TEXTUAL, " "))
        if not re.search(r"\w", claim):
            continue
        shown = _PLACEHOLDER_RE.sub(lambda m: "[" + ", ".join(out.cites[int(m.group(1))]) + "]", raw)
        shown = re.sub(r"\s+([.,;:!?)])", r"\1", " ".join(shown.split()))
        first = a + lead
        k = bisect.bisect_right(head_starts, first) - 1
        heading = k >= 0 and heads[k][0] <= first < heads[k][1]
        result.append(DraftSentence(out.line_of(out.offs[first]), shown, keys, heading, claim))
    return result


def parse_draft(text: str, fmt: Format | None = None, name: str | None = None) -> ParsedDraft:
    """Sentences of ``text`` with their citation keys and lines; ``fmt`` is detected when not given."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    fmt = fmt or detect_format(text, name)
    out = Out(text)
    if fmt == "latex":
        Latex(out).run()
    else:
        Markdown(out, plain_markers=True).run()
    sentences = _sentences(out)
    problems = sorted(out.problems, key=lambda p: p.line)
    return ParsedDraft(fmt, sentences, problems)


__all__ = ["DraftProblem", "DraftSentence", "Format", "ParsedDraft", "detect_format", "parse_draft"]
