"""LaTeX drafts: ``\\cite``-family commands, comments, math, environments and headings (:class:`Latex`)."""

from __future__ import annotations

import re

from agent.audit.draft import Out, match_brace, match_bracket, math_text, skip_ws

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


class Latex:
    def __init__(self, out: Out) -> None:
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
            k = skip_ws(t, j, end)
            if k < end and t[k] == "[" and not args:  # an optional argument after a brace one is prose
                close = match_bracket(t, k, end)
                if close < 0:
                    break
                opts.append((k + 1, close))
            elif k < end and t[k] == "{":
                close = match_brace(t, k, end)
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
                i = end if nl < 0 else skip_ws(t, nl + 1, end)
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
            self.out.put(math_text(t[i + 1 : close]), i)
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
                out.put(math_text(t[j:close]), i)
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
            k = skip_ws(t, j, end)
            close = match_bracket(t, k, end) if k < end and t[k] == "[" else -1
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
