"""Look and behaviour of the chat markup: CSS, one small script, and an offline theme."""

from __future__ import annotations

#: Marks pair a colour with an icon and an underline style, so they read without colour too.
CSS = """
.cw-answer { line-height: 1.55; }
.cw-q { white-space: pre-wrap; }
.cw-p { margin: 0 0 .6em 0; }
.cw-sent { border-radius: 4px; padding: 0 2px; }
.cw-sent.cw-ok { background: rgba(34, 160, 80, .10); }
.cw-sent.cw-bad { background: rgba(220, 50, 50, .12); text-decoration: underline wavy rgba(220, 50, 50, .8); text-underline-offset: 3px; }
.cw-sent.cw-unk { background: rgba(128, 128, 128, .08); }
.cw-icon { font-weight: 700; display: inline-block; min-width: 1em; text-align: center; }
.cw-ok > .cw-icon, li.cw-ok > .cw-icon, .cw-badge.cw-ok .cw-icon { color: #15803d; }
.cw-bad > .cw-icon, li.cw-bad > .cw-icon, .cw-badge.cw-bad .cw-icon { color: #dc2626; }
.cw-unk > .cw-icon { color: #6b7280; }
.cw-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.cw-badge { display: inline-block; font-size: .85em; font-weight: 600; border-radius: 999px; padding: 1px 10px; margin-bottom: .5em; border: 1px solid; }
.cw-badge.cw-ok { border-color: #15803d; background: rgba(34, 160, 80, .10); }
.cw-badge.cw-bad { border-color: #dc2626; background: rgba(220, 50, 50, .10); }
.cw-badge.cw-unk { border-color: #9ca3af; background: rgba(128, 128, 128, .08); }
a.cw-cite, span.cw-cite { font-size: .8em; font-weight: 600; text-decoration: none; border-radius: 4px; padding: 0 3px; margin-left: 1px;
  background: rgba(59, 130, 246, .14); color: inherit; cursor: pointer; white-space: nowrap; }
a.cw-cite:hover, a.cw-cite:focus { background: rgba(59, 130, 246, .32); outline: none; }
.cw-details, .cw-refs { margin-top: .6em; font-size: .92em; }
.cw-details > summary, .cw-card > summary, .cw-found > summary { cursor: pointer; }
.cw-checks { margin: .3em 0 0 0; padding-left: 1.2em; list-style: none; }
.cw-checks li { margin: .15em 0; }
.cw-ev { font-size: .9em; opacity: .8; margin-left: 1.4em; }
.cw-badge.cw-warn { border-color: #b45309; background: rgba(245, 158, 11, .12); }
.cw-audit-row { border-radius: 4px; padding: 2px 4px; margin: .25em 0; }
.cw-audit-row.cw-ok { background: rgba(34, 160, 80, .08); }
.cw-audit-row.cw-bad { background: rgba(220, 50, 50, .08); }
.cw-audit-row.cw-warn { background: rgba(245, 158, 11, .10); }
.cw-warn > .cw-icon, .cw-badge.cw-warn .cw-icon { color: #b45309; }
.cw-refs-h { font-weight: 700; margin: .4em 0 .2em 0; }
.cw-card { border: 1px solid rgba(128, 128, 128, .35); border-radius: 8px; padding: 4px 10px; margin: 4px 0; }
.cw-card[open] { background: rgba(128, 128, 128, .05); }
.cw-card.cw-flash { box-shadow: 0 0 0 3px rgba(59, 130, 246, .55); }
.cw-cid { font-family: var(--font-mono, monospace); font-size: .85em; opacity: .8; }
.cw-title { font-weight: 600; }
.cw-abstract { margin: .4em 0; font-size: .95em; }
.cw-inert { font-family: var(--font-mono, monospace); font-size: .9em; background: rgba(128, 128, 128, .12); border: 1px dashed rgba(180, 83, 9, .7); border-radius: 3px; padding: 0 3px; }
.cw-inert-tag { color: #b45309; font-weight: 600; font-family: var(--font-sans, sans-serif); }
.cw-removed ul { margin: .2em 0 0 0; padding-left: 1.2em; list-style: none; }
del.cw-struck { text-decoration: line-through; opacity: .75; }
mark.cw-hl { background: rgba(250, 204, 21, .45); color: inherit; padding: 0 1px; border-radius: 2px; }
.cw-meta { font-size: .85em; opacity: .75; }
.cw-foot { font-size: .78em; opacity: .6; margin-top: .5em; }
.cw-status { font-size: .9em; opacity: .85; margin-bottom: .4em; }
.cw-found ol { margin: .2em 0 0 0; padding-left: 1.4em; }
.cw-wait { opacity: .7; font-style: italic; }
.cw-caret { opacity: .6; }
.cw-error { color: #b91c1c; }
.cw-table { border-collapse: collapse; font-size: .88em; margin: .5em 0; }
.cw-table th, .cw-table td { border: 1px solid rgba(128, 128, 128, .35); padding: 3px 6px; vertical-align: top; text-align: left; }
.cw-up { color: #15803d; } .cw-down { color: #dc2626; }
.cw-report-frame { width: 100%; height: 640px; border: 1px solid rgba(128, 128, 128, .35); border-radius: 8px; background: white; }
.cw-paper .cw-title { font-size: 1.05em; }
#cw-count { font-weight: 600; }
"""

#: Clicking a citation opens its evidence card (a <details>) and scrolls to it;
#: the link is a same-page fragment, so the sanitizer keeps it and no tab opens.
JS = """
() => {
  if (window.__citewiseCards) return;
  window.__citewiseCards = true;
  document.addEventListener('click', (ev) => {
    const link = ev.target.closest && ev.target.closest('a.cw-cite');
    if (!link) return;
    const href = link.getAttribute('href') || '';
    if (!href.startsWith('#')) return;
    ev.preventDefault();
    const card = document.getElementById(href.slice(1));
    if (!card) return;
    card.open = true;
    card.scrollIntoView({block: 'nearest', behavior: 'smooth'});
    card.classList.add('cw-flash');
    setTimeout(() => card.classList.remove('cw-flash'), 1500);
  }, true);
}
"""


def offline_theme():
    """Gradio's default theme with system fonts (the default pulls Google Fonts from the network)."""
    import gradio as gr

    sans = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    return gr.themes.Default(font=sans, font_mono=mono)
