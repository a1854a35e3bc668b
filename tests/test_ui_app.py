"""Chat handlers (streaming order, per-session state, stop), bind/auth rules, and building the Blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from agent.chain import DoneEvent, RetrievalEvent, SideEvent, TokenEvent
from agent.chain.classify import Turn
from agent.settings import Settings
from agent.types import Answer, Citation, FaithfulnessVerdict, Paper, SearchHit, SentenceResult
from agent.ui import UIConfigError, chat, parse_auth, resolve_host
from agent.ui.services import Startup

PAPER = Paper(id="p1", title="False Negatives in Retrieval", abstract="We fix false negatives. It helps a lot.")


@dataclass
class StubPlan:
    qtype: str = "list"


class StubEngine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen_history: list[list[Turn]] = []

    def stream(self, question, history=()):
        self.seen_history.append(list(history))
        yield RetrievalEvent([SearchHit(paper=PAPER, score=1.0)], StubPlan(), 0.01)
        for piece in ["We fix", " false negatives", " [p1]."]:
            yield TokenEvent(piece)
        answer = Answer(
            question=question,
            answer=f"{question} -> We fix false negatives [p1].",
            citations=[Citation(id="p1", title=PAPER.title)],
            sentences=[SentenceResult(text=f"{question} -> We fix false negatives [p1].", citations=["p1"], supported=True, score=0.9)],
            faithfulness=FaithfulnessVerdict(verdict="faithful", score=0.9),
            retrieved=[Citation(id="p1", title=PAPER.title)],
        )
        yield DoneEvent(answer, Turn(question=question, retrieved=["p1"], cited=["p1"]))


class StubStore:
    def get_papers(self, ids):
        return [PAPER] if "p1" in ids else []


@dataclass
class StubServices:
    settings: Settings
    engine_obj: StubEngine | None = None
    store: StubStore = field(default_factory=StubStore)
    startup: Startup = field(default_factory=lambda: Startup(ready=True))

    def engine(self, prefs):
        return self.engine_obj

    def wait_ready(self, timeout=None):
        return self.startup.ready


@pytest.fixture
def services(settings):
    return StubServices(settings, StubEngine(settings))


def _run(services, question, history=None, session=None, model="fake"):
    return list(chat.respond(services, False, question, history, session, model, "", 6, "fast"))


def test_stream_shows_searching_then_found_then_tokens_then_answer(services):
    steps = _run(services, "Which papers address false negatives?")
    contents = [s[1][-1]["content"] for s in steps]
    assert "Searching" in contents[0]
    assert "Found 1 paper" in contents[1] and "Waiting for the model" in contents[1]
    assert "We fix" in contents[2] and "false negatives" in contents[3]
    final = contents[-1]
    assert "cw-answer" in final and 'href="#card-a1-p1"' in final and "Faithful" in final
    assert all(s[0] == "" for s in steps)  # the question box is cleared
    user = steps[-1][1][-2]
    assert user["role"] == "user" and "false negatives" in user["content"]


class CompareEngine(StubEngine):
    """A comparison: the compared paper is announced right after retrieval, before any token."""

    def stream(self, question, history=()):
        events = super().stream(question, history)
        yield next(events)
        yield SideEvent(1, 2, PAPER, "A distinct quote.")
        yield from events


def test_compared_papers_are_shown_before_the_first_token(settings):
    steps = _run(StubServices(settings, CompareEngine(settings)), "How do A and B differ?")
    contents = [s[1][-1]["content"] for s in steps]
    shown = next(c for c in contents if "cw-sides" in c)
    assert "Comparing 1 paper" in shown and "“A distinct quote.”" in shown and "Waiting for the model" in shown
    assert contents.index(shown) < next(i for i, c in enumerate(contents) if "We fix" in c)


def test_sessions_keep_their_own_history(services):
    one, two = chat.ChatSession(), chat.ChatSession()
    _run(services, "first question in one", session=one)
    _run(services, "only question in two", session=two)
    _run(services, "follow-up in one", session=one)
    assert [t.question for t in one.turns] == ["first question in one", "follow-up in one"]
    assert [t.question for t in two.turns] == ["only question in two"]
    # the follow-up was asked with session one's history only
    assert [t.question for t in services.engine_obj.seen_history[-1]] == ["first question in one"]
    assert one.records[-1].prefix == "a2" and two.records[-1].prefix == "a1"


def test_errors_are_shown_escaped_in_chat(settings):
    steps = _run(StubServices(settings, StubEngine(settings)), "x", model="nosuchbackend:<b>")
    final = steps[-1][1][-1]["content"]
    assert "cw-error" in final and "unknown model" in final and "<b>" not in final


def test_empty_question_does_nothing(services):
    steps = _run(services, "   ")
    assert steps == [("", [], steps[0][2])]


def test_stop_marks_an_unfinished_answer(services):
    gen = chat.respond(services, False, "q", [], None, "fake", "", 6, "fast")
    _, history, _ = next(gen)
    _, history, _ = next(gen)
    gen.close()
    stopped = chat.stop([{"role": "user", "content": [{"type": "text", "text": "q"}]}, {"role": "assistant", "content": [{"type": "text", "text": history[-1]["content"]}]}])
    assert "Stopped" in stopped[-1]["content"] and "cw-caret" not in stopped[-1]["content"]
    finished = [{"role": "assistant", "content": "<div class='cw-answer'>done</div>"}]
    assert chat.stop(finished) == finished


def test_bind_loopback_unless_told_otherwise():
    assert resolve_host(None, "127.0.0.1", False) == "127.0.0.1"
    assert resolve_host("localhost", "127.0.0.1", False) == "localhost"
    with pytest.raises(UIConfigError, match="--listen-anywhere"):
        resolve_host("0.0.0.0", "127.0.0.1", False)
    with pytest.raises(UIConfigError):
        resolve_host(None, "192.168.1.5", False)  # a non-loopback host from the environment needs the flag too
    assert resolve_host(None, "127.0.0.1", True) == "0.0.0.0"
    assert resolve_host("10.0.0.2", "127.0.0.1", True) == "10.0.0.2"


def test_auth_from_env_value():
    assert parse_auth(None) is None
    assert parse_auth("ann:s3:cret") == ("ann", "s3:cret")
    with pytest.raises(UIConfigError):
        parse_auth("no-colon")


def test_shared_deployment_locks_model_and_endpoint(settings):
    from agent.ui.services import Prefs, validate_prefs

    ok = validate_prefs(Prefs(model=settings.llm.model), settings, locked=True)
    assert ok.model == settings.llm.model
    with pytest.raises(ValueError, match="configured model"):
        validate_prefs(Prefs(model="fake"), settings, locked=True)
    with pytest.raises(ValueError, match="configured endpoint"):
        validate_prefs(Prefs(model=settings.llm.model, base_url="https://evil.example"), settings, locked=True)
    with pytest.raises(ValueError, match="http"):
        validate_prefs(Prefs(model="fake", base_url="file:///etc/passwd"), settings, locked=False)
    assert validate_prefs(Prefs(model="fake", papers=3, check="off"), settings, locked=False).papers == 3


def test_api_key_is_never_shown(settings, monkeypatch):
    from agent.ui.services import api_key_status

    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    status = api_key_status(settings)
    assert "is set" in status and "sk-very-secret" not in status


def test_blocks_build_without_launching(settings):
    pytest.importorskip("gradio")
    from agent.ui.app import build_app

    class Services(StubServices):
        def count(self):
            return 1

        def papers(self):
            return [PAPER]

        uploads_dir = None

        def refresh(self):
            pass

    demo = build_app(Services(settings, StubEngine(settings)), runs_dirs=[])
    config = demo.get_config_file()
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert {"cw-chat", "cw-question", "cw-stop", "cw-upload", "cw-count", "cw-thorough"} <= ids


def test_blocked_paths_cover_our_data_but_not_gradio_uploads(settings, monkeypatch):
    from agent.ui import blocked_paths

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(settings.home / "gradio-tmp"))
    blocked = blocked_paths(settings)
    assert str(settings.index_path.resolve()) in blocked
    assert str((settings.home / "uploads").resolve()) in blocked
    assert str(settings.home.resolve()) not in blocked


def test_fake_model_gets_a_fake_judge(settings):
    from agent.ui.services import Prefs, Services

    services = Services.__new__(Services)  # settings_for needs no store
    import threading

    services.settings, services._lock, services._settings = settings, threading.Lock(), {}
    assert services.settings_for(Prefs(model="fake:slow")).faithfulness.judge_model == "fake:slow"
    assert services.settings_for(Prefs(model="fake", papers=3)).answer.papers == 3
    real = services.settings_for(Prefs(model="local:qwen2.5-coder-0.5b"))
    assert real.faithfulness.judge_model == settings.faithfulness.judge_model


def test_question_asked_while_indexing_waits_showing_progress_then_is_answered(settings):
    class Indexing(StubServices):
        """Not ready for the first two polls, with indexing progress; then ready."""

        polls = 0

        def wait_ready(self, timeout=None):
            if timeout:  # one poll interval passes
                self.polls += 1
                self.startup.done = 100 * self.polls
                if self.polls == 2:
                    self.startup.ready = True
            return self.startup.ready

    services = Indexing(settings, StubEngine(settings), startup=Startup(stage="indexing the bundled corpus", total=205))
    steps = _run(services, "Which papers address false negatives?")
    contents = [s[1][-1]["content"] for s in steps]
    assert "Searching" in contents[0]
    assert "indexing the bundled corpus: 0/205 papers" in contents[1]
    assert "indexing the bundled corpus: 100/205 papers" in contents[2]
    assert "Searching" in contents[3] and "Found 1 paper" in contents[4]
    assert "cw-answer" in contents[-1] and "Faithful" in contents[-1]


def test_startup_text_says_what_happens():
    assert Startup().text().startswith("Starting: opening the index")
    assert "12/205 papers" in Startup(stage="indexing the bundled corpus", done=12, total=205).text()
    assert Startup(ready=True).text() == "Ready."
    assert "could not be opened: disk full" in Startup(error="disk full").text()
