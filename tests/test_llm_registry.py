"""Registry, model-string parsing, the fake backend and the stop filter (fast, no models)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from agent.llm import (
    LLM,
    EndpointError,
    LLMError,
    ModelFileError,
    known_prefixes,
    load_llm,
    parse_model_string,
    register,
)
from agent.llm import registry
from agent.llm.fake import REFUSAL, FakeLLM, fake_answer
from agent.llm.streaming import StopFilter
from agent.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


EVIDENCE_PROMPT = textwrap.dedent(
    """\
    Answer from the evidence.

    [1] Dense Passage Retrieval
    DPR uses two BERT encoders.
    It is trained on question-passage pairs.

    [2] BM25 revisited
    - BM25 remains a strong baseline.

    Question: what works?
    """
)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


# ---------------------------------------------------------------- parsing & registry


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("fake", ("fake", "")),
        ("fake:slow", ("fake", "slow")),
        ("local:qwen2.5-coder-1.5b", ("local", "qwen2.5-coder-1.5b")),
        ("  OpenAI:gpt-4o-mini ", ("openai", "gpt-4o-mini")),
        ("local:C:\\models\\x.gguf", ("local", "C:\\models\\x.gguf")),
        ("hf:/a/b:c", ("hf", "/a/b:c")),
    ],
)
def test_parse_model_string(model, expected):
    assert parse_model_string(model) == expected


@pytest.mark.parametrize("bad", ["", "   ", ":x", "lo cal:x"])
def test_parse_model_string_rejects_garbage(bad):
    with pytest.raises(LLMError):
        parse_model_string(bad)


def test_builtin_backends_are_discovered():
    assert {"local", "openai", "hf", "fake"} <= set(known_prefixes())


def test_unknown_prefix_names_known_prefixes(settings):
    with pytest.raises(LLMError) as info:
        load_llm("nosuch:thing", settings)
    message = str(info.value)
    assert "'nosuch'" in message
    for prefix in ("fake", "hf", "local", "openai"):
        assert prefix in message


def test_register_adds_a_backend(settings, monkeypatch):
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    seen = {}

    @register("echo")
    def make(spec, s):
        seen["spec"], seen["settings"] = spec, s
        return FakeLLM(f"echo:{spec}")

    llm = load_llm("ECHO:hello", settings)
    assert isinstance(llm, LLM)
    assert seen == {"spec": "hello", "settings": settings}
    assert "echo" in known_prefixes()


def test_importing_and_discovering_does_not_import_heavy_runtimes():
    code = textwrap.dedent(
        """
        import sys
        from agent.llm import known_prefixes, load_llm
        from agent.settings import Settings
        assert {"local", "openai", "hf", "fake"} <= set(known_prefixes())
        load_llm("fake", Settings())
        heavy = sorted(m for m in ("llama_cpp", "torch", "transformers", "openai", "tiktoken") if m in sys.modules)
        print(",".join(heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_local_unknown_name_and_empty_spec(settings):
    with pytest.raises(ModelFileError, match="known: qwen2.5-coder-0.5b, qwen2.5-coder-1.5b"):
        load_llm("local:llama-70b", settings)
    with pytest.raises(ModelFileError, match="needs a model name"):
        load_llm("local:", settings)


def test_hf_missing_directory(settings, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_llm(f"hf:{tmp_path / 'nope'}", settings)
    with pytest.raises(ModelFileError, match="config.json"):
        load_llm(f"hf:{tmp_path}", settings)


# ---------------------------------------------------------------- fake backend


def test_fake_answers_first_sentence_of_each_block(settings):
    llm = load_llm("fake", settings)
    pieces = list(llm.stream([{"role": "system", "content": "[9] ignored\nnot the user"}, user(EVIDENCE_PROMPT)]))
    answer = "DPR uses two BERT encoders. [1] BM25 remains a strong baseline. [2]"
    assert "".join(pieces) == answer
    assert len(pieces) == len(answer.split())  # word by word
    assert pieces[1].startswith(" ")
    assert llm.last_usage.tokens_out == len(answer.split())
    assert llm.last_usage.tokens_in > 0


def test_fake_reads_only_the_last_user_message(settings):
    llm = load_llm("fake", settings)
    messages = [user(EVIDENCE_PROMPT), {"role": "assistant", "content": "ok"}, user("Any news?")]
    assert llm.complete(messages) == REFUSAL


def test_fake_block_ends_at_blank_line_and_needs_line_start():
    text = "[1] Title\n\nnot evidence\n  [2] indented header is not a header\n"
    assert fake_answer(text) == REFUSAL
    assert fake_answer("[3] T\nOne. Two.\n[4] U\nThree.") == "One. Two. [3] Three. [4]"


def test_fake_variants(settings):
    assert load_llm("fake:refuse", settings).complete([user(EVIDENCE_PROMPT)]) == REFUSAL
    failing = load_llm("fake:error", settings)
    with pytest.raises(EndpointError):
        failing.complete([user(EVIDENCE_PROMPT)])
    slow = load_llm("fake:slow", settings)
    assert slow.complete([user(EVIDENCE_PROMPT)]).endswith("[2]")
    with pytest.raises(LLMError, match="unknown fake variant"):
        load_llm("fake:bogus", settings)


def test_fake_max_tokens_stop_and_count(settings):
    llm = load_llm("fake", settings)
    assert llm.complete([user(EVIDENCE_PROMPT)], max_tokens=3) == "DPR uses two"
    assert llm.complete([user(EVIDENCE_PROMPT)], stop=[" [1]"]) == "DPR uses two BERT encoders."
    assert llm.count_tokens("  three  little\nwords ") == 3


# ---------------------------------------------------------------- stop filter


@pytest.mark.parametrize(
    ("pieces", "stops", "expected"),
    [
        (["Hel", "lo\nUs", "er: x"], ["\nUser:"], "Hello"),
        (["abc"], [], "abc"),
        (["a", "b", "c"], ["zz"], "abc"),
        (["STOP"], ["STOP"], ""),
        (["xx", "END", "yy"], ["END", "x"], ""),
    ],
)
def test_stop_filter(pieces, stops, expected):
    f = StopFilter(stops)
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    assert out == expected
