"""The ``local:`` backend's streaming, caching and error handling with a stub llama_cpp.Llama (fast)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.llm import LLMError, ModelFileError, load_llm
from agent.llm import llamacpp
from agent.settings import Settings


class StubLlama:
    """Just enough of llama_cpp.Llama: words of the reply stream one chunk each."""

    instances: list[StubLlama] = []

    def __init__(self, model_path: str, **kwargs) -> None:
        if Path(model_path).read_bytes()[4:8] == b"BAD!":
            raise ValueError(f"Failed to load model from file: {model_path}")
        self.kwargs = kwargs
        getattr(StubLlama, "on_init", lambda: None)()
        self.metadata: dict[str, str] = {}
        self.requests: list[dict] = []
        self.closed_streams = 0
        self.reply = "one two three four five"
        StubLlama.instances.append(self)

    def tokenize(self, data: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(range(len(data.split()) + int(add_bos)))

    def create_chat_completion(self, **request):
        self.requests.append(request)
        if request["messages"][-1]["content"] == "too long":
            raise ValueError("Requested tokens (9999) exceed context window of 2048")
        return self._chunks(request)

    def _chunks(self, request):
        try:
            yield {"choices": [{"delta": {"role": "assistant"}}]}
            for i, word in enumerate(self.reply.split()[: request["max_tokens"]]):
                yield {"choices": [{"delta": {"content": word if i == 0 else " " + word}}]}
            yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}
        finally:
            self.closed_streams += 1


@pytest.fixture
def stub(monkeypatch, tmp_path):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "Llama", StubLlama)
    monkeypatch.setattr(llamacpp, "_CACHE", {})
    StubLlama.instances = []
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF....")
    return model


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", llm={"n_ctx": 2048, "n_threads": 2, "max_tokens": 3, "seed": 7})


MESSAGES = [{"role": "user", "content": "hello there"}]


def test_streams_pieces_with_settings(stub, settings):
    llm = load_llm(f"local:{stub}", settings)
    assert list(llm.stream(MESSAGES)) == ["one", " two", " three"]
    (instance,) = StubLlama.instances
    assert instance.kwargs == {"n_ctx": 2048, "n_threads": 2, "seed": 7, "flash_attn": True, "verbose": False}
    request = instance.requests[-1]
    assert request["stream"] is True and request["temperature"] == 0.0
    assert request["max_tokens"] == 3 and request["seed"] == 7 and request["stop"] is None
    assert llm.last_usage.tokens_out == 3
    assert llm.last_usage.tokens_in > 0
    assert llm.complete(MESSAGES, max_tokens=5, stop=["x"]) == "one two three four five"
    assert instance.requests[-1]["stop"] == ["x"]
    assert llm.count_tokens("a b c") == 3


def test_models_are_cached_per_path_ctx_threads(stub, settings):
    a = load_llm(f"local:{stub}", settings)
    b = load_llm(f"local:{stub}", settings)
    assert a.llama is b.llama
    other = settings.with_overrides(**{"llm.n_ctx": 1024})
    assert load_llm(f"local:{stub}", other).llama is not a.llama
    assert len(StubLlama.instances) == 2


def test_extra_buffers_can_be_turned_off_for_one_load(stub, settings):
    """llm.cpu_extra_buffers=false: the model loads with use_extra_bufts off (the AMX 'Illegal instruction'
    workaround); the real llama.cpp default params are back afterwards, and it is a different cached model."""
    import llama_cpp.llama_cpp as low

    seen: list[bool] = []
    StubLlama.on_init = lambda: seen.append(bool(low.llama_model_default_params().use_extra_bufts))
    try:
        load_llm(f"local:{stub}", settings.with_overrides(**{"llm.cpu_extra_buffers": True}))
        load_llm(f"local:{stub}", settings.with_overrides(**{"llm.cpu_extra_buffers": False}))
    finally:
        del StubLlama.on_init
    assert seen == [True, False]
    assert low.llama_model_default_params().use_extra_bufts is True
    assert len(StubLlama.instances) == 2


def test_early_close_cancels_generation(stub, settings):
    llm = load_llm(f"local:{stub}", settings)
    gen = llm.stream(MESSAGES, max_tokens=5)
    assert next(gen) == "one"
    gen.close()
    # The worker notices the cancel, closes llama's stream and releases the model.
    assert llm.complete(MESSAGES) == "one two three"
    assert StubLlama.instances[0].closed_streams == 2


def test_streams_can_be_read_from_other_threads(stub, settings):
    llm = load_llm(f"local:{stub}", settings)
    gen = llm.stream(MESSAGES)
    got: list[str] = [next(gen)]
    reader = threading.Thread(target=lambda: got.extend(gen))
    reader.start()
    reader.join()
    assert got == ["one", " two", " three"]


def test_context_overflow_is_llm_error(stub, settings):
    llm = load_llm(f"local:{stub}", settings)
    with pytest.raises(LLMError, match="exceed context window"):
        llm.complete([{"role": "user", "content": "too long"}])
    assert llm.complete(MESSAGES) == "one two three"  # the model lock was released


def test_load_failure_is_model_file_error(stub, settings, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUFBAD!")
    with pytest.raises(ModelFileError, match="could not load"):
        load_llm(f"local:{bad}", settings)


def test_default_threads_are_all_cores(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(llamacpp.os, "cpu_count", lambda: 5)
    load_llm(f"local:{stub}", Settings(home=tmp_path / "home", llm={"n_threads": None}))
    assert StubLlama.instances[-1].kwargs["n_threads"] == 5
