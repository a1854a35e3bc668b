"""Chat-tab handlers: stream an answer into the chat, stop it, re-check it thoroughly.

Each browser session has its own :class:`ChatSession` in ``gr.State`` (Gradio
copies the initial value per session), holding the turns used for follow-up
questions and every finished answer with its evidence papers, so sessions
never see each other's chats. The chat itself is a list of openai-style
``{"role", "content"}`` dicts whose content is HTML built by
:mod:`agent.ui.render`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agent.chain import DoneEvent, RetrievalEvent, ScreenEvent, SideEvent, TokenEvent
from agent.chain.classify import Turn
from agent.errors import CitewiseError
from agent.llm.base import LLMError
from agent.retrieval.names import display_name
from agent.types import Answer, Paper
from agent.ui import render
from agent.ui.services import Prefs, Services, validate_prefs

log = logging.getLogger("citewise.ui")

Message = dict[str, Any]
#: Marker of an assistant message still being written (used by the stop button).
IN_PROGRESS = "cw-caret"


@dataclass
class Record:
    """One finished answer: where it is in the chat, and what it was checked against."""

    index: int
    prefix: str
    answer: Answer
    papers: dict[str, Paper]
    prefs: Prefs


@dataclass
class ChatSession:
    turns: list[Turn] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    asked: int = 0


def _prefs(model: str, base_url: str, papers: float, check: str) -> Prefs:
    return Prefs(model=model or "", base_url=(base_url or "").strip() or None, papers=int(papers or 6), check=check or "fast")


def respond(
    services: Services,
    locked: bool,
    question: str,
    history: list[Message] | None,
    session: ChatSession | None,
    model: str,
    base_url: str,
    papers: float,
    check: str,
) -> Iterator[tuple[str, list[Message], ChatSession]]:
    """Generator handler: "Searching…", then "found N papers", then tokens, then the checked answer.

    A question asked while the index is still opening waits for it, showing the progress.
    """
    session = session or ChatSession()
    history = list(history or [])
    question = (question or "").strip()
    if not question:
        yield "", list(history), session
        return
    history.append({"role": "user", "content": render.render_user(question)})
    history.append({"role": "assistant", "content": render.render_searching() + f'<span class="{IN_PROGRESS}"></span>'})
    index = len(history) - 1
    yield "", list(history), session
    if not services.wait_ready(0):  # first run: the bundled corpus is still being indexed
        while True:
            history[index] = {"role": "assistant", "content": render.render_startup(services.startup.text()) + f'<span class="{IN_PROGRESS}"></span>'}
            yield "", list(history), session
            if services.wait_ready(services.settings.ui.startup_poll_s):
                break
        history[index] = {"role": "assistant", "content": render.render_searching() + f'<span class="{IN_PROGRESS}"></span>'}
        yield "", list(history), session
    try:
        prefs = validate_prefs(_prefs(model, base_url, papers, check), services.settings, locked)
        engine = services.engine(prefs)
        keep = engine.settings.answer.history_turns
        found, text = "", ""
        decisions: list[tuple[str, str, bool, float, str]] = []
        sides: list[tuple[str, str, str]] = []
        screen_total = 0
        for event in engine.stream(question, session.turns[-keep:] if keep else []):
            if isinstance(event, RetrievalEvent):
                found = render.render_found(event.hits, event.retrieve_s)
                history[index] = {"role": "assistant", "content": render.render_streaming(found, "", waiting=True)}
                yield "", list(history), session
            elif isinstance(event, (ScreenEvent, SideEvent, TokenEvent)):
                if isinstance(event, ScreenEvent):  # a candidate paper decided: shown at once
                    decisions.append((event.paper.id, event.name or display_name(event.paper), event.included, event.p, event.quote))
                    screen_total = event.total
                elif isinstance(event, SideEvent):  # a compared paper: shown before it is written about
                    sides.append((event.paper.id, event.name or display_name(event.paper), event.quote))
                else:
                    text += event.text
                status = found + render.render_sides(sides) + render.render_screening(decisions, screen_total)
                history[index] = {"role": "assistant", "content": render.render_streaming(status, text, waiting=not text)}
                yield "", list(history), session
            elif isinstance(event, DoneEvent):
                session.asked += 1
                prefix = f"a{session.asked}"
                answer = event.answer
                evidence = _evidence_papers(services, answer)
                session.turns.append(event.turn)
                session.records.append(Record(index, prefix, answer, evidence, prefs))
                history[index] = {"role": "assistant", "content": render.render_answer(answer, evidence, prefix)}
                yield "", list(history), session
    except (CitewiseError, LLMError, ValueError) as exc:
        history[index] = {"role": "assistant", "content": render.render_error(str(exc))}
        yield "", list(history), session
    except Exception as exc:  # keep the chat usable; details go to the server log only
        log.exception("answering failed")
        history[index] = {"role": "assistant", "content": render.render_error(f"internal error ({type(exc).__name__}); see the server log")}
        yield "", list(history), session


def _evidence_papers(services: Services, answer: Answer) -> dict[str, Paper]:
    """The retrieved papers of ``answer`` (what it was generated and checked from)."""
    ids = [c.id for c in answer.retrieved] or [c.id for c in answer.citations]
    return {p.id: p for p in services.store.get_papers(ids)}


def message_text(message: Message) -> str:
    """A chat message's text, whether its content is a string or Gradio 6's list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


def stop(history: list[Message] | None) -> list[Message]:
    """Mark an answer that was being written as stopped (the stream itself is cancelled by Gradio)."""
    history = list(history or [])
    if history and history[-1].get("role") == "assistant":
        content = message_text(history[-1])
        if IN_PROGRESS in content:
            note = '<div class="cw-meta">■ Stopped — this answer is incomplete, unchecked and not used for follow-ups.</div>'
            content = content.replace('<span class="cw-caret" aria-hidden="true">▌</span>', "")
            content = content.replace(f'<span class="{IN_PROGRESS}"></span>', "")
            history[-1] = {"role": "assistant", "content": content + note}
    return history


def thorough(
    services: Services, history: list[Message] | None, session: ChatSession | None
) -> Iterator[tuple[list[Message], ChatSession]]:
    """Re-check the last answer with the thorough (LLM-judge) check and update its marks."""
    session = session or ChatSession()
    history = list(history or [])
    if not session.records:
        import gradio as gr

        gr.Info("Ask a question first; the thorough check runs on the last answer.")
        yield list(history), session
        return
    record = session.records[-1]
    if record.index >= len(history):
        yield list(history), session
        return
    history[record.index] = {
        "role": "assistant",
        "content": render.render_answer(record.answer, record.papers, record.prefix, note="running the thorough check…"),
    }
    yield list(history), session
    try:
        checked = services.check(record.answer, record.papers, record.prefs, "thorough")
    except (CitewiseError, LLMError) as exc:
        history[record.index] = {
            "role": "assistant",
            "content": render.render_answer(record.answer, record.papers, record.prefix, note=f"thorough check failed: {exc}"),
        }
        yield list(history), session
        return
    record.answer = checked
    history[record.index] = {"role": "assistant", "content": render.render_answer(checked, record.papers, record.prefix)}
    yield list(history), session


def new_chat() -> tuple[list[Message], ChatSession]:
    return [], ChatSession()
