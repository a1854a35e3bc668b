"""Turn answers, retrieval results and papers into HTML for the chat.

Everything that came from outside the code - questions, model output, paper
titles and abstracts (an uploaded corpus is untrusted data) - passes through
:func:`esc` before it is put into markup; only the markup built here is raw.
The HTML is still sanitized again by Gradio's Chatbot, so it keeps to plain
elements and ``class`` / ``title`` / ``id`` / ``href`` attributes (no inline
styles, no scripts); the look lives in :data:`agent.ui.theme.CSS`.

Layout of a finished answer message::

    [badge: ✓ Faithful · fast check · 3/3 sentences supported]
    <sentence ✓ ...>[p1] <sentence ✗ ...>[p2]          (marks + hover reasons)
    [comparison table]
    <details> Faithfulness details (one line per sentence, with its reason)
    References
      <details id=card-…> [p1] Title (year)  -> evidence card:
          abstract with the supporting sentence(s) <mark>ed, authors, link
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping

from agent.chain.hygiene import screen_sentences, screen_title, sentence_pieces
from agent.sentences import markers
from agent.types import Answer, Paper, SearchHit, SentenceResult

#: Icons paired with every verdict colour, so a mark never relies on colour alone.
ICON_SUPPORTED = "✓"
ICON_UNSUPPORTED = "✗"
ICON_UNCHECKED = "•"
#: Longest hover text (a reason plus an evidence quote), in characters.
MAX_TITLE_CHARS = 400
_WORD = re.compile(r"[a-z0-9]+")
#: Ids that may appear in an element id / fragment (paper ids are already this strict).
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


def esc(text: object) -> str:
    """HTML-escape ``text`` for element content and double- or single-quoted attributes."""
    return html.escape("" if text is None else str(text), quote=True)


def _clip(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_id(prefix: str, paper_id: str) -> str:
    """The element id of one evidence card (``prefix`` keeps answers of one chat apart)."""
    return f"card-{_SAFE_ID.sub('_', prefix)}-{_SAFE_ID.sub('_', paper_id)}"


def safe_url(url: str | None) -> str | None:
    """``url`` when it is a plain http(s) link, else None (no javascript: or data: links)."""
    if not url:
        return None
    url = url.strip()
    return url if re.match(r"^https?://[^\s<>\"']+$", url, re.I) else None


# -- citations ---------------------------------------------------------------
def link_citations(
    text: str,
    prefix: str | None = None,
    papers: Mapping[str, Paper] | None = None,
    hover: Mapping[str, str] | None = None,
) -> str:
    """Escape ``text`` and turn each ``[id]`` marker into a citation chip.

    With a ``prefix`` the chip is a link to that answer's evidence card
    (``#card-<prefix>-<id>``); the hover text is the paper's title plus
    ``hover[id]`` (e.g. the supporting sentence). Ids not in ``papers`` stay
    plain text when ``papers`` is given.
    """
    papers = papers or {}
    hover = hover or {}
    out: list[str] = []
    pos = 0
    for match in markers(text):  # not a verbatim quote's own brackets ("the [CLS] token")
        out.append(esc(text[pos : match.start()]))
        pos = match.end()
        ids = [i.strip() for i in re.split(r"[,;]", match.group(1)) if i.strip()]
        chips = []
        for pid in ids:
            paper = papers.get(pid)
            if papers and paper is None:
                chips.append(esc(f"[{pid}]"))
                continue
            tip = paper.title if paper else pid
            if hover.get(pid):
                tip = f"{tip} — “{hover[pid]}”"
            attrs = f'class="cw-cite" data-paper="{esc(pid)}" title="{esc(_clip(tip))}"'
            if prefix is not None:
                chips.append(f'<a {attrs} href="#{card_id(prefix, pid)}">[{esc(pid)}]</a>')
            else:
                chips.append(f"<span {attrs}>[{esc(pid)}]</span>")
        out.append("".join(chips))
    out.append(esc(text[pos:]))
    return "".join(out)


# -- faithfulness marks --------------------------------------------------------
def verdict_of(sentence: SentenceResult) -> tuple[str, str, str]:
    """(css class, icon, word) for one sentence's verdict."""
    if sentence.supported is True:
        return "cw-ok", ICON_SUPPORTED, "supported"
    if sentence.supported is False:
        return "cw-bad", ICON_UNSUPPORTED, "unsupported"
    return "cw-unk", ICON_UNCHECKED, "not checked"


def sentence_reason(sentence: SentenceResult) -> str:
    """The hover text of a sentence mark: verdict, score, reason and the best evidence."""
    _, _, word = verdict_of(sentence)
    parts = [word.capitalize()]
    if sentence.score is not None:
        parts[0] += f" (score {sentence.score:.2f})"
    if sentence.reason:
        parts.append(sentence.reason)
    if sentence.evidence is not None:
        parts.append(f"evidence [{sentence.evidence.id}]: “{_clip(sentence.evidence.quote, 200)}”")
    return _clip(" — ".join(parts))


def render_sentence(sentence: SentenceResult, prefix: str | None, papers: Mapping[str, Paper], hover: Mapping[str, str]) -> str:
    cls, icon, word = verdict_of(sentence)
    body = link_citations(sentence.text, prefix, papers, hover)
    return (
        f'<span class="cw-sent {cls}" title="{esc(sentence_reason(sentence))}">'
        f'<span class="cw-icon" aria-hidden="true">{icon}</span><span class="cw-sr">({word})</span> {body}</span>'
    )


def _prose_with_marks(prose: str, sentences: list[SentenceResult], prefix: str, papers: Mapping[str, Paper], hover: Mapping[str, str]) -> str:
    """The answer prose with every checked sentence wrapped in its mark; line breaks kept."""
    if not sentences:
        return _paragraphs(link_citations(prose, prefix, papers, hover))
    out: list[str] = []
    cursor = 0
    flat = prose
    for sentence in sentences:
        # Sentences are whitespace-normalized: find them with flexible whitespace.
        pattern = r"\s+".join(re.escape(w) for w in sentence.text.split())
        match = re.compile(pattern).search(flat, cursor) if pattern else None
        if match is None:
            out.append(" " + render_sentence(sentence, prefix, papers, hover))
            continue
        out.append(_gap(flat[cursor : match.start()], prefix, papers, hover))
        out.append(render_sentence(sentence, prefix, papers, hover))
        cursor = match.end()
    out.append(_gap(flat[cursor:], prefix, papers, hover))
    return _paragraphs("".join(out))


def _gap(text: str, prefix: str, papers: Mapping[str, Paper], hover: Mapping[str, str]) -> str:
    return link_citations(text, prefix, papers, hover) if text.strip() else text


def _paragraphs(markup: str) -> str:
    """Blank lines become paragraph breaks and single newlines line breaks."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", markup) if p.strip()]
    return "".join(f'<p class="cw-p">{p.replace(chr(10), "<br>")}</p>' for p in paras)


def badge(answer: Answer) -> str:
    """The answer-level verdict: icon + words + counts (never colour alone)."""
    if answer.refused:
        return '<div class="cw-badge cw-unk"><span class="cw-icon" aria-hidden="true">∅</span> No answer in the abstracts</div>'
    verdict = answer.faithfulness
    checked = [s for s in answer.sentences + answer.withheld_sentences if s.supported is not None]
    if verdict is None or not checked:
        return '<div class="cw-badge cw-unk"><span class="cw-icon" aria-hidden="true">•</span> Not checked</div>'
    good = sum(1 for s in checked if s.supported)
    if verdict.verdict == "faithful":
        cls, icon, word = "cw-ok", ICON_SUPPORTED, "Faithful"
    else:
        cls, icon, word = "cw-bad", ICON_UNSUPPORTED, "Unfaithful draft" if answer.withheld_sentences else "Unfaithful"
    return (
        f'<div class="cw-badge {cls}" title="answer score {verdict.score:.2f} (lowest sentence score)">'
        f'<span class="cw-icon" aria-hidden="true">{icon}</span> {word} · {esc(verdict.mode)} check · '
        f"{good}/{len(checked)} sentences supported"
        + (f" · {len(answer.withheld_sentences)} removed" if answer.withheld_sentences else "")
        + "</div>"
    )


def check_details(answer: Answer) -> str:
    """An expandable list with every sentence's verdict and reason."""
    rows = []
    for n, s in enumerate(answer.sentences, start=1):
        cls, icon, word = verdict_of(s)
        score = f" {s.score:.2f}" if s.score is not None else ""
        reason = f" — {esc(s.reason)}" if s.reason else ""
        ev = ""
        if s.evidence is not None:
            ev = f'<div class="cw-ev">evidence [{esc(s.evidence.id)}]: “{esc(_clip(s.evidence.quote, 300))}”</div>'
        rows.append(
            f'<li class="{cls}"><span class="cw-icon" aria-hidden="true">{icon}</span> '
            f"<b>{n}. {word}{score}</b>{reason}{ev}</li>"
        )
    if not rows:
        return ""
    return f'<details class="cw-details"><summary>Faithfulness details</summary><ol class="cw-checks">{"".join(rows)}</ol></details>'


# -- evidence cards ----------------------------------------------------------
def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def inert(text: str, reason: str) -> str:
    """Text of a paper that reads as an instruction to the model: escaped, quoted and marked, never evidence."""
    return (
        f'<span class="cw-inert" title="{esc(_clip("Kept out of the evidence the model reads: " + reason))}">'
        f'<span class="cw-inert-tag">⚠ not research, not shown to the model:</span> “{esc(text)}”</span>'
    )


def highlight_abstract(abstract: str, quotes: Iterable[str]) -> str:
    """``abstract`` escaped, with the sentences that support the answer wrapped in ``<mark>``.

    A quote found verbatim (whitespace-insensitive) is marked exactly; otherwise
    each abstract sentence sharing most of its words with a quote is marked.
    Sentences that address the reader or the model (:mod:`agent.chain.hygiene`)
    are shown quoted and marked as inert text instead (:func:`inert`).
    """
    text = " ".join(abstract.split())
    spans: list[tuple[int, int]] = []
    sentences = sentence_pieces(text)
    offsets: list[tuple[int, int]] = []
    pos = 0
    for s in sentences:
        start = text.find(s, pos)
        if start < 0:
            continue
        offsets.append((start, start + len(s)))
        pos = start + len(s)
    flagged = {hit.text: hit for hit in screen_sentences(text)[1]}
    inert_spans = [(a, b) for a, b in offsets if text[a:b] in flagged]
    for quote in quotes:
        quote = " ".join((quote or "").split())
        if len(quote.strip(" .…")) < 8:
            continue
        exact = next(((i, q) for q in (quote, quote.strip(" .…")) if (i := text.find(q)) >= 0), None)
        if exact is not None:
            spans.append((exact[0], exact[0] + len(exact[1])))
            continue
        qwords = _words(quote)
        for a, b in offsets:
            swords = _words(text[a:b])
            if swords and qwords and len(swords & qwords) / min(len(swords), len(qwords)) >= 0.6:
                spans.append((a, b))
    spans = [(a, b) for a, b in spans if not any(a < y and x < b for x, y in inert_spans)]
    if not spans and not inert_spans:
        return esc(text)
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    marks = [(a, b, "hl") for a, b in merged] + [(a, b, "inert") for a, b in inert_spans]
    out, pos = [], 0
    for a, b, kind in sorted(marks):
        out.append(esc(text[pos:a]))
        if kind == "inert":
            out.append(inert(text[a:b], flagged[text[a:b]].reason))
        else:
            out.append(f'<mark class="cw-hl">{esc(text[a:b])}</mark>')
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)


def render_title(title: str) -> str:
    """A paper title, escaped; one that reads as an instruction is shown quoted and marked (:func:`inert`)."""
    hit = screen_title(title)
    return inert(title, hit.reason) if hit is not None else esc(title)


def evidence_card(paper: Paper, prefix: str, quotes: list[str], cited_by: list[int], open_: bool = False) -> str:
    """One reference: a collapsible card with the title, the highlighted abstract and details."""
    year = f" ({paper.year})" if paper.year else ""
    meta = []
    if paper.authors:
        names = ", ".join(paper.authors[:6]) + (" et al." if len(paper.authors) > 6 else "")
        meta.append(esc(names))
    url = safe_url(paper.url)
    if url:
        meta.append(f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">link</a>')
    if cited_by:
        meta.append("supports sentence" + ("s " if len(cited_by) > 1 else " ") + ", ".join(map(str, cited_by)))
    meta_html = f'<div class="cw-meta">{" · ".join(meta)}</div>' if meta else ""
    note = "" if quotes else '<div class="cw-meta">No supporting sentence was identified for this paper.</div>'
    return (
        f'<details class="cw-card" id="{card_id(prefix, paper.id)}"{" open" if open_ else ""}>'
        f'<summary><span class="cw-cid">[{esc(paper.id)}]</span> <span class="cw-title">{render_title(paper.title)}</span>{esc(year)}</summary>'
        f'<div class="cw-abstract">{highlight_abstract(paper.abstract, quotes)}</div>{meta_html}{note}</details>'
    )


def _support(answer: Answer) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
    """Per cited paper: the evidence quotes that support sentences, and which sentences cite it."""
    quotes: dict[str, list[str]] = {}
    cited_by: dict[str, list[int]] = {}
    for n, s in enumerate(answer.sentences, start=1):
        for pid in s.citations:
            cited_by.setdefault(pid, []).append(n)
        if s.evidence is not None and s.evidence.quote:
            quotes.setdefault(s.evidence.id, [])
            if s.evidence.quote not in quotes[s.evidence.id]:
                quotes[s.evidence.id].append(s.evidence.quote)
    return quotes, cited_by


def references(answer: Answer, papers: Mapping[str, Paper], prefix: str) -> str:
    """The reference list under an answer: one evidence card per cited paper."""
    quotes, cited_by = _support(answer)
    cards = []
    for c in answer.citations:
        paper = papers.get(c.id) or Paper(id=c.id, title=c.title, abstract="(abstract not available)")
        cards.append(evidence_card(paper, prefix, quotes.get(c.id, []), cited_by.get(c.id, [])))
    if not cards:
        return ""
    return f'<div class="cw-refs"><div class="cw-refs-h">References</div>{"".join(cards)}</div>'


def removed_sentences(sentences: list[SentenceResult]) -> str:
    """Sentences taken out of the answer as unsupported: struck through, marked, citations as plain text."""
    items = "".join(
        f'<li class="cw-bad" title="{esc(sentence_reason(s))}"><span class="cw-icon" aria-hidden="true">{ICON_UNSUPPORTED}</span> '
        f'<del class="cw-struck">{esc(s.text)}</del> <span class="cw-sr-visible">(not supported'
        f'{": " + esc(_clip(s.reason, 160)) if s.reason else ""})</span></li>'
        for s in sentences
    )
    n = len(sentences)
    return (
        f'<div class="cw-removed"><div class="cw-meta">Removed from the answer — {n} sentence{"s" if n != 1 else ""} '
        f"not supported by the cited abstracts:</div><ul>{items}</ul></div>"
    )


def markdown_table(table: str) -> str:
    """A simple markdown pipe table (as made by the comparison chain) as an escaped HTML table."""
    rows = [ln.strip() for ln in table.strip().splitlines() if ln.strip().startswith("|")]
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    cells = [r for r in cells if not all(re.fullmatch(r":?-{2,}:?", c) for c in r if c)]
    if not cells:
        return ""
    head, body = cells[0], cells[1:]
    th = "".join(f"<th>{link_citations(c)}</th>" for c in head)
    trs = "".join("<tr>" + "".join(f"<td>{link_citations(c)}</td>" for c in r) + "</tr>" for r in body)
    return f'<table class="cw-table"><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>'


def render_answer(answer: Answer, papers: Mapping[str, Paper], prefix: str, note: str = "") -> str:
    """The full chat message for a finished answer (see the module docstring)."""
    quotes, _ = _support(answer)
    hover = {pid: qs[0] for pid, qs in quotes.items() if qs}
    cited = {c.id: papers.get(c.id) or Paper(id=c.id, title=c.title, abstract="") for c in answer.citations}
    parts = [f'<div class="cw-answer" data-answer="{esc(prefix)}">', badge(answer)]
    parts.append(f'<div class="cw-prose">{_prose_with_marks(answer.prose, answer.sentences, prefix, cited, hover)}</div>')
    if answer.table:
        parts.append(markdown_table(answer.table))
    parts.append(check_details(answer))
    if answer.withheld_sentences:
        parts.append(removed_sentences(answer.withheld_sentences))
    elif answer.withheld:
        parts.append(
            f'<details class="cw-withheld"><summary>Withheld draft: {esc(answer.withheld_reason or "withheld")}'
            f'</summary><div class="cw-ev">{esc(answer.withheld)}</div></details>'
        )
    if answer.notes:
        parts.append(f'<div class="cw-meta cw-notes">{_paragraphs(esc(answer.notes))}</div>')
    if answer.screened:
        from agent.retrieval.names import display_name

        rows = [
            (s.id, s.name or display_name(papers.get(s.id) or Paper(id=s.id, title=s.title, abstract="")), s.included, s.p, s.quote)
            for s in answer.screened
        ]
        parts.append(
            f'<details class="cw-status cw-screen"><summary>Screened {len(rows)} candidate papers, '
            f'{sum(1 for r in rows if r[2])} included</summary><ul>{_decision_items(rows)}</ul></details>'
        )
    parts.append(references(answer, papers, prefix))
    t = answer.timings
    foot = f"{esc(answer.model)} · retrieval {t.retrieve_s:.2f}s"
    if t.first_token_s is not None:
        foot += f" · first token {t.first_token_s:.2f}s"
    foot += f" · total {t.total_s:.2f}s"
    if answer.removed_citations:
        foot += f" · {answer.removed_citations} invalid citation(s) removed"
    if note:
        foot += f" · {esc(note)}"
    parts.append(f'<div class="cw-foot">{foot}</div></div>')
    return "".join(p for p in parts if p)


# -- progress messages -----------------------------------------------------------
def render_startup(text: str) -> str:
    """A question waiting for the index to open (first run: the bundled corpus being indexed)."""
    return f'<div class="cw-status">{esc(text)}</div>'


def render_searching() -> str:
    return '<div class="cw-status">Searching the indexed papers…</div>'


def render_found(hits: list[SearchHit], seconds: float) -> str:
    """"found N papers: ..." shown as soon as retrieval is done."""
    if not hits:
        return '<div class="cw-status">Found no matching papers.</div>'
    items = "".join(
        f'<li><span class="cw-cid">[{esc(h.paper.id)}]</span> {esc(_clip(h.paper.title, 120))}</li>' for h in hits
    )
    n = len(hits)
    return (
        f'<details class="cw-status cw-found"><summary>Found {n} paper{"s" if n != 1 else ""} '
        f"in {seconds:.2f}s</summary><ol>{items}</ol></details>"
    )


def _decision_items(decisions: Iterable[tuple[str, str, bool, float, str]]) -> str:
    out = []
    for pid, name, included, p, quote in decisions:
        mark, cls = ("✓", "cw-in") if included else ("✗", "cw-out")
        said = f" — “{esc(_clip(quote, 200))}”" if included else ""
        out.append(
            f'<li class="{cls}"><span class="cw-mark">{mark}</span> {esc(name)} '
            f'<span class="cw-cid">[{esc(pid)}]</span> <span class="cw-p">p {p:.2f}</span>{said}</li>'
        )
    return "".join(out)


def render_screening(decisions: list[tuple[str, str, bool, float, str]], total: int, done: bool = False) -> str:
    """The per-paper decisions of a quote-built answer, shown as they are made (id, name, included, p, quote)."""
    if not decisions:
        return ""
    head = f"Checked {len(decisions)} of {total} candidates" if done else f"Checking {total} candidates… {len(decisions)} done"
    return f'<details class="cw-status cw-screen" open><summary>{esc(head)}</summary><ul>{_decision_items(decisions)}</ul></details>'


def render_sides(sides: list[tuple[str, str, str]]) -> str:
    """The papers a comparison is about (id, name, quote), shown before it is written."""
    if not sides:
        return ""
    items = "".join(
        f'<li><span class="cw-mark">•</span> {esc(name)} <span class="cw-cid">[{esc(pid)}]</span> — “{esc(_clip(quote, 200))}”</li>'
        for pid, name, quote in sides
    )
    return f'<details class="cw-status cw-sides" open><summary>Comparing {len(sides)} paper{"s" if len(sides) != 1 else ""}</summary><ul>{items}</ul></details>'


def render_streaming(found: str, text: str, waiting: bool = False) -> str:
    """The message while tokens arrive: the retrieval note, then the text so far (escaped).

    The text is the model's unchecked draft: it is labelled so, since sentences
    the check does not support are removed from the finished answer.
    """
    body = link_citations(text) if text else ""
    if waiting and not text:
        body = '<span class="cw-wait">Waiting for the model…</span>'
    note = '<div class="cw-meta cw-draft">Draft, not yet checked against the abstracts…</div>' if text else ""
    return f'{found}{note}<div class="cw-prose cw-streaming">{_paragraphs(body) if text else body}<span class="cw-caret" aria-hidden="true">▌</span></div>'


def render_error(message: str) -> str:
    return f'<div class="cw-error"><span class="cw-icon" aria-hidden="true">⚠</span> {esc(message)}</div>'


def render_user(question: str) -> str:
    """A user's question, shown literally (no markdown or HTML of theirs is interpreted)."""
    return f'<div class="cw-q">{esc(question)}</div>'


def render_paper(paper: Paper | None) -> str:
    """A paper's card in the corpus browser."""
    if paper is None:
        return '<div class="cw-meta">Select a paper to see its abstract.</div>'
    bits = [esc(paper.id)]
    if paper.year:
        bits.append(str(paper.year))
    if paper.authors:
        bits.append(esc(", ".join(paper.authors[:8])))
    bits.append("source: " + esc(paper.source))
    url = safe_url(paper.url)
    link = f' · <a href="{esc(url)}" target="_blank" rel="noopener noreferrer">link</a>' if url else ""
    return (
        f'<div class="cw-paper"><div class="cw-title">{render_title(paper.title)}</div>'
        f'<div class="cw-meta">{" · ".join(bits)}{link}</div>'
        f'<div class="cw-abstract">{highlight_abstract(paper.abstract, [])}</div></div>'
    )
