"""Faults: a missing, truncated or corrupt model; out of memory while loading; a backend
that raises mid-stream or hangs; the client vanishing mid-generation; `$/cancelRequest`
repeated or for unknown ids. Each must give the user a clear message and leave the
server serving.

The HTTP server of the OpenAI-compatible backend being down, slow or streaming garbage
is covered by tests/backends/test_openai_backend.py (server down, slow, bad answers);
one server-level check with the endpoint down is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model.base import Backend, GenerationRequest, GenerationStats, ModelInfo
from model.errors import GenerationError
from tests.fixtures.examples import unknown_architecture_gguf
from tests.hardening.harness import InProcess, RawServer, add_figure, tiny_gguf

pytestmark = pytest.mark.timeout(300)

URI = "file:///faults/example.py"
SOURCE = '''import os


# starcoder: add type hints
def add(a, b):
    return a + b


def keep():
    return 1
'''
EDIT = {"uri": URI, "range": {"start": {"line": 3, "character": 3},
                              "end": {"line": 3, "character": 3}}}


def _execute(arguments: dict[str, Any]) -> dict[str, Any]:
    return {"command": "starcoder.edit", "arguments": [arguments]}


# ---- fake backends ---------------------------------------------------------------------------


class FakeBackend(Backend):
    """Streams `pieces`, then raises `fail` (if any); `block` makes it hang until cancel
    is set (or forever when `ignore_cancel`)."""

    name = "fake"

    def __init__(self, pieces: list[str] | None = None, fail: BaseException | None = None,
                 block: bool = False, ignore_cancel: bool = False) -> None:
        self.pieces = pieces if pieces is not None else ["    return a + b  # fake\n"]
        self.fail, self.block, self.ignore_cancel = fail, block, ignore_cancel
        self.release = threading.Event()
        self.calls = 0

    def load(self, progress: Any = None) -> ModelInfo:
        return self.info

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(name="fake", context_length=4096, prompt_family="starcoder2-instruct")

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    @property
    def is_loaded(self) -> bool:
        return True

    def _generate(self, request: GenerationRequest, cancel: threading.Event,
                  stats: GenerationStats) -> Iterator[str]:
        self.calls += 1
        yield from self.pieces
        if self.block:
            while not self.release.wait(0.01):
                if cancel.is_set() and not self.ignore_cancel:
                    return
        if self.fail is not None:
            raise self.fail
        yield "```\n"


async def _server_with(backend: Backend) -> InProcess:
    host = InProcess()
    await host.initialize()
    host.server.models._backend = backend
    host.open(URI, SOURCE)
    return host


async def _settle() -> None:
    """Let call_soon_threadsafe callbacks (messages shown) run."""
    for _ in range(5):
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("fail,expected", [
    (GenerationError("llama_decode failed: out of KV slots"), "out of KV slots"),
    (RuntimeError("CUDA error: an illegal memory access"), "illegal memory access"),
    (MemoryError(), "MemoryError"),
])
async def test_a_backend_raising_mid_stream(fail: BaseException, expected: str) -> None:
    host = await _server_with(FakeBackend(["    return", " a +"], fail=fail))
    try:
        reply = await host.request("workspace/executeCommand", _execute(EDIT))
        result = reply["result"]
        assert result["applied"] is False and result["reason"] == "error"
        assert expected in result["message"]
        await _settle()
        assert any(expected in m for m in host.shown())
        # Still serving: status answers, and a healthy backend edits again.
        status = await host.request("starcoder/getStatus", {})
        assert status["result"]["state"] == "ready"
        host.server.models._backend = FakeBackend()
        reply = await host.request("starcoder/edit", EDIT)
        assert "fake" in reply["result"]["text"]
    finally:
        host.close()
    add_figure("faults.cases", 1)


async def test_a_hung_backend_does_not_hang_the_server() -> None:
    """A backend that never yields and ignores cancellation: other requests are still
    answered, and cancelling answers within the settle bound (5 s)."""
    backend = FakeBackend([], block=True, ignore_cancel=True)
    host = await _server_with(backend)
    try:
        task = asyncio.ensure_future(host.request("starcoder/edit", EDIT, msg_id="hung"))
        await asyncio.sleep(0.2)
        status = await host.request("starcoder/getStatus", {}, timeout=5)
        assert status["result"]["state"] == "generating"
        actions = await host.request("textDocument/codeAction", {
            "textDocument": {"uri": URI}, "range": EDIT["range"],
            "context": {"diagnostics": []}}, timeout=5)
        assert actions["result"]
        started = time.perf_counter()
        host.notify("$/cancelRequest", {"id": "hung"})
        reply = await asyncio.wait_for(task, 10)
        assert reply["error"]["code"] == -32800  # RequestCancelled
        assert time.perf_counter() - started < 7
    finally:
        backend.release.set()
        host.close()
    add_figure("faults.cases", 1)


async def test_out_of_memory_while_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """llama.cpp failing to allocate its context becomes a clear out-of-memory message;
    fixing the cause (here: the allocation succeeds again) needs no restart."""
    llama_cpp = pytest.importorskip("llama_cpp")
    real = llama_cpp.Llama

    class NoMemory(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._stack = contextlib.ExitStack()  # what Llama.__del__ closes
            raise ValueError("Failed to create llama_context")

    monkeypatch.setattr(llama_cpp, "Llama", NoMemory)
    host = InProcess(model=str(tiny_gguf()), n_threads=1, max_tokens=8)
    await host.initialize()
    host.open(URI, SOURCE)
    try:
        reply = await host.request("workspace/executeCommand", _execute(EDIT))
        message = reply["result"]["message"]
        assert reply["result"]["applied"] is False
        assert "could not allocate memory" in message and "smaller" in message
        await _settle()
        assert any("could not allocate memory" in m for m in host.shown())
        status = await host.request("starcoder/getStatus", {})
        assert status["result"]["state"] == "error"
        monkeypatch.setattr(llama_cpp, "Llama", real)
        reply = await host.request("starcoder/edit", EDIT)
        assert "result" in reply or "no code" in reply["error"]["message"]
        status = await host.request("starcoder/getStatus", {})
        assert status["result"]["state"] == "ready"
    finally:
        host.close()
    add_figure("faults.cases", 1)


async def test_python_memory_error_while_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    from model import loader

    def boom(*args: Any, **kwargs: Any) -> Backend:
        raise MemoryError()

    monkeypatch.setattr(loader, "create_backend", boom)
    monkeypatch.setattr("lsp_server.models.create_backend", boom)
    host = InProcess(model=str(tiny_gguf()))
    await host.initialize()
    host.open(URI, SOURCE)
    try:
        reply = await host.request("workspace/executeCommand", _execute(EDIT))
        assert "out of memory while loading" in reply["result"]["message"]
        assert (await host.request("starcoder/getStatus", {}))["result"]["state"] == "error"
    finally:
        host.close()
    add_figure("faults.cases", 1)


# ---- bad model files, through the real server --------------------------------------------------


def _truncated(tmp: Path) -> Path:
    data = tiny_gguf().read_bytes()
    path = tmp / "truncated.gguf"
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt_header(tmp: Path) -> Path:
    data = bytearray(tiny_gguf().read_bytes())
    data[24:4096] = bytes((i * 97 + 13) % 256 for i in range(4096 - 24))
    path = tmp / "corrupt.gguf"
    path.write_bytes(bytes(data))
    return path


def _not_gguf(tmp: Path) -> Path:
    path = tmp / "model.gguf"
    path.write_text("<html>404 Not Found</html>")
    return path


def _lfs_pointer(tmp: Path) -> Path:
    path = tmp / "pointer.gguf"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n")
    return path


BAD_MODELS = {
    "missing": (lambda tmp: tmp / "nowhere.gguf", "does not exist"),
    "truncated": (_truncated, "truncated"),
    "corrupt header": (_corrupt_header, "corrupt"),
    "not a GGUF": (_not_gguf, "not a GGUF"),
    "Git LFS pointer": (_lfs_pointer, "Git LFS pointer"),
    "a directory": (lambda tmp: tmp, "not a regular file"),
    "unknown architecture": (lambda tmp: unknown_architecture_gguf(tmp / "odd.gguf"),
                             "no-such-arch"),
}


@pytest.mark.parametrize("kind", list(BAD_MODELS))
async def test_bad_model_files_in_process(kind: str, tmp_path: Path) -> None:
    make, expected = BAD_MODELS[kind]
    host = InProcess(model=str(make(tmp_path)), backend="llama.cpp")
    await host.initialize()
    host.open(URI, SOURCE)
    try:
        for _ in range(2):  # the failure is reported again, not cached into silence
            reply = await host.request("workspace/executeCommand", _execute(EDIT))
            assert reply["result"]["applied"] is False
            assert expected.lower() in reply["result"]["message"].lower()
        await _settle()
        assert any(expected.lower() in m.lower() for m in host.shown())
        status = await host.request("starcoder/getStatus", {})
        assert status["result"]["state"] == "error"
        assert expected.lower() in status["result"]["message"].lower()
    finally:
        host.close()
    add_figure("faults.cases", 1)


def test_corrupt_model_over_stdio(tmp_path: Path) -> None:
    """The real process: the edit command answers applied:false with the reason, a
    message is shown, and the server keeps answering (getStatus, a later request)."""
    with RawServer("--model", str(_corrupt_header(tmp_path))) as raw:
        raw.initialize()
        raw.open(URI, SOURCE)
        reply = raw.call("workspace/executeCommand", _execute(EDIT))
        assert reply["result"]["applied"] is False
        assert "corrupt" in reply["result"]["message"]
        assert raw.wait_for(lambda m: m.get("method") == "window/showMessage"
                            and "corrupt" in m["params"]["message"], 5)
        assert raw.call("starcoder/getStatus", {})["result"]["state"] == "error"
        reply = raw.call("starcoder/edit", EDIT)
        assert "corrupt" in reply["error"]["message"]
        assert raw.close() == 0
    add_figure("faults.cases", 1)


def test_model_file_replaced_while_running_is_picked_up(tmp_path: Path) -> None:
    """After a failure the load is retried on the next request: fixing the file is
    enough, no restart."""
    path = tmp_path / "model.gguf"
    path.write_bytes(b"not yet")
    with RawServer("--model", str(path), "--max-tokens", "8") as raw:
        raw.initialize()
        raw.open(URI, SOURCE)
        assert "not a GGUF" in raw.call("starcoder/edit", EDIT)["error"]["message"]
        shutil.copy(tiny_gguf(), path)
        reply = raw.call("starcoder/edit", EDIT)
        assert "result" in reply or "no code" in reply["error"]["message"]
        assert raw.close() == 0


def test_openai_endpoint_down(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    with RawServer("--backend", "openai", "--endpoint", f"http://127.0.0.1:{port}/v1",
                   "--model", "starcoder2-15b-instruct-v0.1") as raw:
        raw.initialize({"requestTimeout": 5})
        raw.open(URI, SOURCE)
        reply = raw.call("workspace/executeCommand", _execute(EDIT), timeout=60)
        assert reply["result"]["applied"] is False and reply["result"]["reason"] == "error"
        assert reply["result"]["message"]
        assert raw.wait_for(lambda m: m.get("method") == "window/showMessage", 5)
        assert raw.alive()
        assert raw.close() == 0
    add_figure("faults.cases", 1)


# ---- the client goes away ----------------------------------------------------------------------


def test_client_disappearing_mid_generation() -> None:
    """Both pipes close while the model streams (the editor was killed): the server
    stops the generation and exits within seconds, instead of finishing a long answer
    into a dead pipe or lingering."""
    with RawServer("--model", str(tiny_gguf()), "--n-ctx", "32768", "--n-threads", "1") as raw:
        raw.initialize({"maxTokens": 30000})
        raw.open(URI, SOURCE)
        raw.call("starcoder/loadModel", {})
        raw.request("starcoder/edit", {**EDIT, "workDoneToken": "gone",
                                       "instruction": "rewrite everything"})
        assert raw.wait_for(lambda m: m.get("method") == "$/progress"
                            and m["params"]["value"].get("kind") == "report", 30)
        started = time.perf_counter()
        assert raw.proc.stdin is not None and raw.proc.stdout is not None
        raw.proc.stdin.close()
        raw.proc.stdout.close()
        code = raw.proc.wait(10)
        elapsed = time.perf_counter() - started
    add_figure("faults.client_gone_exit_s", round(elapsed, 2))
    add_figure("faults.cases", 1)
    assert code == 0
    assert elapsed < 5


def test_exit_during_generation_ends_the_process() -> None:
    with RawServer("--model", str(tiny_gguf()), "--n-ctx", "32768", "--n-threads", "1") as raw:
        raw.initialize({"maxTokens": 30000})
        raw.open(URI, SOURCE)
        raw.call("starcoder/loadModel", {})
        raw.request("starcoder/edit", {**EDIT, "workDoneToken": "exit",
                                       "instruction": "rewrite everything"})
        assert raw.wait_for(lambda m: m.get("method") == "$/progress"
                            and m["params"]["value"].get("kind") == "report", 30)
        started = time.perf_counter()
        raw.notify("exit")  # without shutdown: exit code 1, as the spec says
        assert raw.proc.wait(10) == 1
        assert time.perf_counter() - started < 5
    add_figure("faults.cases", 1)


# ---- cancellation edge cases ------------------------------------------------------------


def test_cancel_repeated_and_for_unknown_ids() -> None:
    with RawServer("--model", str(tiny_gguf()), "--n-ctx", "16384", "--n-threads", "1") as raw:
        raw.initialize({"maxTokens": 16000})
        raw.open(URI, SOURCE)
        raw.call("starcoder/loadModel", {})
        # Unknown ids of every type, before anything runs.
        for unknown in (999_999, "nope", -1, 2**62, "", 0):
            raw.notify("$/cancelRequest", {"id": unknown})
        raw.notify("window/workDoneProgress/cancel", {"token": "no-such-token"})
        assert raw.alive()
        msg_id = raw.request("starcoder/edit", {**EDIT, "workDoneToken": "c1",
                                                "instruction": "rewrite everything"})
        assert raw.wait_for(lambda m: m.get("method") == "$/progress"
                            and m["params"]["value"].get("kind") == "report", 30)
        for _ in range(3):  # repeated: the first cancels, the rest are no-ops
            raw.notify("$/cancelRequest", {"id": msg_id})
        reply = raw.wait_response(msg_id, 10)
        assert reply is not None and reply["error"]["code"] == -32800
        raw.notify("$/cancelRequest", {"id": msg_id})  # after it finished
        time.sleep(0.3)
        with raw._cond:
            answers = [m for m in raw.messages if m.get("id") == msg_id]
        assert len(answers) == 1  # exactly one answer, however often it was cancelled
        assert raw.call("starcoder/getStatus", {})["result"]["state"] == "ready"
        # And the next request runs normally.
        raw.notify("workspace/didChangeConfiguration",
                   {"settings": {"starcoder": {"maxTokens": 16}}})
        reply = raw.call("starcoder/edit", {**EDIT, "instruction": "x"}, timeout=60)
        assert "result" in reply or "no code" in reply["error"]["message"]
        errors = [m for m in raw.messages if m.get("method") == "window/showMessage"
                  and m["params"]["type"] == 1]
        assert errors == []  # cancelling is not an error worth a pop-up
        assert raw.close() == 0
    add_figure("faults.cases", 1)
