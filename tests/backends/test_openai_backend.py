"""OpenAIBackend against a real server (llama-cpp-python's, serving the tiny GGUF) and
against a small local HTTP server that misbehaves on purpose (garbage, errors, slowness,
auth), plus a closed port."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from model.base import GenerationRequest, GenerationStats, LoadProgress
from model.errors import BackendUnavailableError, GenerationError
from model.openai_backend import OpenAIBackend, match_preset
from tests.fixtures.http_reply import send
from tests.fixtures.llama_server import LlamaServer, free_port
from tests.fixtures.tiny_model import TinyModel

PROMPT = (
    "<|endoftext|>You are an exceptionally intelligent coding assistant that consistently "
    "delivers accurate and reliable responses to user instructions.\n\n"
    "### Instruction\nRename x to count.\n\n```python\ndef f(x):\n    return x + 1\n```\n\n"
    "### Response\n"
)
MESSAGES = ({"role": "user", "content": "Rename x to count.\n\n```python\ndef f(x):\n"
                                        "    return x + 1\n```"},)
SECRET = "sk-test-Zq9SECRETkey123"


def run(backend: OpenAIBackend, cancel: threading.Event | None = None,
        **kwargs: Any) -> tuple[list[str], GenerationStats]:
    stats = GenerationStats()
    request = GenerationRequest(kwargs.pop("prompt", PROMPT), **kwargs)
    pieces = list(backend.generate(request, cancel or threading.Event(), stats))
    return pieces, stats


# ---- against llama-cpp-python's server ---------------------------------------------------


@pytest.fixture(scope="module")
def completions(llama_server: LlamaServer) -> Iterator[OpenAIBackend]:
    backend = OpenAIBackend(llama_server.url + "/v1", model=llama_server.model,
                            context_length=llama_server.n_ctx)
    backend.load()
    yield backend
    backend.close()


def test_load_checks_the_server_and_knows_the_prompt_family(
    llama_server: LlamaServer,
) -> None:
    seen: list[LoadProgress] = []
    backend = OpenAIBackend(llama_server.url, model="")  # empty: take the served model
    info = backend.load(seen.append)
    assert [p.stage for p in seen] == ["loading", "ready"]
    assert backend.model == info.name == llama_server.model
    assert info.prompt_family == "starcoder2-instruct"  # from the preset's name
    assert not info.uses_chat_api
    assert info.context_length == 16384  # llama-cpp-python does not say: the preset's
    assert backend.load() is info
    backend.close()


def test_completions_stream_greedily(completions: OpenAIBackend,
                                     tiny_model: TinyModel) -> None:
    first, stats = run(completions, max_tokens=24)
    second, _ = run(completions, max_tokens=24)
    assert "".join(first) == "".join(second)  # greedy at temperature 0
    assert len(first) > 1  # streamed, not one blob
    assert stats.backend == "openai"
    assert stats.stop_reason == "length"
    assert 1 < stats.completion_tokens <= 24
    assert stats.time_to_first_token_s > 0
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(tiny_model.tokenizer_path))
    assert stats.prompt_tokens == len(hf.encode(PROMPT).ids)  # the server's own count


def test_count_tokens_uses_the_servers_tokenizer(completions: OpenAIBackend,
                                                 tiny_model: TinyModel) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(tiny_model.tokenizer_path))
    for text in (PROMPT, "x = 12345 # héllo"):
        assert completions.count_tokens(text) == len(hf.encode(text).ids)


def test_stop_strings_are_sent_and_applied(completions: OpenAIBackend) -> None:
    full = "".join(run(completions, max_tokens=40)[0])
    words = [w for w in re.findall(r"[A-Za-z]{3,}", full) if full.index(w) > 0]
    assert words, full
    stop = words[len(words) // 2]
    pieces, stats = run(completions, max_tokens=40, stop=(stop,))
    assert "".join(pieces) == full[: full.index(stop)]
    assert stats.stop_reason in ("stop", "eos")  # the server cut it: it does not say why


def test_chat_api_for_an_unknown_model(llama_server: LlamaServer) -> None:
    backend = OpenAIBackend(llama_server.url, model="tiny-starcoder2-instruct",
                            context_length=llama_server.n_ctx)
    info = backend.load()
    assert info.uses_chat_api and info.prompt_family is None
    pieces, stats = run(backend, prompt="ignored", messages=MESSAGES, max_tokens=16,
                        stop=("\n```",))
    assert pieces and stats.completion_tokens > 0
    assert stats.stop_reason in ("length", "eos")
    backend.close()


def test_cancel_closes_the_stream_and_the_server_stays_usable(
    completions: OpenAIBackend, llama_server: LlamaServer
) -> None:
    cancel = threading.Event()
    stats = GenerationStats()
    received = 0
    started = time.perf_counter()
    # llama-cpp-python's server holds back text that is not valid UTF-8 yet, rescanning
    # the held tokens for every new one: once the random model emits a stray byte token
    # the stream goes silent and slows down quadratically. This prompt's greedy answer
    # stays valid UTF-8 for ~200 tokens, so the server can see the disconnect.
    request = GenerationRequest("The quick brown fox", max_tokens=400)
    for _piece in completions.generate(request, cancel, stats):
        received += 1
        if received == 3:
            cancel.set()
    assert stats.stop_reason == "cancelled"
    assert received <= 4
    # The server saw the disconnect and stopped generating.
    deadline = time.monotonic() + 10
    while "disconnected" not in llama_server.log_text().lower():
        assert time.monotonic() < deadline, llama_server.log_text()[-2000:]
        time.sleep(0.05)
    assert time.perf_counter() - started < 15
    _, after = run(completions, max_tokens=4)
    assert after.stop_reason == "length"


def test_empty_prompt_is_refused(completions: OpenAIBackend) -> None:
    with pytest.raises(GenerationError, match="empty"):
        run(completions, prompt="")


# ---- a local server that misbehaves on purpose -----------------------------------------------


class _FakeOpenAI(BaseHTTPRequestHandler):
    """The first path segment picks the behaviour: /ok/v1/..., /garbage/v1/..., etc."""

    seen_auth: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        send(self, status, body, kind)

    def do_GET(self) -> None:
        mode, _, path = self.path.lstrip("/").partition("/")
        self.seen_auth.append(self.headers.get("Authorization", ""))
        if mode == "auth" and self.headers.get("Authorization") != f"Bearer {SECRET}":
            self._send(401, b'{"error": {"message": "invalid api key"}}')
            return
        if path == "v1/models":
            models = {"object": "list", "data": [
                {"id": "bigcode/starcoder2-15b-instruct-v0.1", "object": "model",
                 "owned_by": "vllm", "max_model_len": 4096}]}
            self._send(200, json.dumps(models).encode())
        else:
            self._send(404, b'{"detail": "Not Found"}')

    def do_POST(self) -> None:
        mode, _, path = self.path.lstrip("/").partition("/")
        self.seen_auth.append(self.headers.get("Authorization", ""))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if path == "tokenize":
            self._send(200, json.dumps({"count": len(body.get("prompt", "")) // 2,
                                        "tokens": []}).encode())
            return
        if mode == "error500":
            self._send(500, b'{"error": {"message": "CUDA error: out of memory on the server"}}')
            return
        if mode == "slow":
            time.sleep(3)
        if mode == "html":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        chunks: list[bytes]
        if mode == "garbage":
            chunks = [b'data: {"choices": [{"text": "ok"}]}\n\n', b"data: {not json at all\n\n"]
        elif mode == "shape":
            chunks = [b'data: {"result": "no choices here"}\n\n']
        else:
            pieces = ["def ", "count", "(x):", "\n```", "tail"]
            chunks = [f"data: {json.dumps({'choices': [{'text': p, 'finish_reason': f}]})}\n\n"
                      .encode() for p, f in zip(pieces, [None] * 4 + ["stop"], strict=True)]
            usage = {"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 5,
                                              "prompt_tokens_details": {"cached_tokens": 40}}}
            chunks.append(f": ping\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # do not wait for the deliberately slow handlers

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up mid-stream on purpose (stop strings, cancel, timeouts)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_api_key_is_sent_and_never_logged(fake_server: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _FakeOpenAI.seen_auth.clear()
    backend = OpenAIBackend(f"{fake_server}/auth", model="", api_key=SECRET)
    info = backend.load()
    pieces, stats = run(backend, max_tokens=8)
    stopped, stop_stats = run(backend, max_tokens=8, stop=("\n```",))
    assert _FakeOpenAI.seen_auth and set(_FakeOpenAI.seen_auth) == {f"Bearer {SECRET}"}
    assert SECRET not in repr(backend) and "***" in repr(backend)
    assert caplog.records, "DEBUG logging should have recorded the HTTP traffic"
    assert SECRET not in caplog.text
    # vLLM-style listing: context, family from the hub id; usage from the last chunk.
    assert info.context_length == 4096 and info.prompt_family == "starcoder2-instruct"
    assert "".join(pieces) == "def count(x):\n```tail"
    assert stats.stop_reason == "eos"
    assert (stats.prompt_tokens, stats.prompt_tokens_evaluated) == (42, 2)
    assert stats.completion_tokens == 5
    # Stopped locally before the usage chunk: counted with the server's /tokenize.
    assert "".join(stopped) == "def count(x):" and stop_stats.stop_reason == "stop"
    assert stop_stats.prompt_tokens == len(PROMPT) // 2


def test_wrong_api_key_is_a_clear_error(fake_server: str) -> None:
    backend = OpenAIBackend(f"{fake_server}/auth", api_key="wrong")
    with pytest.raises(BackendUnavailableError, match=r"HTTP 401.*invalid api key.*API key"):
        backend.load()


def test_vllm_tokenize_endpoint(fake_server: str) -> None:
    backend = OpenAIBackend(f"{fake_server}/ok/v1/")
    backend.load()
    assert backend.count_tokens("abcdefgh") == 4


@pytest.mark.parametrize(("mode", "message"), [
    ("garbage", "not JSON: {not json at all"),
    ("shape", "unexpected event"),
    ("html", "not send a server-sent event stream: <html>"),
    ("error500", "HTTP 500 .*CUDA error: out of memory on the server"),
])
def test_bad_answers_are_generation_errors(fake_server: str, mode: str, message: str) -> None:
    backend = OpenAIBackend(f"{fake_server}/{mode}")
    backend.load()
    stats = GenerationStats()
    with pytest.raises(GenerationError, match=message):
        run_with_stats(backend, stats)
    assert stats.stop_reason == "error"


def run_with_stats(backend: OpenAIBackend, stats: GenerationStats) -> str:
    return "".join(backend.generate(GenerationRequest(PROMPT, max_tokens=8),
                                    threading.Event(), stats))


def test_slow_server_times_out(fake_server: str) -> None:
    backend = OpenAIBackend(f"{fake_server}/slow", timeout_s=0.5)
    backend.load()
    started = time.perf_counter()
    with pytest.raises(GenerationError, match=r"did not answer within 0\.5 s"):
        run_with_stats(backend, GenerationStats())
    assert time.perf_counter() - started < 2.5


def test_cancel_while_the_server_is_silent_returns_at_once(fake_server: str) -> None:
    backend = OpenAIBackend(f"{fake_server}/slow")
    backend.load()
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.perf_counter()
    pieces, stats = run(backend, cancel=cancel, max_tokens=8)
    assert pieces == [] and stats.stop_reason == "cancelled"
    assert time.perf_counter() - started < 1.5


def test_server_down_is_backend_unavailable() -> None:
    port = free_port()  # nothing listens there any more
    backend = OpenAIBackend(f"http://127.0.0.1:{port}")
    with pytest.raises(BackendUnavailableError,
                       match=rf"cannot reach the inference server at http://127.0.0.1:{port}"):
        backend.load()


def test_preset_matching() -> None:
    def name(model: str) -> str | None:
        preset = match_preset(model)
        return preset.name if preset else None

    instruct = "starcoder2-15b-instruct-v0.1"
    assert name(instruct) == instruct
    assert name("bigcode/starcoder2-15b-instruct-v0.1") == instruct  # vLLM serves hub ids
    assert name("/models/starcoder2-15b-instruct-v0.1-Q4_K_M.gguf") == instruct
    assert name("starcoder2-15b") == "starcoder2-15b"
    assert name("starcoder2-15b-Q8_0.gguf") == "starcoder2-15b"
    assert name("starcoder2-15b-foo") is None
    assert name("gpt-4o") is None
