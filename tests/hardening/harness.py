"""Drivers for the hardening tests.

* `RawServer`: the real server as a subprocess (`python -m lsp_server --stdio`), spoken
  to in raw bytes, so tests can send what no well-behaved client library would.
* `InProcess`: the real server object (`create_server`) on the test's event loop, fed
  through the same `transport.dispatch` as stdio; lets a test swap in a fake backend
  or measure memory and latency without process overhead.
* `FIGURES`: the numbers the suite reports (messages fuzzed, crashes, latency...).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from lsp_server.transport import FrameParser

REPO = Path(__file__).resolve().parents[2]
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
# Per-test hypothesis settings: CI runs the same 300 examples every time (reproducible,
# ~1 minute in all); the long run draws 10,000 fresh ones per property.
FUZZ = settings(
    max_examples=10_000 if LONG else 300, derandomize=not LONG, deadline=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# name -> value; printed at the end of the run (see conftest.py).
FIGURES: dict[str, Any] = {}


def add_figure(name: str, value: int | float) -> None:
    """Accumulate a counter across tests (messages fuzzed, crashes...)."""
    FIGURES[name] = FIGURES.get(name, 0) + value


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def frame(body: Any) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


class RawServer:
    """A server subprocess and a byte-level client for it."""

    def __init__(self, *args: str, env: dict[str, str] | None = None,
                 log_file: Path | None = None, command: list[str] | None = None) -> None:
        cmd = command or [sys.executable, "-m", "lsp_server", "--stdio", *args]
        self._own_log = log_file is None  # a temporary one, kept only for diagnostics
        if log_file is None:
            handle, name = tempfile.mkstemp(prefix="starcoder-raw-", suffix=".log")
            os.close(handle)
            log_file = Path(name)
        self._stderr = open(log_file, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env={**os.environ, **(env or {})})
        self.messages: list[dict[str, Any]] = []
        self.arrived: dict[Any, float] = {}  # response id -> monotonic arrival time
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()  # the reader thread answers server requests
        self._ids = itertools.count(1)
        self._closed = False
        self.reader_error: BaseException | None = None
        self.log_file = log_file
        self.apply_edit_result: dict[str, Any] = {"applied": False,
                                                  "failureReason": "raw test client"}
        threading.Thread(target=self._read_safely, daemon=True).start()

    # -- I/O --------------------------------------------------------------------------------
    def _read_safely(self) -> None:
        try:
            self._read()
        except BaseException as err:  # surfaced in assertion messages
            self.reader_error = err
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        parser = FrameParser()
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            for body in parser.feed(chunk):
                assert isinstance(body, bytes)
                message = json.loads(body)
                if "method" in message and "id" in message:  # a request to the client
                    self._answer(message)
                with self._cond:
                    if "id" in message and "method" not in message:
                        self.arrived[message["id"]] = time.monotonic()
                    self.messages.append(message)
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _answer(self, message: dict[str, Any]) -> None:
        result: Any = None
        if message["method"] == "workspace/applyEdit":
            result = self.apply_edit_result
        elif message["method"] == "workspace/configuration":
            result = [{}]
        self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.send_bytes(frame(message))

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def request(self, method: str, params: Any = None, msg_id: Any = None) -> Any:
        """Send a request; returns its id (answer with wait_response)."""
        msg_id = f"r{next(self._ids)}" if msg_id is None else msg_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def wait_for(self, predicate: Any, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return None
                self._cond.wait(min(left, 0.2))

    def wait_response(self, msg_id: Any, timeout: float = 10) -> dict[str, Any] | None:
        return self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    def call(self, method: str, params: Any = None, timeout: float = 30) -> dict[str, Any]:
        msg_id = self.request(method, params)
        reply = self.wait_response(msg_id, timeout)
        assert reply is not None, self.diagnose(f"no answer to {method} within {timeout}s")
        return reply

    def diagnose(self, what: str) -> str:
        """`what`, plus the process state, the reader's error and the log's tail."""
        tail = ""
        if self.log_file is not None and self.log_file.exists():
            tail = self.log_file.read_text(errors="replace")[-2000:]
        return (f"{what}; exit code {self.proc.poll()}; reader error {self.reader_error!r}; "
                f"{len(self.messages)} messages received; log tail:\n{tail}")

    # -- session ----------------------------------------------------------------------------
    def initialize(self, options: dict[str, Any] | None = None,
                   capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = self.call("initialize", {"processId": os.getpid(), "rootUri": None,
                                         "capabilities": capabilities or {},
                                         "initializationOptions": options or {}},
                          timeout=60)
        self.notify("initialized", {})
        return reply

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})

    def alive(self, timeout: float = 10) -> bool:
        """The process runs and answers a well-formed request."""
        if self.proc.poll() is not None:
            return False
        msg_id = self.request("starcoder/getStatus", {})
        return self.wait_response(msg_id, timeout) is not None

    def shown(self) -> list[str]:
        with self._cond:
            return [m["params"]["message"] for m in self.messages
                    if m.get("method") == "window/showMessage"]

    def close(self, timeout: float = 15) -> int:
        """Close stdin (the client goes away); the exit code, killing it if it hangs."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server did not exit within {timeout}s") from None
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        if not self._stderr.closed:
            self._stderr.close()
        if self._own_log and self.log_file is not None:
            self.log_file.unlink(missing_ok=True)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError):
                self.close()
        self._cleanup()


class _Capture:
    """pygls writer for InProcess: hands each outgoing message (no headers) back."""

    def __init__(self, owner: InProcess) -> None:
        self.owner = owner

    def write(self, data: bytes) -> None:
        self.owner._received(json.loads(data))

    def close(self) -> None:
        pass


class InProcess:
    """The real StarcoderServer on the running event loop, without a subprocess."""

    def __init__(self, **overrides: Any) -> None:
        from lsp_server.server import create_server

        self.server = create_server(cli_overrides=overrides)
        self.server.protocol.set_writer(_Capture(self), include_headers=False)
        self.messages: list[dict[str, Any]] = []
        self._waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

    def _received(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if "method" in message and "id" in message:
            result: Any = None
            if message["method"] == "workspace/configuration":
                result = [{}]
            elif message["method"] == "workspace/applyEdit":
                result = {"applied": False, "failureReason": "in-process test client"}
            self.dispatch({"jsonrpc": "2.0", "id": message["id"], "result": result})
            return
        waiter = self._waiters.pop(message.get("id"), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    def dispatch(self, message: Any) -> None:
        from lsp_server.transport import dispatch

        dispatch(self.server, json.dumps(message).encode())

    def notify(self, method: str, params: Any) -> None:
        self.dispatch({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: Any, timeout: float = 60,
                      msg_id: str | None = None) -> dict[str, Any]:
        msg_id = msg_id or f"p{next(self._ids)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = waiter
        self.dispatch({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await asyncio.wait_for(waiter, timeout)

    async def initialize(self, options: dict[str, Any] | None = None,
                         root_uri: str | None = None) -> None:
        await self.request("initialize", {"processId": None, "rootUri": root_uri,
                                          "capabilities": {},
                                          "initializationOptions": options or {}})
        self.notify("initialized", {})

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.texts[uri], self.versions[uri] = text, 1
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": 1, "text": text}})

    def replace_all(self, uri: str, text: str) -> None:
        self.texts[uri] = text
        self.versions[uri] += 1
        self.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": self.versions[uri]},
            "contentChanges": [{"text": text}]})

    def shown(self) -> list[str]:
        return [m["params"]["message"] for m in self.messages
                if m.get("method") == "window/showMessage"]

    def close(self) -> None:
        from lsp_server.transport import stop_server

        stop_server(self.server)


def tiny_gguf() -> Path:
    """The tiny StarCoder2 GGUF (built once, cached; never downloaded)."""
    from tests.conftest import tiny_model_cache_dir
    from tests.fixtures.tiny_model import build_tiny_model

    return build_tiny_model(tiny_model_cache_dir()).gguf_path


def rss_bytes(pid: int | None = None) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def iter_chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """`data` cut at the given sizes (cycled), for chunking-invariance checks."""
    at, index = 0, 0
    while at < len(data):
        size = max(1, sizes[index % len(sizes)]) if sizes else len(data)
        yield data[at:at + size]
        at += size
        index += 1
