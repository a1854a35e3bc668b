"""``citewise index``, ``papers`` and ``search``: build the index and query it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from agent.cli.common import err_console, load_settings, out_console, print_json, user_errors, UserError

INDEX_HELP = """Index corpus files (the bundled 205-paper corpus when no PATH is given).

Formats by extension: .txt (saved listing page: title line / abstract line pairs),
.jsonl (title, abstract, optional id, year, authors, url), .csv (same columns),
.bib (BibTeX entries with an abstract field; the citation key becomes the id).

Re-running on an unchanged corpus embeds nothing; a changed abstract is
re-embedded; a paper removed from a file is deleted from the index. Entries
without a title or abstract, malformed lines and duplicates (same normalized
title) are skipped and listed with file and line. A file that cannot be read
(missing, empty, binary, too large, unknown extension) is rejected; the other
files are still indexed, and the exit code is 2. Files need not be UTF-8:
UTF-16 (with a byte-order mark) and single-byte code pages (cp1252 / Latin-1)
are detected and read, with a note naming the encoding used. A JSONL/CSV file
over CITEWISE_INDEX__STREAM_ABOVE_MB (50 MiB) is streamed: read line by line and
written in chunks (UTF-8 only), so a million-abstract file needs no more memory
than a chunk. The papers/s rate is printed at the end: embedding with MiniLM on
a CPU is the slow part (a million abstracts take hours; figures in the README);
--device cuda embeds on a GPU.
After writing, the BM25 and name indexes are rebuilt once, for every later process.
"""


def _progress() -> Progress:
    return Progress(
        TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console, transient=True,
        # Off a terminal rich draws no bar, only a blank line when it stops; the rate line follows anyway.
        disable=not err_console.is_terminal,
    )


def index(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Corpus files; none = the bundled corpus.")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Delete every indexed paper first.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    device: Annotated[
        Optional[str],
        typer.Option("--device", help="Run the embedding model on this device: cpu (default), cuda, cuda:1, mps."),
    ] = None,
) -> None:
    settings = load_settings(**{"index.embed_device": device})
    from agent.index import index_corpus, open_store

    store = open_store(settings)
    if reset:
        store.reset()
    elif store.embedder_changed and store.count():
        err_console.print(
            f"[cyan]note:[/] the index was embedded with {escape(store.stored_embed_model)}; re-embedding its "
            f"{store.count()} papers with {escape(settings.index.embed_model)} first (the old vectors stay until it is done)",
            highlight=False,
        )
    started = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("embed", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        loaded, report = index_corpus(store, paths or None, settings, update)
    seconds = time.perf_counter() - started
    written = len(report.added) + len(report.updated)
    counts = loaded.counts()
    result = {
        "sources": loaded.sources,
        "rejected_files": loaded.rejected_sources,
        "papers_read": loaded.read_count,
        "seconds": round(seconds, 2),
        "papers_per_s": round(written / seconds, 1) if seconds > 0 else None,
        "index": report.summary(),
        "problems": [{"source": p.source, "line": p.line, "kind": p.kind, "message": p.message} for p in loaded.problems],
        "notices": [{"source": p.source, "kind": p.kind, "message": p.message} for p in loaded.notices],
        "total_indexed": store.count(),
    }
    if json_out:
        print_json(result)
    else:
        for notice in loaded.notices:
            err_console.print(f"[cyan]note:[/] {escape(str(notice))}", highlight=False)
        for problem in loaded.problems:
            err_console.print(f"[yellow]warning:[/] {escape(str(problem))}", highlight=False)
        s = report.summary()
        skipped = sum(v for k, v in counts.items() if k != "papers")
        out_console.print(
            f"read {loaded.read_count} papers from {len(loaded.sources)} file(s); "
            f"added {s['added']}, updated {s['updated']}, unchanged {s['unchanged']}, deleted {s['deleted']}"
            + (f", id conflicts {s['conflicts']}" if s["conflicts"] else "")
            + f"; {skipped} problem(s); {store.count()} papers in the index"
        )
        if written:
            err_console.print(f"embedded and wrote {written} papers in {seconds:.1f} s ({written / seconds:.1f} papers/s)")
    if loaded.rejected_sources or (paths and not loaded.sources):
        raise typer.Exit(2)


def papers(json_out: Annotated[bool, typer.Option("--json", help="Print [{id, title}, ...] as JSON.")] = False) -> None:
    """List the indexed papers."""
    settings = load_settings()
    from agent.index import ensure_indexed, open_store

    store = open_store(settings)
    ensure_indexed(store, settings)
    items = store.all_papers()
    if json_out:
        print_json([{"id": p.id, "title": p.title} for p in items])
        return
    table = Table("id", "title", "year", title=f"{len(items)} papers")
    for p in items:
        table.add_row(p.id, p.title, str(p.year or ""))
    out_console.print(table)


def search(
    query: Annotated[Optional[str], typer.Argument(help="The question or keywords.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Papers to return (default: retrieval.k).")] = None,
    queries: Annotated[Optional[Path], typer.Option("--queries", help="File with one query per line; one result list per line.")] = None,
    method: Annotated[str, typer.Option("--method", help="hybrid | bm25 | dense")] = "hybrid",
    json_out: Annotated[bool, typer.Option("--json", help="Print [{id, title, score}, ...] best first.")] = False,
    rerank: Annotated[
        Optional[bool],
        typer.Option("--rerank/--no-rerank", help="Re-rank the top hybrid hits with the learned cross-encoder (default: retrieval.rerank)."),
    ] = None,
) -> None:
    """Find the papers that best match a query (hybrid BM25 + dense + name matching)."""
    if (query is None) == (queries is None):
        raise UserError("give either a QUERY or --queries FILE (not both)")
    if method not in ("hybrid", "bm25", "dense"):
        raise UserError(f"--method must be hybrid, bm25 or dense, not {method!r}")
    settings = load_settings(**{"retrieval.k": k, "retrieval.rerank": rerank})
    if queries is not None:
        if not queries.is_file():
            raise UserError(f"{queries}: no such file")
        lines = queries.read_text(encoding="utf-8").splitlines()
    else:
        lines = [query or ""]
    if query is not None and not query.strip():
        raise UserError("the query is empty")
    from agent.retrieval import open_retriever

    retriever = open_retriever(settings)
    if retriever.rebuilding:
        err_console.print(
            f"note: the store changed since its lexical index was built ({retriever.snapshot.count:,} papers then, "
            f"{retriever.store.count():,} now): BM25 and name matches come from it while it is rebuilt in the "
            "background; dense search already sees every paper"
        )
    for line in lines:
        hits = retriever.search(line, settings.retrieval.k, method=method)  # type: ignore[arg-type]
        rows = [{"id": h.paper.id, "title": h.paper.title, "score": round(h.score, 6)} for h in hits]
        if json_out:
            print_json(rows)
            continue
        table = Table("#", "id", "score", "title", title=line[:100])
        for n, row in enumerate(rows, start=1):
            table.add_row(str(n), row["id"], f"{row['score']:.4f}", row["title"])
        out_console.print(table)


def register(app: typer.Typer) -> None:
    app.command(help=INDEX_HELP)(user_errors(index))
    app.command()(user_errors(papers))
    app.command()(user_errors(search))
