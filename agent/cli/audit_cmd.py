"""``citewise audit``: check every sentence of a draft against the papers it cites."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from agent.cli.common import UserError, err_console, load_settings, out_console, print_json, user_errors

AUDIT_HELP = """Audit the citations of a draft: is each sentence supported by the paper it cites?

DRAFT is LaTeX (\\cite{a,b}, \\citep[..]{..}, \\citet, \\parencite, \\autocite, ...),
Markdown/pandoc (\\[@key], \\[@a; @b], in-text @key) or plain text with Citewise's
\\[id] markers; the style is taken from the extension (.tex, .md) or the text.
Citation keys are paper ids (a BibTeX key is its entry's id; see `citewise index`).
The --bib files are indexed first, incrementally, as `citewise index` does: broken
entries are reported by line and the rest are used. Without --bib the draft is
checked against the papers already indexed.

Verdict per sentence: supported (with the quote), unsupported (the closest
sentence of the cited abstract and the kind of problem: number, name,
attribution, negation, overstatement, not stated), better_source (another paper
in the library supports it), uncited (a factual sentence without a citation),
unknown_key (a key not in the library), not_checkable (headings, signposts such
as "In this section ...", the draft's own work). Lines are those of DRAFT.

--json prints {"sentences": [{"line", "text", "citations", "verdict", "quote",
"reason", "suggestions": [{"id", "title", "quote"}]}], "summary": {verdict: count}};
warnings go to stderr. --html writes a self-contained report (hover a sentence
for its quote and reason).
"""

ICONS = {
    "supported": "[green]✓ supported[/]",
    "unsupported": "[red]✗ unsupported[/]",
    "better_source": "[yellow]↪ better source[/]",
    "uncited": "[yellow]? uncited[/]",
    "unknown_key": "[red]! unknown key[/]",
    "not_checkable": "[dim]• not checkable[/]",
}


def _progress(what: str) -> Progress:
    return Progress(
        TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console, transient=True
    )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder, so a failed write leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def audit(
    draft: Annotated[Path, typer.Argument(help="The draft: .tex, .md or plain text.", show_default=False)],
    bib: Annotated[Optional[list[Path]], typer.Option("--bib", help="BibTeX file(s) to index first (repeatable).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the audit as one JSON document.")] = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write a self-contained HTML report to this file.")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="fast (default) | thorough (adds the local LLM judge).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto | latex | markdown | plain.")] = "auto",
) -> None:
    if mode is not None and mode not in ("fast", "thorough"):
        raise UserError(f"--mode must be fast or thorough, not {mode!r}")
    if fmt not in ("auto", "latex", "markdown", "plain"):
        raise UserError(f"--format must be auto, latex, markdown or plain, not {fmt!r}")
    settings = load_settings(**{"faithfulness.mode": mode})
    from agent.audit import bib_keys, open_auditor, parse_draft, read_draft

    text = read_draft(draft, settings.audit.max_draft_mb)
    parsed = parse_draft(text, None if fmt == "auto" else fmt, name=draft.name)  # type: ignore[arg-type]
    for problem in parsed.problems:
        err_console.print(f"[yellow]warning:[/] {escape(f'{draft}:{problem.line}: {problem.message}')}")

    bibs = list(bib or [])
    for path in bibs:
        if path.suffix.lower() not in (".bib", ".bibtex"):
            raise UserError(f"--bib {path}: not a .bib file")
    if bibs:
        from agent.index import index_corpus, open_store

        store = open_store(settings)
        with _progress("indexing --bib") as bar:
            task = bar.add_task("embed", total=None)
            loaded, sync = index_corpus(store, bibs, settings, lambda d, t: bar.update(task, completed=d, total=t))
        for problem in loaded.problems:
            err_console.print(f"[yellow]warning:[/] {escape(str(problem))}")
        s = sync.summary()
        err_console.print(
            f"--bib: read {len(loaded.papers)} entries; added {s['added']}, updated {s['updated']}, unchanged {s['unchanged']}"
            + (f", id conflicts {s['conflicts']}" if s["conflicts"] else "")
        )

    auditor = open_auditor(settings, settings.faithfulness.mode)
    auditor.bib_keys = bib_keys(bibs)
    if not parsed.sentences:
        raise UserError(f"{draft}: no sentences found to check")
    with _progress("auditing sentences") as bar:
        task = bar.add_task("audit", total=len(parsed.sentences))
        report = auditor.audit(parsed, lambda d, t: bar.update(task, completed=d, total=t))
    report.source = str(draft)
    for problem in report.problems:
        if not any(problem == str(p) for p in parsed.problems):
            err_console.print(f"[yellow]note:[/] {escape(problem)}")

    if html is not None:
        from agent.audit.report import render_report

        write_atomic(html, render_report(report))
        err_console.print(f"report written to {html}")
    if json_out:
        print_json(report.public_json())
        return
    table = Table("line", "verdict", "sentence", "why / quote", title=f"{draft} ({report.format}, {report.mode} check)")
    for row in report.sentences:
        why = escape(row.reason)
        if row.quote and row.verdict != "not_checkable":
            why += f"\n[dim]“{escape(row.quote)}”[/]"
        for sug in row.suggestions:
            why += "\n↪ " + escape(f"[{sug.id}] {sug.title}")
        table.add_row(str(row.line), ICONS[row.verdict], escape(row.text), why)
    out_console.print(table)
    out_console.print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.summary().items()))


def register(app: typer.Typer) -> None:
    app.command(help=AUDIT_HELP)(user_errors(audit))
