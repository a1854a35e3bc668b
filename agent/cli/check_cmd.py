"""``citewise check CASES.jsonl``: per-sentence faithfulness of given answers.

Input: one JSON object per line (see :mod:`agent.faithfulness.cases`).
Output, per case: ``{"cid", "verdict", "score", "sentences": [{"text",
"supported", "score", "evidence", "reason"}]}``; with ``--json`` one object per
line on stdout, then ``{"summary": {...}}`` when the cases carry labels.
Without ``--json`` a table per case (unsupported sentences marked) and a
summary table. Malformed lines are reported on stderr with their line number
and skipped. Exit status: 0 when at least one case was checked, 2 when the
file is missing or empty or no line could be used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.cli.common import UserError, err_console, load_settings, out_console, print_json, user_errors


def case_output(cid: str, result: Any) -> dict:
    """The documented JSON shape of one checked case."""
    return {
        "cid": cid,
        "verdict": result.verdict.verdict,
        "score": result.verdict.score,
        "sentences": [
            {
                "text": s.text,
                "supported": s.supported,
                "score": s.score,
                "evidence": s.evidence.model_dump() if s.evidence else None,
                "reason": s.reason,
            }
            for s in result.sentences
        ],
    }


def _resolver(settings: Any):  # noqa: ANN202
    """Paper lookup in the index, for lines that give ``context_ids``; clear error if there is no index."""
    from agent.errors import StoreError

    if settings.index.chroma_url is None and not Path(settings.index_path).exists():
        raise UserError(
            f"cases use 'context_ids' but there is no index at {settings.index_path}; "
            "run `citewise index` first or give 'contexts' inline"
        )
    try:
        from agent.index.store import open_store
    except ImportError as exc:  # pragma: no cover - the index module ships with citewise
        raise UserError(f"the index is not available: {exc}") from None
    store = open_store(settings)
    if store.count() == 0:
        raise StoreError("the index is empty; run `citewise index` first or give 'contexts' inline")
    return store.get_papers


def _print_case_table(out: dict, label: str | None) -> None:
    verdict = out["verdict"]
    colour = "green" if verdict == "faithful" else "red"
    gold = f"  (label: {label})" if label else ""
    out_console.print(f"[bold]{escape(out['cid'])}[/]: [{colour}]{verdict}[/] score {out['score']:.2f}{escape(gold)}")
    table = Table(show_header=True, header_style="bold", expand=False, show_lines=False)
    table.add_column("", width=2)
    table.add_column("sentence", overflow="fold", ratio=3)
    table.add_column("score", justify="right")
    table.add_column("reason / evidence", overflow="fold", ratio=3)
    for s in out["sentences"]:
        mark = "[green]✓[/]" if s["supported"] else "[bold red]✗[/]"
        reason = s["reason"] or ""
        if s["evidence"] and not s["supported"]:
            reason += f"\n[dim][{s['evidence']['id']}] {s['evidence']['quote']}[/]"
        style = None if s["supported"] else "red"
        table.add_row(mark, escape(s["text"]), f"{s['score']:.2f}", reason if "[dim]" in reason else escape(reason), style=style)
    out_console.print(table)


def _print_summary(summary: dict) -> None:
    table = Table(title="summary (positive class: unfaithful)", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key == "per_error_kind_recall":
            for kind, v in value.items():
                table.add_row(f"recall [{escape(kind)}]", f"{v['recall']:.2f} (n={v['n']})")
        elif key == "skipped_lines":
            table.add_row("skipped lines", str(len(value)))
        else:
            table.add_row(key, "-" if value is None else str(value))
    out_console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("check")
    @user_errors
    def check(
        cases_file: Path = typer.Argument(..., metavar="CASES.jsonl", help="One JSON case per line."),
        mode: str | None = typer.Option(None, "--mode", help="fast (no LLM) or thorough (adds the local LLM judge)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per case on stdout, then a summary line."),
        judge_model: str | None = typer.Option(None, "--judge-model", help="Judge model string for thorough mode."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Check only the first N cases."),
    ) -> None:
        """Check each answer's sentences against its contexts; score against labels if present."""
        from agent.faithfulness.cases import parse_lines, needs_index
        from agent.faithfulness.checker import FaithfulnessChecker
        from agent.faithfulness.metrics import Record, summarize

        if mode is not None and mode not in ("fast", "thorough"):
            raise UserError(f"unknown --mode {mode!r}; use 'fast' or 'thorough'")
        settings = load_settings(**{"faithfulness.mode": mode, "faithfulness.judge_model": judge_model})
        mode_ = settings.faithfulness.mode
        if not cases_file.exists():
            raise UserError(f"cases file not found: {cases_file}")
        if cases_file.is_dir():
            raise UserError(f"cases file is a directory: {cases_file}")
        try:
            lines = cases_file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise UserError(f"cases file is not UTF-8 text: {cases_file}") from None
        if not any(line.strip() for line in lines):
            raise UserError(f"cases file is empty: {cases_file}")

        resolver = _resolver(settings) if needs_index(lines) else None
        cases, errors = parse_lines(lines, resolver)
        for e in errors:
            err_console.print(f"[yellow]skipped[/] {escape(str(e))}")
        for c in cases:
            for w in c.warnings:
                err_console.print(f"[yellow]warning[/] line {c.line}: {escape(w)}")
        if limit is not None:
            cases = cases[:limit]
        if not cases:
            raise UserError(f"no usable case in {cases_file} ({len(errors)} malformed line(s))")

        judge = None
        if mode_ == "thorough":
            from agent.faithfulness.judge import load_judge

            judge = load_judge(settings.faithfulness.judge_model, settings)
        checker = FaithfulnessChecker(settings, judge=judge)

        records: list[Record] = []
        outputs: list[tuple[dict, str | None]] = []
        progress = Progress(
            TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, transient=True, disable=not err_console.is_terminal or len(cases) < 3,
        )
        with progress:
            task = progress.add_task("check", total=len(cases))
            for case in cases:
                result = checker.check(case.answer, case.contexts, mode=mode_)
                out = case_output(case.cid, result)
                if as_json:
                    print_json(out)
                else:
                    outputs.append((out, case.label))
                if case.label:
                    records.append(
                        Record(
                            label=case.label,
                            predicted=result.verdict.verdict,
                            error_kind=case.error_kind,
                            flagged=[s.text for s in result.sentences if not s.supported],
                            gold_unsupported=case.unsupported,
                            seconds=result.seconds,
                        )
                    )
                progress.advance(task)

        if not as_json:
            for out, label in outputs:
                _print_case_table(out, label)
        if records:
            summary = summarize(records)
            summary["mode"] = mode_
            summary["skipped_lines"] = [{"line": e.line, "error": e.message} for e in errors]
            if as_json:
                print_json({"summary": summary})
            else:
                _print_summary(summary)
