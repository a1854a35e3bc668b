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
from dataclasses import dataclass, field
from typing import Literal

from agent.sentences import MARKER_RE, sentence_starts, strip_markers

Format = Literal["latex", "markdown", "plain"]

#: Placeholder written where a citation stood; N indexes :attr:`_Out.cites`.
PLACEHOLDER = "[cite:{}]"
#: Written before the placeholder of a textual citation (``\\citet{a} shows``, ``@a shows``): not a letter, so
#: the splitter starts a sentence there instead of handing the citation to the sentence before.
TEXTUAL = "\ue000"
_PLACEHOLDER_RE = re.compile(r"\ue000?\[cite:(\d+)\]")

#: Environments whose content is not prose: dropped whole.
DROP_ENVS = frozenset(
    """equation equation* align align* alignat alignat* gather gather* multline multline* eqnarray eqnarray*
    displaymath math flalign flalign* split figure figure* table table* tabular tabular* tabularx longtable
    verbatim verbatim* Verbatim lstlisting minted tikzpicture picture thebibliography algorithm algorithm*
    algorithmic comment filecontents filecontents*""".split()
)
#: Commands that start a heading; their (last) brace argument is the heading text.
HEADING_CMDS = frozenset(
    "part chapter section subsection subsubsection paragraph subparagraph title".split()
)
#: Citation commands that stand for the authors' names in the sentence ("\\citet{a} shows").
TEXTUAL_CITES = frozenset("citet citeauthor textcite citealt citeauthoryear".split())
#: Commands dropped together with their arguments.
DROP_CMDS = frozenset(
    """label ref eqref cref Cref autoref pageref nameref url includegraphics bibliography bibliographystyle
    addbibresource vspace hspace input include usepackage documentclass newcommand renewcommand providecommand
    newenvironment renewenvironment setlength setcounter addtocounter footnote footnotetext thanks nocite
    hypersetup graphicspath definecolor author date affiliation email keywords pagestyle thispagestyle
    bibitem newtheorem DeclareMathOperator""".split()
)
#: Commands replaced by text.
TEXT_CMDS = {"etal": "et al.", "ie": "i.e.", "eg": "e.g.", "LaTeX": "LaTeX", "TeX": "TeX", "ldots": "…", "dots": "…",
             "textendash": "–", "textemdash": "—", "%": "%"}
#: Escaped characters (``\\%`` -> ``%``); other non-letter escapes are spacing (``\\,``, ``\\ ``).
ESCAPES = {"%": "%", "&": "&", "_": "_", "#": "#", "$": "$", "{": "{", "}": "}", "~": "~", "^": "^"}
#: Math kept in the text when, stripped of commands, it is this short and simple (``$95\\%$``, ``$\\beta=4$``).
_SIMPLE_MATH = re.compile(r"[A-Za-z0-9.,%<>=+\-×\s]{1,24}")
#: Math commands that read as a word or symbol; math using any other command is dropped.
MATH_WORDS = {"times": "×", "cdot": "·", "le": "<=", "leq": "<=", "ge": ">=", "geq": ">=", "approx": "≈", "sim": "~",
              "pm": "±", "%": "%", "percent": "%"}
_GREEK = frozenset("alpha beta gamma delta epsilon varepsilon eta theta lambda mu nu pi rho sigma tau phi chi psi omega".split())

# pandoc: a key starts with a letter, digit or _, may hold :.#$%&-+?<>~/ inside, and ends alphanumeric.
_PANDOC_KEY = r"(?:\{[^{}\n]+\}|[\w](?:[\w:.#$%&+?<>~/-]*[\w])?)"
_BRACKET_CITE = re.compile(rf"\[([^\[\]\n]*?-?@{_PANDOC_KEY}[^\[\]\n]*)\]")
_INTEXT_CITE = re.compile(rf"(?<![\w@\\])-?@({_PANDOC_KEY})")
_KEY_IN_BRACKET = re.compile(rf"(?<![\w@])-?@({_PANDOC_KEY})")
_BULLET = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.)])\s+")
_MD_HEADING = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+")
_MD_FENCE = re.compile(r"[ \t]{0,3}(```+|~~~+)")
_MD_LINKDEF = re.compile(r"[ \t]{0,3}\[[^\]\n]+\]:[ \t]+\S+.*")
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\([^)\n]*\)")
_LATEX_HINT = re.compile(r"\\(?:[A-Za-z]*cite[a-z]*\*?\s*[\[{]|begin\{|section\*?\{|documentclass|usepackage)")
_PANDOC_HINT = re.compile(rf"\[[^\]\n]*@{_PANDOC_KEY}[^\]\n]*\]|(?<![\w@])@{_PANDOC_KEY}")


@dataclass
class DraftProblem:
    """Something odd in the draft that the audit worked around, with its line."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class DraftSentence:
    """One sentence: the line it starts on, its cleaned text (citations shown as ``[key, ...]`` where they
    stood), the text checked (without citations), and its citation keys in order."""

    line: int
    text: str
    citations: list[str] = field(default_factory=list)
    heading: bool = False
    claim: str = ""


@dataclass
class ParsedDraft:
    format: Format
    sentences: list[DraftSentence]
    problems: list[DraftProblem] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """Every cited key, in order of first appearance."""
        return list(dict.fromkeys(k for s in self.sentences for k in s.citations))


class _Out:
    """Cleaned text with, per character, its offset in the original."""

    def __init__(self, text: str) -> None:
        self.src = text
        self.chars: list[str] = []
        self.offs: list[int] = []
        self.cites: list[list[str]] = []
        self.headings: list[tuple[int, int]] = []
        self.problems: list[DraftProblem] = []
        self._newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def copy(self, a: int, b: int) -> None:
        self.chars.extend(self.src[a:b])
        self.offs.extend(range(a, b))

    def put(self, s: str, at: int) -> None:
        self.chars.extend(s)
        self.offs.extend([at] * len(s))

    def cite(self, keys: list[str], at: int, textual: bool = False) -> None:
        self.put(f"{' ' if not textual else TEXTUAL}{PLACEHOLDER.format(len(self.cites))}", at)
        self.cites.append(keys)

    def brk(self, at: int) -> None:
        self.put("\n\n", at)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self._newlines, offset) + 1

    def problem(self, offset: int, message: str) -> None:
        self.problems.append(DraftProblem(self.line_of(offset), message))

    @property
    def pos(self) -> int:
        return len(self.chars)


# ---------------------------------------------------------------- LaTeX
def _match_brace(text: str, i: int, end: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``i`` (escapes and comments respected), or -1."""
    depth = 0
    j = i
    while j < end:
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "%":
            nl = text.find("\n", j, end)
            j = end if nl < 0 else nl + 1
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def _match_bracket(text: str, i: int, end: int) -> int:
    """Index of the ``]`` closing the optional argument at ``i`` (braces nest), or -1 (none on this line)."""
    depth = 0
    j = i + 1
    while j < end and text[j] != "\n":
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "]" and depth <= 0:
            return j
        j += 1
    return -1


def _skip_ws(text: str, i: int, end: int) -> int:
    while i < end and text[i] in " \t":
        i += 1
    return i


def _math_text(body: str) -> str:
    """The text kept for a piece of inline math: simple numbers and relations, else nothing."""
    def word(m: re.Match[str]) -> str:
        name = m.group(1)
        return name if name in _GREEK else MATH_WORDS.get(name, "\x00")

    plain = re.sub(r"\\([A-Za-z]+)", word, body)
    plain = re.sub(r"\\(.)", r"\1", plain)
    plain = " ".join(plain.replace("{", "").replace("}", "").replace("^", "").replace("_", "").split())
    return plain if _SIMPLE_MATH.fullmatch(plain) else ""


class _Latex:
    def __init__(self, out: _Out) -> None:
        self.out = out
        self.t = out.src
        self.open_braces: list[int] = []

    def run(self) -> None:
        t = self.t
        start, end = 0, len(t)
        m = re.search(r"\\begin\{document\}", t)
        if m:
            start = m.end()
            e = t.find("\\end{document}", start)
            end = e if e >= 0 else end
        self.scan(start, end)
        for at in self.open_braces:
            self.out.problem(at, "'{' never closed (unbalanced braces); read on as text")

    def _args(self, i: int, end: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
        """Optional ``[..]`` and brace ``{..}`` arguments right after a command: (opts, args, next index)."""
        t = self.t
        opts: list[tuple[int, int]] = []
        args: list[tuple[int, int]] = []
        j = i
        while True:
            k = _skip_ws(t, j, end)
            if k < end and t[k] == "[" and not args:  # an optional argument after a brace one is prose
                close = _match_bracket(t, k, end)
                if close < 0:
                    break
                opts.append((k + 1, close))
            elif k < end and t[k] == "{":
                close = _match_brace(t, k, end)
                if close < 0:  # reported once by scan() as an unbalanced brace
                    break
                args.append((k + 1, close))
            else:
                break
            j = close + 1
        return opts, args, j

    def scan(self, i: int, end: int) -> None:
        t, out = self.t, self.out
        run_start = i
        while i < end:
            ch = t[i]
            if ch not in "\\%${}~`'-":
                i += 1
                continue
            out.copy(run_start, i)
            if ch == "%":
                nl = t.find("\n", i, end)
                i = end if nl < 0 else _skip_ws(t, nl + 1, end)
            elif ch == "$":
                i = self.math(i, end)
            elif ch == "{":
                self.open_braces.append(i)
                i += 1
            elif ch == "}":
                if self.open_braces:
                    self.open_braces.pop()
                else:
                    out.problem(i, "'}' without a matching '{' (unbalanced braces); ignored")
                i += 1
            elif ch == "~":
                out.put(" ", i)
                i += 1
            elif ch in "`'":
                if t.startswith(ch * 2, i):
                    out.put("“" if ch == "`" else "”", i)
                    i += 2
                else:
                    out.copy(i, i + 1)
                    i += 1
            elif ch == "-":
                n = 3 if t.startswith("---", i) else 2 if t.startswith("--", i) else 1
                out.put({3: "—", 2: "–"}.get(n, "-"), i)
                i += n
            else:
                i = self.command(i, end)
            run_start = i
        out.copy(run_start, min(i, end))

    def math(self, i: int, end: int) -> int:
        t = self.t
        display = t.startswith("$$", i)
        delim = "$$" if display else "$"
        close = t.find(delim, i + len(delim), end)
        para = t.find("\n\n", i, end)
        if close < 0 or (not display and para >= 0 and close > para):
            self.out.problem(i, f"'{delim}' math never closed; the '{delim}' is ignored")
            return i + len(delim)
        if not display:
            self.out.put(_math_text(t[i + 1 : close]), i)
        return close + len(delim)

    def command(self, i: int, end: int) -> int:
        t, out = self.t, self.out
        m = re.compile(r"\\([A-Za-z]+\*?|.)", re.S).match(t, i)
        if not m:
            return i + 1
        name = m.group(1)
        j = m.end()
        if name == "\\":
            out.put(" ", i)
            return j
        if name == "(" or name == "[":
            close = t.find("\\)" if name == "(" else "\\]", j, end)
            if close < 0:
                out.problem(i, f"'\\{name}' math never closed; ignored")
                return j
            if name == "(":
                out.put(_math_text(t[j:close]), i)
            return close + 2
        if not name[0].isalpha():
            out.put(ESCAPES.get(name, " "), i)
            return j
        base = name.rstrip("*")
        if base == "begin":
            return self.begin(i, j, end)
        if base == "end":
            _, args, k = self._args(j, end)
            out.brk(i)
            return k
        if base == "item":
            out.brk(i)
            k = _skip_ws(t, j, end)
            close = _match_bracket(t, k, end) if k < end and t[k] == "[" else -1
            return close + 1 if close >= 0 else j
        if "cite" in base.lower() and base != "nocite":
            return self.cite(i, j, end, name)
        if base in HEADING_CMDS:
            _, args, k = self._args(j, end)
            out.brk(i)
            if args:
                a, b = args[-1]
                h0 = out.pos
                self.scan(a, b)
                out.headings.append((h0, out.pos))
            out.brk(i)
            return k
        if base in DROP_CMDS:
            _, _, k = self._args(j, end)
            return k
        if base in TEXT_CMDS:
            out.put(TEXT_CMDS[base], i)
            return j
        if base == "href":
            _, args, k = self._args(j, end)
            if len(args) >= 2:
                self.scan(*args[1])
            return k
        # Any other command: drop its name and optional arguments, keep the text of its brace arguments.
        _, args, k = self._args(j, end) if j < end and t[j] in "{[" else ([], [], j)
        for a, b in args:
            self.scan(a, b)
        return k

    def begin(self, i: int, j: int, end: int) -> int:
        t, out = self.t, self.out
        m = re.compile(r"\s*\{([^{}\n]*)\}").match(t, j)
        if not m:
            out.problem(i, "\\begin without an environment name; ignored")
            return j
        env = m.group(1).strip()
        if env in DROP_ENVS:
            close = t.find(f"\\end{{{env}}}", m.end(), end)
            if close < 0:
                out.problem(i, f"\\begin{{{env}}} never closed; only the \\begin line is dropped")
                return m.end()
            out.brk(i)
            return close + len(f"\\end{{{env}}}")
        out.brk(i)
        _, _, k = self._args(m.end(), end)  # environment parameters (\begin{minipage}{.5\textwidth}) are no prose
        return k

    def cite(self, i: int, j: int, end: int, name: str) -> int:
        out = self.out
        opts, args, k = self._args(j, end)
        if not args:
            out.problem(i, f"\\{name} without a {{key}}; ignored")
            return k if k > j else j
        a, b = args[0]
        keys = [key.strip() for key in self.t[a:b].split(",") if key.strip()]
        if not keys:
            out.problem(i, f"\\{name}{{}} with no key; ignored")
            return args[0][1] + 1
        textual = name.rstrip("*").lower() in TEXTUAL_CITES
        out.cite(keys, i, textual)
        return args[0][1] + 1


# ---------------------------------------------------------------- Markdown / plain
class _Markdown:
    def __init__(self, out: _Out, plain_markers: bool = True) -> None:
        self.out = out
        self.t = out.src
        self.plain_markers = plain_markers

    def run(self) -> None:
        t, out = self.t, self.out
        lines: list[tuple[int, int]] = []
        pos = 0
        for line in t.splitlines(keepends=True):
            lines.append((pos, pos + len(line)))
            pos += len(line)
        n = 0
        # YAML front matter
        if lines and t[lines[0][0] : lines[0][1]].strip() == "---":
            for k in range(1, len(lines)):
                if t[lines[k][0] : lines[k][1]].strip() in ("---", "..."):
                    n = k + 1
                    break
        in_comment = False
        while n < len(lines):
            a, b = lines[n]
            line = t[a:b]
            if in_comment:
                close = line.find("-->")
                if close >= 0:
                    in_comment = False
                    self.inline(a + close + 3, b)
                n += 1
                continue
            fence = _MD_FENCE.match(line)
            if fence:
                mark = fence.group(1)
                for k in range(n + 1, len(lines)):
                    if t[lines[k][0] : lines[k][1]].strip().startswith(mark[:3]):
                        out.brk(a)
                        n = k + 1
                        break
                else:
                    out.problem(a, f"code block opened with {mark} never closed; its fence line is dropped")
                    n += 1
                continue
            if _MD_LINKDEF.fullmatch(line.rstrip("\r\n")):
                n += 1
                continue
            heading = _MD_HEADING.match(line)
            if heading:
                out.brk(a)
                h0 = out.pos
                self.inline(a + heading.end(), b)
                out.headings.append((h0, out.pos))
                out.brk(b)
                n += 1
                continue
            quote = re.match(r"[ \t]{0,3}>[ \t]?", line)
            start = a + (quote.end() if quote else 0)
            opened = line.find("<!--")
            if opened >= 0 and line.find("-->", opened) < 0:
                self.inline(start, a + opened)
                out.put("\n", a + opened)
                in_comment = True
                n += 1
                continue
            self.inline(start, b)
            n += 1
        if in_comment:
            out.problem(len(t) - 1, "HTML comment '<!--' never closed")

    def inline(self, a: int, b: int) -> None:
        t, out = self.t, self.out
        i = a
        run = a
        while i < b:
            ch = t[i]
            if ch not in "[@!`<$*\\-":
                i += 1
                continue
            out.copy(run, i)
            run = i
            nxt = self.token(i, b)
            if nxt is None:
                i += 1
                continue
            i = run = nxt[0]
        out.copy(run, b)

    def token(self, i: int, b: int) -> tuple[int] | None:
        """Handle the construct at ``i``; returns (next index,) or None when it is plain text."""
        t, out = self.t, self.out
        ch = t[i]
        if ch == "\\" and i + 1 < b and t[i + 1] in "\\`*_{}[]()#+-.!@$<>":
            out.put(t[i + 1], i)
            return (i + 2,)
        if ch == "<" and t.startswith("<!--", i):
            close = t.find("-->", i, b)
            return (close + 3,) if close >= 0 else None
        if ch == "`":
            m = re.compile(r"(`+)(.+?)\1").match(t, i, b)
            if m:
                out.copy(m.start(2), m.end(2))
                return (m.end(),)
            return None
        if ch == "$":
            display = t.startswith("$$", i)
            delim = "$$" if display else "$"
            close = t.find(delim, i + len(delim), b)
            if close < 0 or (not display and i + 1 < b and t[i + 1].isspace()):
                return None  # a lone dollar sign: text ("$5")
            if not display:
                out.put(_math_text(t[i + 1 : close]), i)
            return (close + len(delim),)
        if ch == "*":
            line_start = t.rfind("\n", 0, i) + 1
            if not t[line_start:i].strip() and i + 1 < b and t[i + 1] == " ":
                return None  # a bullet
            j = i
            while j < b and t[j] == "*":
                j += 1
            return (j,)
        if ch == "!":
            m = _MD_IMAGE.match(t, i, b)
            return (m.end(),) if m else None
        if ch == "[":
            m = _MD_LINK.match(t, i, b)
            if m:
                self.inline(m.start(1), m.end(1))
                return (m.end(),)
            m = _BRACKET_CITE.match(t, i, b)
            if m:
                keys = [_pandoc_key(k) for k in _KEY_IN_BRACKET.findall(m.group(1))]
                if keys:
                    out.cite(keys, i)
                    return (m.end(),)
            if self.plain_markers:
                m = MARKER_RE.match(t, i, b)
                if m and not t.startswith("(", m.end()):
                    out.cite([k for k in re.split(r"\s*[,;]\s*", m.group(1).strip()) if k], i)
                    return (m.end(),)
            return None
        if ch in "@-":
            m = _INTEXT_CITE.match(t, i, b)
            if m and (ch == "@" or t[i + 1 : i + 2] == "@"):
                if i == 0 or not (t[i - 1].isalnum() or t[i - 1] in "@\\"):
                    out.cite([_pandoc_key(m.group(1))], i, textual=True)
                    return (m.end(),)
            return None
        return None


def _pandoc_key(raw: str) -> str:
    return raw[1:-1].strip() if raw.startswith("{") and raw.endswith("}") else raw


# ---------------------------------------------------------------- sentences
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


def _sentences(out: _Out) -> list[DraftSentence]:
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
    out = _Out(text)
    if fmt == "latex":
        _Latex(out).run()
    else:
        _Markdown(out, plain_markers=True).run()
    sentences = _sentences(out)
    problems = sorted(out.problems, key=lambda p: p.line)
    return ParsedDraft(fmt, sentences, problems)


__all__ = ["DraftProblem", "DraftSentence", "Format", "ParsedDraft", "detect_format", "parse_draft"]
