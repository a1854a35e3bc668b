"""Markdown / pandoc drafts (``[@key]``, ``[see @a, p. 3; @b]``, in-text ``@key``) and Citewise's own
``[id]`` markers (:class:`Markdown`)."""

from __future__ import annotations

import re

from agent.audit.draft import Out, math_text
from agent.sentences import MARKER_RE

# pandoc: a key starts with a letter, digit or _, may hold :.#$%&-+?<>~/ inside, and ends alphanumeric.
_PANDOC_KEY = r"(?:\{[^{}\n]+\}|[\w](?:[\w:.#$%&+?<>~/-]*[\w])?)"
_BRACKET_CITE = re.compile(rf"\[([^\[\]\n]*?-?@{_PANDOC_KEY}[^\[\]\n]*)\]")
_INTEXT_CITE = re.compile(rf"(?<![\w@\\])-?@({_PANDOC_KEY})")
_KEY_IN_BRACKET = re.compile(rf"(?<![\w@])-?@({_PANDOC_KEY})")
_BULLET = re.compile(r"^\s*(?:[-*•]|\(?\d{1,2}[.)])\s+")
_MD_HEADING = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+")
_MD_FENCE = re.compile(r"[ \t]{0,3}(```+|~~~+)")
_MD_LINKDEF = re.compile(r"[ \t]{0,3}\[[^\]\n]+\]:[ \t]+\S+.*")
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\([^)\n]*\)")
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")


class Markdown:
    def __init__(self, out: Out, plain_markers: bool = True) -> None:
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
                out.put(math_text(t[i + 1 : close]), i)
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
