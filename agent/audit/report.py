"""The audit's HTML report: one self-contained page (inline CSS, no script, nothing from the network).

Top: a count per verdict. Then the draft, sentence by sentence, each marked
with its verdict's colour and icon (never colour alone) and its line number;
hovering a sentence shows its reason and quote (a ``title`` and a CSS
tooltip). Last, a table with every sentence, its citations, reason, quote and
better-source suggestions. All draft and abstract text is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from agent.audit.audit import VERDICTS, AuditReport, SentenceAudit

LABELS = {
    "supported": ("✓", "supported"),
    "unsupported": ("✗", "not supported by the cited paper"),
    "better_source": ("↪", "better source in your library"),
    "uncited": ("?", "uncited claim"),
    "unknown_key": ("!", "unknown key"),
    "not_checkable": ("•", "not checkable"),
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}.meta{color:#666;margin-top:0}
.tiles{display:flex;gap:.8rem;flex-wrap:wrap;margin:1rem 0}
.tile{border:1px solid #ddd;border-radius:6px;padding:.5rem .9rem;min-width:8rem}.tile b{display:block;font-size:1.4rem}
.draft{line-height:1.9;background:#fafafa;border:1px solid #eee;border-radius:6px;padding:1rem 1.2rem}
.s{position:relative;border-radius:3px;padding:.05rem .2rem;cursor:help}
.s .ln{font-size:.7rem;color:#888;margin-right:.2rem;vertical-align:super}
.s .tip{display:none;position:absolute;left:0;top:1.6rem;z-index:5;width:32rem;max-width:80vw;background:#fff;
 border:1px solid #999;border-radius:6px;padding:.5rem .7rem;box-shadow:0 2px 8px rgba(0,0,0,.2);line-height:1.4;font-size:.88rem}
.s:hover .tip,.s:focus .tip{display:block}
.v-supported{background:#e3f5e1}.v-unsupported{background:#fde2e2}.v-better_source{background:#fff1cc}
.v-uncited{background:#fff6dd}.v-unknown_key{background:#f7d9f0}.v-not_checkable{color:#666}
.tile.v-not_checkable{background:#f4f4f4}
.head{display:block;font-weight:700;margin-top:.6rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.88rem;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
.q{color:#444;font-style:italic}.problems{color:#8a5a00}
"""


def _tip(row: SentenceAudit) -> str:
    parts = [f"<b>{escape(LABELS[row.verdict][1])}</b>"]
    if row.reason:
        parts.append(escape(row.reason))
    if row.quote and row.verdict != "not_checkable":
        parts.append(f'<span class="q">“{escape(row.quote)}”</span>')
    for s in row.suggestions:
        parts.append(f"↪ [{escape(s.id)}] {escape(s.title)}: <span class=\"q\">“{escape(s.quote)}”</span>")
    return "<br>".join(parts)


def _title(row: SentenceAudit) -> str:
    text = f"{LABELS[row.verdict][1]}: {row.reason}"
    if row.quote and row.verdict != "not_checkable":
        text += f" — “{row.quote}”"
    return escape(text, quote=True)


def render_report(report: AuditReport) -> str:
    """The whole page."""
    summary = report.summary()
    tiles = "".join(
        f'<div class="tile v-{v}" data-verdict="{v}"><b>{summary[v]}</b>{LABELS[v][0]} {escape(LABELS[v][1])}</div>'
        for v in VERDICTS
    )
    marks: list[str] = []
    last_line = None
    for n, row in enumerate(report.sentences):
        icon = LABELS[row.verdict][0]
        line = f'<span class="ln">{row.line}</span>' if row.line != last_line else ""
        last_line = row.line
        cls = f"s v-{row.verdict}" + (" head" if row.reason == "heading" else "")
        marks.append(
            f'<span class="{cls}" id="s{n}" tabindex="0" data-verdict="{row.verdict}" title="{_title(row)}">'
            f'{line}<span aria-hidden="true">{icon}</span> {escape(row.text)}<span class="tip">{_tip(row)}</span></span> '
        )
    rows = []
    for n, row in enumerate(report.sentences):
        sugg = "<br>".join(
            f"[{escape(s.id)}] {escape(s.title)}<br><span class=\"q\">“{escape(s.quote)}”</span>" for s in row.suggestions
        )
        rows.append(
            f'<tr class="v-{row.verdict}"><td><a href="#s{n}">{row.line}</a></td><td>{LABELS[row.verdict][0]} '
            f"{escape(row.verdict)}</td><td>{escape(row.text)}</td><td>{escape(', '.join(row.citations))}</td>"
            f"<td>{escape(row.reason)}</td><td class=\"q\">{escape(row.quote or '')}</td><td>{sugg}</td></tr>"
        )
    problems = ""
    if report.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in report.problems)
        problems = f'<h2>Notes</h2><ul class="problems">{items}</ul>'
    source = escape(report.source or "draft")
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>Citation audit: {source}</title><style>{CSS}</style></head><body>"
        f"<h1>Citation audit</h1><p class=\"meta\">{source} · {escape(report.format)} · {escape(report.mode)} check · "
        f"{len(report.sentences)} sentences · {report.seconds:.1f} s</p>"
        f'<div class="tiles" id="summary">{tiles}</div>'
        f'<h2>Draft</h2><div class="draft" id="draft">{"".join(marks)}</div>'
        f"{problems}"
        '<h2>Sentences</h2><table id="sentences"><tr><th>line</th><th>verdict</th><th>sentence</th><th>citations</th>'
        f"<th>reason</th><th>quote</th><th>suggestions</th></tr>{''.join(rows)}</table>"
        "</body></html>"
    )
