"""The ``openai:`` backend against tiny loopback servers, and offline tiktoken (fast, no API key)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.llm import EndpointError, LLMError, MalformedOutputError, load_llm
from agent.llm import tokens
from agent.settings import Settings

SECRET = "sk-test-0123456789abcdefSECRET"


def sse(*events: dict | str) -> bytes:
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    return "".join(lines).encode()


def chunk(content: str | None = None, finish: str | None = None, choices: bool = True) -> dict:
    delta = {} if content is None else {"content": content}
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []
    return body


#: path prefix -> (status, content type, body)
ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/good": (200, "text/event-stream", sse(chunk("Hello"), chunk(" world"), chunk(finish="stop"), "[DONE]")),
    "/bad-json": (200, "text/event-stream", sse("{not json at all", "[DONE]")),
    "/no-choices": (200, "text/event-stream", sse(chunk(choices=False), "[DONE]")),
    "/no-content": (200, "text/event-stream", sse(chunk(), chunk(finish="stop"), "[DONE]")),
    "/not-sse": (200, "application/json", b'{"choices": []}'),
    "/status-503": (503, "application/json", b'{"error": {"message": "overloaded"}}'),
    "/auth": (401, "application/json", json.dumps({"error": {"message": f"Incorrect API key provided: {SECRET}"}}).encode()),
}


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        _Handler.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        route = next((r for prefix, r in ROUTES.items() if self.path.startswith(prefix + "/")), None)
        status, ctype, payload = route or (404, "text/plain", b"no route")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def fake_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def offline_tiktoken(tmp_path, monkeypatch):
    """tiktoken cache in tmp, and any attempt to download a BPE file fails the test."""
    import tiktoken.load
    import tiktoken.registry

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})

    def no_download(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    return tmp_path / "tiktoken-cache"


def make_settings(tmp_path, base_url: str | None, **llm) -> Settings:
    return Settings(home=tmp_path / "home", llm={"openai_base_url": base_url, "max_retries": 0, "timeout_s": 5, **llm})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- keys


def test_no_key_and_no_base_url_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        load_llm("openai:gpt-4o-mini", make_settings(tmp_path, None))
    with pytest.raises(LLMError, match="needs a model name"):
        load_llm("openai:", make_settings(tmp_path, "http://127.0.0.1:9/v1"))


def test_custom_endpoint_without_key_uses_dummy_key(tmp_path, monkeypatch, fake_server, offline_tiktoken):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = load_llm("openai:m", make_settings(tmp_path, f"{fake_server}/good/v1"))
    assert llm.complete([{"role": "user", "content": "hi"}]) == "Hello world"
    assert _Handler.requests[-1]["auth"] == "Bearer not-needed"


def test_key_comes_from_named_env_var_and_is_never_shown(tmp_path, monkeypatch, fake_server):
    monkeypatch.setenv("MY_KEY", SECRET)
    llm = load_llm("openai:m", make_settings(tmp_path, f"{fake_server}/auth/v1", openai_api_key_env="MY_KEY"))
    assert SECRET not in repr(llm)
    with pytest.raises(EndpointError) as info:
        llm.complete([{"role": "user", "content": "hi"}])
    assert "401" in str(info.value)
    assert SECRET not in str(info.value)
    assert _Handler.requests[-1]["auth"] == f"Bearer {SECRET}"


# ---------------------------------------------------------------- streaming & errors


def test_streams_pieces_and_estimates_usage(tmp_path, fake_server, offline_tiktoken):
    llm = load_llm("openai:m", make_settings(tmp_path, f"{fake_server}/good/v1", temperature=0.3, max_tokens=17))
    pieces = list(llm.stream([{"role": "user", "content": "say hello"}], stop=["\n\n"]))
    assert pieces == ["Hello", " world"]
    sent = _Handler.requests[-1]["body"]
    assert sent["stream"] is True
    assert sent["model"] == "m"
    assert sent["max_tokens"] == 17
    assert sent["temperature"] == 0.3
    assert sent["stop"] == ["\n\n"]
    assert llm.last_usage.tokens_out == 2
    assert llm.last_usage.tokens_in > 0
    llm.close()
    llm.close()


@pytest.mark.parametrize("route", ["bad-json", "no-choices", "no-content", "not-sse"])
def test_malformed_output(tmp_path, fake_server, offline_tiktoken, route):
    llm = load_llm("openai:m", make_settings(tmp_path, f"{fake_server}/{route}/v1"))
    with pytest.raises(MalformedOutputError):
        llm.complete([{"role": "user", "content": "hi"}])


def test_http_error_status(tmp_path, fake_server):
    llm = load_llm("openai:m", make_settings(tmp_path, f"{fake_server}/status-503/v1"))
    with pytest.raises(EndpointError, match="HTTP 503"):
        llm.complete([{"role": "user", "content": "hi"}])


def test_unreachable_endpoint(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    llm = load_llm("openai:m", make_settings(tmp_path, url, timeout_s=1, max_retries=1))
    with pytest.raises(EndpointError) as info:
        llm.complete([{"role": "user", "content": "hi"}])
    message = str(info.value)
    assert message.startswith(f"cannot reach {url}")
    assert "after 1 retries" in message


# ---------------------------------------------------------------- tiktoken offline


def test_cache_keys_are_sha1_of_download_urls():
    assert tokens.cache_key("cl100k_base") == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
    assert tokens.cache_key("o200k_base") == "fb374d419588a4632f3f557e76b4b70aebbca790"
    url, _ = tokens.ENCODINGS["cl100k_base"]
    assert hashlib.sha1(url.encode()).hexdigest() == tokens.cache_key("cl100k_base")


def test_packaged_cl100k_is_found():
    path = tokens.find_packaged_bpe("cl100k_base")
    assert path is not None and path.is_file()


def test_tiktoken_counts_offline(tmp_path, offline_tiktoken):
    settings = Settings(home=tmp_path / "home")
    llm = load_llm("openai:gpt-3.5-turbo", make_settings(tmp_path, "http://127.0.0.1:9/v1"))
    assert llm.count_tokens("hello world") == 2
    assert llm.count_tokens("") == 0
    assert (offline_tiktoken / tokens.cache_key("cl100k_base")).is_file()
    enc = tokens.encoding_for_model("gpt-4o-mini", settings)
    assert enc.name == ("o200k_base" if "o200k_base" in tokens.available_encodings() else "cl100k_base")


def test_cache_dir_defaults_under_home(tmp_path, monkeypatch):
    import tiktoken.registry

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "placeholder")  # so monkeypatch restores the original state
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    settings = Settings(home=tmp_path / "home")
    seeded = tokens.seed_cache("cl100k_base", settings)
    assert seeded == tmp_path / "home" / "tiktoken" / "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
    import os

    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "home" / "tiktoken")
    assert tokens.get_encoding("cl100k_base", settings).encode("hello world") == [15339, 1917]


@pytest.mark.parametrize(
    ("model", "available", "expected"),
    [
        ("gpt-4o-mini", {"cl100k_base", "o200k_base"}, "o200k_base"),
        ("gpt-4o-mini", {"cl100k_base"}, "cl100k_base"),
        ("o1-preview", {"cl100k_base", "o200k_base"}, "o200k_base"),
        ("gpt-4.1-nano", {"cl100k_base", "o200k_base"}, "o200k_base"),
        ("gpt-5", {"cl100k_base", "o200k_base"}, "o200k_base"),
        ("gpt-4-turbo", {"cl100k_base", "o200k_base"}, "cl100k_base"),
        ("qwen-0.5b", {"cl100k_base", "o200k_base"}, "cl100k_base"),
    ],
)
def test_encoding_choice(model, available, expected):
    assert tokens.encoding_name_for_model(model, available) == expected
