"""``citewise eval`` (batch evaluation) and ``citewise eval-compare`` (diff two runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from agent.cli.common import UserError, err_console, load_settings, out_console, print_json, user_errors


def _progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[errors]} errors"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


def _load_source(source: str, settings, pubmedqa_dir: Path | None, index_home: Path | None, skip_invalid: bool):
    """(questions, input problems, settings to use, retriever) for a JSONL path or pubmedqa:<split>."""
    from agent.evaluation import pubmedqa
    from agent.evaluation.questions import load_questions
    from agent.retrieval import open_retriever

    try:
        split = pubmedqa.parse_source(source)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if split is not None:
        try:
            data = pubmedqa.load_pubmedqa(pubmedqa_dir or pubmedqa.DEFAULT_DIR)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(str(exc)) from None
        settings = pubmedqa.pubmedqa_settings(settings, index_home)
        err_console.print(f"[dim]PubMedQA index: {settings.index_path} (collection {settings.index.collection})[/]")
        with _progress_bar() as bar:
            task = bar.add_task("index PubMedQA", total=None, errors=0)
            report = pubmedqa.ensure_index(settings, data, lambda done, total: bar.update(task, completed=done, total=total))
        err_console.print(f"[dim]indexed: {report.summary()}[/]")
        questions = data.questions(split)
        return questions, [], settings, open_retriever(settings, auto_index=False), {"pubmedqa_split": split}

    path = Path(source)
    if not path.is_file():
        raise UserError(f"question file not found: {path} (or use pubmedqa:dev / pubmedqa:test)")
    questions, problems = load_questions(path)
    for p in problems:
        err_console.print(f"[red]{escape(str(path))}:{p.line}:[/] {escape(p.message)}")
    if problems and not skip_invalid:
        raise UserError(f"{len(problems)} malformed line(s) in {path}; fix them or pass --skip-invalid")
    if not questions:
        raise UserError(f"no questions in {path}")
    return questions, [f"{path}:{p}" for p in problems], settings, open_retriever(settings), {}


def _print_summary(summary: dict[str, Any]) -> None:
    from agent.evaluation.scoring import METRICS

    by_type = summary.get("by_type", {})
    table = Table(title="eval summary (means; n/a = not applicable)", show_lines=False)
    table.add_column("metric")
    table.add_column("all", justify="right")
    for t, block in by_type.items():
        table.add_column(f"{t} ({block['n']})", justify="right")
    table.add_column("n/a", justify="right")

    def fmt(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    for key in METRICS:
        overall = summary["metrics"].get(key)
        if overall is None and all(b["metrics"].get(key) is None for b in by_type.values()):
            continue
        table.add_row(key, fmt(overall), *(fmt(b["metrics"].get(key)) for b in by_type.values()), str(summary["nan_counts"].get(key, 0)))
    out_console.print(table)
    counts = summary["counts"]
    line = f"{counts['total']} questions, {counts['ok']} answered ({counts['refused']} refused), {counts['errors']} errors"
    if summary.get("labels"):
        lab = summary["labels"]
        line += f"; yes/no/maybe accuracy {lab['accuracy']:.3f} (majority baseline {lab['majority_baseline']:.3f})"
    out_console.print(line, markup=False, highlight=False)


def eval_command(
    questions: Annotated[str, typer.Argument(help="Question file (JSONL), or pubmedqa:dev / pubmedqa:test.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory; an existing one is resumed.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Answering model string (default: settings / CITEWISE_MODEL).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Questions answered in parallel (local models still generate one at a time).")] = 1,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="On resume, re-run questions whose row is an error.")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Skip malformed question lines instead of stopping.")] = False,
    judge: Annotated[Optional[str], typer.Option("--judge", help="Optional LLM judge of key points, e.g. openai:gpt-4o-mini.")] = None,
    pubmedqa_dir: Annotated[Optional[Path], typer.Option("--pubmedqa-dir", help="Directory with ori_pqal.json and test_ground_truth.json.")] = None,
    index_home: Annotated[Optional[Path], typer.Option("--index-home", help="PubMedQA only: home of its separate index (default <home>/eval-pubmedqa).")] = None,
    label_mode: Annotated[
        str,
        typer.Option(
            "--label-mode",
            help="PubMedQA only: 'direct' decides yes/no/maybe in one short call over the retrieved evidence; "
            "'answer' writes the full cited answer, then labels it (about 3x slower).",
        ),
    ] = "direct",
    check: Annotated[
        str,
        typer.Option(
            "--check",
            help="How each answer is checked before it is scored: fast (default; the rule checks or the learned "
            "verifier) or thorough (adds the LLM judge where the fast check is unsure; its time is in each row's "
            "step_seconds.final_check). Key points are always scored in fast mode.",
        ),
    ] = "fast",
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Evaluate answers on a question set: writes results.jsonl, summary.json and report.html to --out."""
    from agent.chain.engine import trained_models
    from agent.evaluation.harness import EnginePipeline, run_eval
    from agent.evaluation.pubmedqa import LABEL_MODES

    settings = load_settings(**{"llm.model": model})
    qs, problems, settings, retriever, extra = _load_source(questions, settings, pubmedqa_dir, index_home, skip_invalid)
    if label_mode not in LABEL_MODES:
        raise UserError(f"--label-mode must be one of {', '.join(LABEL_MODES)}, not {label_mode!r}")
    if check not in ("fast", "thorough"):
        raise UserError(f"--check must be fast or thorough, not {check!r}")
    pipeline = EnginePipeline(
        settings, retriever, judge_model=judge, label_mode=label_mode if "pubmedqa_split" in extra else "answer", check_mode=check
    )
    pipeline.preload()  # a bad model string fails here, not as one error row per question
    err_console.print(f"[dim]{len(qs)} questions · model {escape(pipeline.model_name)} · prompt {pipeline.prompt_version} · out {escape(str(out))}[/]")

    bar = None if no_progress else _progress_bar()
    state: dict[str, Any] = {"task": None, "errors": 0}

    def progress(done: int, total: int, row: dict[str, Any] | None) -> None:
        if bar is None:
            return
        if state["task"] is None:
            state["task"] = bar.add_task("eval", total=total, errors=0)
        if row is not None:
            state["errors"] += row.get("status") != "ok"
            bar.update(state["task"], completed=done, errors=state["errors"])

    meta = {"settings": settings.model_dump(mode="json"), "trained_models": trained_models(settings), "judge": judge, "check": check, **extra}
    if bar is not None:
        bar.start()
    try:
        outcome = run_eval(
            qs, pipeline, out, source=questions, workers=workers, limit=limit, retry_errors=retry_errors,
            problems=problems, progress=progress, meta_extra=meta,
        )
    finally:
        if bar is not None:
            bar.stop()
    if outcome.already_done:
        err_console.print(f"[dim]resumed: {outcome.already_done} question(s) already done in {escape(str(out))}[/]")
    _print_summary(outcome.summary)
    if outcome.report_error:
        err_console.print(f"[yellow]report.html not written: {escape(outcome.report_error)}[/]")
    err_console.print(f"[dim]wrote {escape(str(out))}/results.jsonl, summary.json, report.html[/]")
    if outcome.interrupted:
        err_console.print(f"[yellow]interrupted after {outcome.ran} new row(s); run the same command again to resume[/]")
        raise typer.Exit(130)


def eval_compare(
    dir_a: Annotated[Path, typer.Argument(help="Baseline run directory (A).")],
    dir_b: Annotated[Path, typer.Argument(help="Candidate run directory (B).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="JSON file to write (default DIR_B/compare-<A>.json; a .md twin is written beside it).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the JSON instead of the table.")] = False,
) -> None:
    """Per-metric differences B - A, and the questions that got better and worse."""
    from agent.evaluation.compare import compare_dirs, to_markdown, write_comparison

    try:
        cmp = compare_dirs(dir_a, dir_b)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    path = out or (dir_b / f"compare-{dir_a.resolve().name}.json")
    md = write_comparison(cmp, path)
    if json_out:
        print_json(cmp)
    else:
        sys.stdout.write(to_markdown(cmp))
        sys.stdout.flush()
    err_console.print(f"[dim]wrote {escape(str(path))} and {escape(str(md))}[/]")


def register(app: typer.Typer) -> None:
    app.command("eval")(user_errors(eval_command))
    app.command("eval-compare")(user_errors(eval_compare))
