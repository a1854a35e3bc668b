"""``citewise ask``, ``summarize`` and ``chat``: cited answers, streamed."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.markup import escape

from agent.cli.common import UserError, err_console, load_settings, out_console, print_json, user_errors
from agent.settings import Settings

ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="Model string: local:qwen2.5-coder-1.5b (default), local:qwen2.5-coder-0.5b, openai:<model>, hf:<path>, fake."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object (no streaming on stdout).")]
CheckOpt = Annotated[
    Optional[str], typer.Option("--check", help="Faithfulness check: fast (default), thorough, or off.")
]


def _engine(settings: Settings, check: str | None):
    from agent.chain import AnswerEngine, faithfulness_hook

    mode = check or settings.faithfulness.mode
    if mode not in ("fast", "thorough", "off"):
        raise UserError(f"--check must be fast, thorough or off, not {mode!r}")
    hooks = [] if mode == "off" else [faithfulness_hook(settings, mode)]
    return AnswerEngine(settings, hooks=hooks)


def _run(events, json_out: bool) -> int:
    """Consume engine events: show retrieval, stream tokens, then print the result."""
    from agent.chain import DoneEvent, RetrievalEvent, ScreenEvent, SideEvent, TokenEvent

    answer = None
    streamed = False
    shown: list[str] = []
    for event in events:
        if isinstance(event, RetrievalEvent):
            names = escape(", ".join(f"[{h.paper.id}]" for h in event.hits))
            err_console.print(f"[dim]found {len(event.hits)} papers ({event.plan.qtype}) in {event.retrieve_s:.2f}s: {names}[/]")
        elif isinstance(event, ScreenEvent):
            _print_decision(event)
        elif isinstance(event, SideEvent):
            _print_side(event)
        elif isinstance(event, TokenEvent) and not json_out:
            sys.stdout.write(event.text)
            sys.stdout.flush()
            shown.append(event.text)
            streamed = True
        elif isinstance(event, DoneEvent):
            answer = event.answer
    if answer is None:  # pragma: no cover - the engine always finishes with DoneEvent
        return 1
    if json_out:
        print_json(answer.public_json())
        return 0
    if not streamed:  # e.g. a refusal decided without generating: nothing was shown yet
        out_console.print(answer.prose.strip(), markup=False, highlight=False)
    else:
        sys.stdout.write("\n")
        final = answer.prose.strip()
        if answer.withheld is not None:
            err_console.print(f"[yellow]withheld: {answer.withheld_reason or 'see the note below'}[/]", markup=True)
            out_console.print(final, markup=False, highlight=False)
        elif final != "".join(shown).strip():  # markers fixed, or a repeated / example-echo sentence dropped
            regrouped = "; sentences put in order by paper and topic" if answer.question_type == "summary" else ""
            err_console.print(
                f"[dim]final answer, revised after streaming ({answer.auto_citations} citations attached, "
                f"{answer.removed_citations} removed; {len(answer.withheld_sentences)} unsupported sentence(s) "
                f"removed; repeated or example-echo sentences, if any, dropped{regrouped}):[/]"
            )
            out_console.print(final, markup=False, highlight=False)
    _print_human(answer)
    return 0


def _print_side(event) -> None:
    """One compared paper on stderr, before the comparison is written (the first one announces how many)."""
    from agent.retrieval.names import display_name

    if event.index == 1:
        err_console.print(f"[dim]Comparing {event.total} papers…[/]")
    err_console.print(f"  • {escape(event.name or display_name(event.paper))} [dim][{escape(event.paper.id)}][/] — “{escape(event.quote)}”", highlight=False)


def _print_decision(event) -> None:
    """One screening decision on stderr as it is made (the first one announces how many will be checked)."""
    from agent.retrieval.names import display_name

    if event.index == 1:
        err_console.print(f"[dim]Checking {event.total} candidates…[/]")
    name = escape(event.name or display_name(event.paper))
    if event.included:
        err_console.print(f"  [green]✓[/] {name} [dim](p {event.p:.2f})[/] — “{escape(event.quote)}”", highlight=False)
    else:
        err_console.print(f"  [dim]✗ {name} (p {event.p:.2f})[/]", highlight=False)


def _print_human(answer) -> None:
    if answer.table:
        out_console.print(answer.table, markup=False, highlight=False)
    if answer.notes:
        out_console.print(f"\n{answer.notes}", markup=False, highlight=False)
    if answer.citations:
        out_console.print("\nReferences:", style="bold")
        for c in answer.citations:
            out_console.print(f"  [{c.id}] {c.title}", markup=False, highlight=False)
    unsupported = [s for s in answer.sentences if s.supported is False]
    if answer.faithfulness:
        style = "green" if answer.faithfulness.verdict == "faithful" else "red"
        err_console.print(f"\nfaithfulness: [{style}]{answer.faithfulness.verdict}[/] (score {answer.faithfulness.score:.2f})")
        for s in unsupported:
            err_console.print(f"  [red]✗ unsupported:[/] {escape(s.text)}  [dim]({escape(s.reason or '')})[/]", highlight=False)
        for s in answer.withheld_sentences:
            err_console.print(
                f"  [red]✗ removed from the answer, not supported:[/] {escape(s.text)}  [dim]({escape(s.reason or '')})[/]",
                highlight=False,
            )
    for e in answer.screened_evidence:
        err_console.print(f"  [yellow]⚠ kept out of the evidence (reads as an instruction):[/] {escape(f'[{e.id}]')} “{escape(e.quote)}”", highlight=False)
    t = answer.timings
    err_console.print(
        f"[dim]{answer.model} · {answer.prompt_version} · retrieve {t.retrieve_s:.2f}s · first token "
        f"{(t.first_token_s or 0):.2f}s · total {t.total_s:.2f}s[/]"
    )


def ask(
    question: Annotated[str, typer.Argument(help="The question, in English.")],
    model: ModelOpt = None,
    json_out: JsonOpt = False,
    k: Annotated[Optional[int], typer.Option("--papers", help="Most papers used as evidence.")] = None,
    check: CheckOpt = None,
) -> None:
    """Answer a question from the indexed abstracts, citing every claim."""
    settings = load_settings(**{"llm.model": model, "answer.papers": k})
    engine = _engine(settings, check)
    raise typer.Exit(_run(engine.stream(question), json_out))


def summarize(
    paper: Annotated[Optional[str], typer.Option("--paper", help="One paper id: a TL;DR.")] = None,
    papers: Annotated[Optional[str], typer.Option("--papers", help="Comma-separated ids: a synthesis.")] = None,
    topic: Annotated[Optional[str], typer.Option("--topic", help="A topic: summarize the papers about it.")] = None,
    model: ModelOpt = None,
    json_out: JsonOpt = False,
    check: CheckOpt = None,
) -> None:
    """Summarize one paper, several papers, or a topic (same JSON shape as ask)."""
    given = [x for x in (paper, papers, topic) if x]
    if len(given) != 1:
        raise UserError("give exactly one of --paper ID, --papers ID,ID,... or --topic TEXT")
    settings = load_settings(**{"llm.model": model})
    engine = _engine(settings, check)
    if topic:
        events = engine.stream(f"Summarize what these abstracts say about {topic}", force_type="summary")
    else:
        ids = [i.strip() for i in (paper or papers or "").split(",") if i.strip()]
        if not ids:
            raise UserError("no paper ids given")
        question = "Summarize this paper" if len(ids) == 1 else "Summarize these papers: what each contributes, where they agree or differ"
        events = engine.stream(question, paper_ids=ids, force_type="summary")
    raise typer.Exit(_run(events, json_out))


def chat(model: ModelOpt = None, check: CheckOpt = None) -> None:
    """An interactive chat with follow-up questions (type 'exit' or press Ctrl-D to leave)."""
    from agent.chain import Conversation

    settings = load_settings(**{"llm.model": model})
    conversation = Conversation(_engine(settings, check))
    while True:
        try:
            question = input("\n? ").strip()
        except EOFError:
            break
        if question.lower() in {"exit", "quit"}:
            break
        if not question:
            continue
        try:
            _run(conversation.stream(question), json_out=False)
        except Exception as exc:  # keep the chat alive after a bad question
            from agent.errors import CitewiseError
            from agent.llm.base import LLMError

            if not isinstance(exc, (CitewiseError, LLMError)):
                raise
            err_console.print(f"[bold red]error:[/] {exc}")


def register(app: typer.Typer) -> None:
    app.command()(user_errors(ask))
    app.command()(user_errors(summarize))
    app.command()(user_errors(chat))
