"""Security properties (see SECURITY.md): loopback by default, a WebSocket token checked
on connect, no telemetry, API keys never logged, no file read that the client did not
send (model files aside), model output never executed (except in the validation sandbox,
when asked for: tests/validation/), GGUF validated before loading.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest

from tests.hardening.harness import REPO, InProcess, RawServer, add_figure, tiny_gguf

pytestmark = pytest.mark.timeout(120)

TOKEN = "correct-horse-battery-staple-42"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": None, "capabilities": {}}}


def _listening(pid: int) -> list[Any]:
    return [c for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


@contextmanager
def _network_server(*flags: str, env: dict[str, str] | None = None
                    ) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A --tcp/--ws server on a free port (port 0); yields it and its port."""
    proc = subprocess.Popen([sys.executable, "-m", "lsp_server", *flags, "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 20
        while not _listening(proc.pid):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((proc.stderr.read() if proc.stderr else b"").decode())
            time.sleep(0.05)
        yield proc, _listening(proc.pid)[0].laddr.port
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("transport", ["--tcp", "--ws"])
def test_network_transports_bind_loopback_by_default(transport: str) -> None:
    with _network_server(transport) as (proc, _port):
        assert {c.laddr.ip for c in _listening(proc.pid)} == {"127.0.0.1"}


def test_ws_on_another_address_without_a_token_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if k != "STARCODER_WS_TOKEN"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lsp_server", "--ws", "--host", "0.0.0.0",
                           "--port", "0"], cwd=REPO, capture_output=True, env=env, timeout=30)
    assert done.returncode == 2
    assert b"refusing to serve WebSocket on 0.0.0.0 without a token" in done.stderr
    assert b"STARCODER_WS_TOKEN" in done.stderr
    assert time.perf_counter() - started < 10
    short = subprocess.run([sys.executable, "-m", "lsp_server", "--ws", "--ws-token", "abc"],
                           cwd=REPO, capture_output=True, timeout=30)
    assert short.returncode == 2 and b"at least 16 characters" in short.stderr


async def _ws_initialize(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps(INITIALIZE))
        return dict(json.loads(await asyncio.wait_for(ws.recv(), 20)))


async def _rejected(url: str, headers: dict[str, str] | None = None) -> int:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        await _ws_initialize(url, headers)
    return int(info.value.response.status_code)


@pytest.mark.parametrize("how", ["query", "header"])
async def test_ws_token_is_checked_on_connect(how: str) -> None:
    with _network_server("--ws", env={"STARCODER_WS_TOKEN": TOKEN}) as (proc, port):
        url = f"ws://127.0.0.1:{port}/"
        assert await _rejected(url) == 401
        assert await _rejected(url + "?token=wrong-token-wrong-token") == 401
        assert await _rejected(url, {"Authorization": "Bearer wrong-token-wrong"}) == 401
        assert await _rejected(url, {"Authorization": f"Basic {TOKEN}"}) == 401
        assert proc.poll() is None  # rejected clients do not end the server
        if how == "query":
            reply = await _ws_initialize(f"{url}?token={TOKEN}")
        else:
            reply = await _ws_initialize(url, {"Authorization": f"Bearer {TOKEN}"})
        assert reply["result"]["serverInfo"]["name"] == "starcoder-lsp"
    add_figure("security.ws_handshakes_rejected", 4)


async def test_ws_on_all_interfaces_with_a_token() -> None:
    with _network_server("--ws", "--host", "0.0.0.0", "--ws-token", TOKEN) as (proc, port):
        assert {c.laddr.ip for c in _listening(proc.pid)} == {"0.0.0.0"}
        assert await _rejected(f"ws://127.0.0.1:{port}/") == 401
        reply = await _ws_initialize(f"ws://127.0.0.1:{port}/?token={TOKEN}")
        assert reply["id"] == 1


async def test_tcp_serves_one_client_only() -> None:
    with _network_server("--tcp") as (_proc, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps(INITIALIZE).encode()
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        assert await asyncio.wait_for(reader.readline(), 20)
        # Nobody else can take the session over: the listener is closed.
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        writer.close()


# ---- secrets and network ---------------------------------------------------------------------


class _Endpoint(BaseHTTPRequestHandler):
    seen_auth: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Endpoint.seen_auth.append(self.headers.get("Authorization", ""))
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


def _session_with_key(log: Path, endpoint: str, env: dict[str, str],
                      options: dict[str, Any], secret: str) -> str:
    """Edits through the OpenAI backend at -vv; returns the LSP traffic as text."""
    with RawServer("--backend", "openai", "--endpoint", endpoint, "-vv", "--log-file",
                   str(log), env=env) as raw:
        raw.initialize({"requestTimeout": 5, **options})
        raw.open("file:///s/a.py", "# starcoder: add hints\ndef f(a):\n    return a\n")
        raw.call("starcoder/edit", {"uri": "file:///s/a.py"}, timeout=30)
        raw.call("workspace/executeCommand", {"command": "starcoder.edit",
                                              "arguments": [{"uri": "file:///s/a.py"}]})
        raw.call("starcoder/getStatus", {})
        # Malformed messages carrying it are not echoed either.
        raw.notify("workspace/didChangeConfiguration",
                   {"settings": {"starcoder": {"apiKey": 12345}}})
        body = b'{"apiKey": "' + secret.encode() + b'", "x": ' + b" " * 60
        raw.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body + b"\r\n")
        raw.send_bytes(b'{"initializationOptions": {"apiKey": "' + secret.encode() + b'"}}\r\n')
        assert raw.alive()
        assert raw.close() == 0
        return json.dumps(raw.messages)


def test_api_keys_are_used_but_never_logged(tmp_path: Path) -> None:
    """From the environment and from settings: sent to the endpoint, absent from the
    -vv log (which logs every LSP message) and from everything sent to the editor."""
    env_key, setting_key = "sk-env-SECRET-1234567890", "sk-setting-SECRET-0987654321"
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{http.server_address[1]}"
    no_env = {"STARCODER_API_KEY": "", "OPENAI_API_KEY": ""}
    try:
        traffic = _session_with_key(tmp_path / "env.log", endpoint,
                                    {**no_env, "STARCODER_API_KEY": env_key}, {}, env_key)
        traffic += _session_with_key(tmp_path / "setting.log", endpoint, no_env,
                                     {"apiKey": setting_key}, setting_key)
    finally:
        http.shutdown()
    assert f"Bearer {env_key}" in _Endpoint.seen_auth  # the keys are really used
    assert f"Bearer {setting_key}" in _Endpoint.seen_auth
    logged = "".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in (tmp_path / "env.log", tmp_path / "setting.log"))
    assert "Sending data" in logged  # -vv really logged the LSP traffic
    for secret in (env_key, setting_key, "SECRET"):
        assert secret not in logged
        assert secret not in traffic


class _SocketSampler:
    """Samples a process's inet sockets and child processes on a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.seen: list[Any] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.extend(self.proc.net_connections(kind="inet"))
                for child in self.proc.children(recursive=True):
                    self.seen.append(("child process", child.cmdline()))
            except psutil.Error:
                return
            self.samples += 1
            time.sleep(0.01)

    def __enter__(self) -> _SocketSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_the_socket_sampler_sees_a_connection() -> None:
    """The control for the test below: a process that does connect is seen doing it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = (f"import socket, time; s = socket.create_connection(('127.0.0.1', {port})); "
            "time.sleep(1.5)")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        with _SocketSampler(child.pid) as sampler:
            child.wait(10)
    finally:
        listener.close()
    assert sampler.samples >= 10
    assert any(getattr(c, "raddr", None) and c.raddr.port == port for c in sampler.seen)


def test_no_network_connections_of_its_own() -> None:
    """No telemetry: through start-up, a model load and an edit the stdio server holds
    no inet socket at all (sampled continuously on a thread)."""
    with RawServer("--model", str(tiny_gguf()), "--max-tokens", "16") as raw:
        with _SocketSampler(raw.proc.pid) as sampler:
            raw.initialize()
            raw.open("file:///s/a.py", "# starcoder: add hints\ndef f(a):\n    return a\n")
            assert "result" in raw.call("starcoder/loadModel", {})
            assert "result" in raw.call("starcoder/edit", {"uri": "file:///s/a.py"})
            raw.call("textDocument/codeAction", {
                "textDocument": {"uri": "file:///s/a.py"},
                "range": {"start": {"line": 0, "character": 0},
                          "end": {"line": 0, "character": 0}},
                "context": {"diagnostics": []}})
        assert raw.close() == 0
    # It really watched the whole time (a sampler that took no sample proves nothing).
    assert sampler.samples >= 20, sampler.samples
    assert sampler.seen == []


# ---- files read --------------------------------------------------------------------------------

AUDIT = r'''
import os, sys
log = open(os.environ["AUDIT_LOG"], "w", buffering=1)
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        log.write(os.fsdecode(args[0]) + "\n")
    elif event in ("os.listdir", "os.scandir") and args and args[0]:
        log.write("DIR " + os.fsdecode(args[0]) + "\n")
sys.addaudithook(hook)
from lsp_server.cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_reads_no_file_the_client_did_not_send(tmp_path: Path) -> None:
    """Every file the server process opens (Python audit hook), through a session that
    asks to edit a file that exists on disk but was never opened in the editor: that
    request is refused, and the only files read are Python's own modules, the model
    and /dev, /proc or /sys entries."""
    secret_file = tmp_path / "not_opened.py"
    secret_file.write_text("# starcoder: add hints\ndef f(a):\n    return a\n")
    audit_log = tmp_path / "opened.txt"
    script = tmp_path / "audited.py"
    script.write_text(AUDIT)
    model = tiny_gguf()
    proc_args = ["--stdio", "--model", str(model), "--max-tokens", "8"]
    raw = RawServer(command=[sys.executable, str(script), *proc_args],
                    env={"AUDIT_LOG": str(audit_log)})
    with raw:
        raw.initialize()
        reply = raw.call("starcoder/edit", {"uri": secret_file.as_uri()})
        assert "is not open in the editor" in reply["error"]["message"]
        reply = raw.call("textDocument/codeAction", {
            "textDocument": {"uri": secret_file.as_uri()},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": []}})
        assert reply["result"] in (None, [])
        raw.open("file:///s/a.py", "# starcoder: add hints\ndef f(a):\n    return a\n")
        raw.call("starcoder/edit", {"uri": "file:///s/a.py"})
        assert raw.close() == 0
    opened = set(audit_log.read_text().splitlines())
    allowed_roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, str(REPO),
                                                   str(tmp_path), *sys.path) if p}
    strange = []
    for path in opened:
        name = path.removeprefix("DIR ")
        real = os.path.realpath(name) if name else name
        if real == str(model.resolve()) or real.startswith(("/dev/", "/proc/", "/sys/")):
            continue
        in_python = any(real.startswith(root + os.sep) or real == root
                        for root in allowed_roots)
        if in_python and (real.endswith((".py", ".pyc", ".so", ".pth", ".json", ".typed"))
                          or os.path.isdir(real) or "__pycache__" in real
                          or ".dist-info" in real):
            continue
        strange.append(path)
    assert str(secret_file) not in "\n".join(opened)
    assert strange == [], strange
    add_figure("security.files_opened_checked", len(opened))


# ---- model output, model files ---------------------------------------------------------------


async def test_model_output_is_never_executed(tmp_path: Path) -> None:
    from tests.hardening.test_faults import FakeBackend

    marker = tmp_path / "pwned"
    payload = (f"__import__('os').system('touch {marker}')\n"
               f"exec(\"open('{marker}', 'w')\")\n")
    host = InProcess()
    await host.initialize()
    host.server.models._backend = FakeBackend([payload])
    host.open("file:///s/a.py", "# starcoder: add hints\ndef f(a):\n    return a\n")
    try:
        reply = await host.request("starcoder/edit", {"uri": "file:///s/a.py"})
        assert "__import__('os')" in reply["result"]["text"]  # just text in an edit
        explained = await host.request("starcoder/explain", {"uri": "file:///s/a.py", "range": {
            "start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}})
        assert "result" in explained
    finally:
        host.close()
    assert not marker.exists()


def test_no_code_path_executes_or_phones_home() -> None:
    """An AST-level guard over the server's sources: no eval/exec/compile/__import__,
    no subprocess or shell, no pickle; no HTTP client outside the OpenAI-compatible
    backend (which talks to the configured endpoint only). The hub download of presets
    goes through huggingface_hub in model/download.py, on the user's request only."""
    import ast

    banned_calls = {"eval", "exec", "compile", "__import__"}
    banned_attrs = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execve"),
                    ("os", "spawnv"), ("pickle", "loads"), ("pickle", "load")}
    banned_modules = {"subprocess", "pty", "pickle", "marshal"}
    network_modules = {"httpx", "requests", "urllib.request", "aiohttp", "http.client",
                       "socket"}
    network_ok = {"model/openai_backend/http_client.py", "model/openai_backend/sse_stream.py",
                  "model/openai_backend/many.py"}
    # Validation (opt-in: `validate`) runs the model's code on purpose, in its sandbox; these
    # are the only files allowed to start processes or compile code, each for one reason.
    allowed = {
        "lsp_server/validation/sandbox.py": {"import subprocess"},  # starts the launcher
        "lsp_server/validation/runners.py": {"import subprocess"},  # asks a Python its paths
        "lsp_server/validation/harness_python.py": {"exec()", "compile()"},  # in the sandbox
        "lsp_server/validation/sources.py": {"compile()"},  # a syntax check, nothing runs
        "lsp_server/validation/model_tests.py": {"compile()"},  # a syntax check
        # The doctor (on the user's request) runs the server's own interpreter on its own
        # module, lsp_server/doctor/torch_probe.py, so torch is never imported in the server.
        "lsp_server/doctor/environment.py": {"import subprocess"},
    }
    problems = []
    for folder in ("lsp_server", "model"):
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    func = node.func
                    if isinstance(func, ast.Name) and func.id in banned_calls:
                        problems.append(f"{rel}:{node.lineno} {func.id}()")
                    if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                            and (func.value.id, func.attr) in banned_attrs):
                        problems.append(f"{rel}:{node.lineno} {func.value.id}.{func.attr}()")
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                lineno = getattr(node, "lineno", 0)
                for name in names:
                    if name.split(".")[0] in banned_modules:
                        problems.append(f"{rel}:{lineno} import {name}")
                    if name in network_modules and rel not in network_ok:
                        problems.append(f"{rel}:{lineno} import {name}")
    problems = [p for p in problems
                if p.split(" ", 1)[1] not in allowed.get(p.split(":", 1)[0], set())]
    assert problems == []


def test_gguf_is_validated_before_llama_cpp_sees_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from model.errors import ModelFileError
    from model.llamacpp_backend import LlamaCppBackend

    calls: list[Any] = []

    class Spy(llama_cpp.Llama):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append(kwargs.get("model_path"))
            raise AssertionError("llama.cpp must not be called")

    monkeypatch.setattr(llama_cpp, "Llama", Spy)
    cases = {
        "text.gguf": b"#!/bin/sh\nrm -rf /\n",
        "elf.gguf": b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
        "huge-counts.gguf": b"GGUF" + (3).to_bytes(4, "little") + (2**40).to_bytes(8, "little")
        + (2**40).to_bytes(8, "little") + b"\x00" * 64,
        "cut.gguf": tiny_gguf().read_bytes()[:5000],
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ModelFileError):
            LlamaCppBackend(str(path)).load()
    assert calls == []
    add_figure("security.bad_gguf_refused_before_llama", len(cases))


@pytest.mark.parametrize("line", [
    "Language server initialized InitializeParams(initialization_options={'apiKey': 'sk-1'})",
    'Sending data: {"starcoder": {"apiKey": "sk-1", "maxTokens": 8}}',
    "Settings(api_key='sk-1', model='x')",
    "GET /v1/models Authorization: Bearer sk-1",
    "ws://127.0.0.1:2087/?token=sk-1&x=1",
])
def test_log_redaction_patterns(line: str) -> None:
    from lsp_server.redact import redact

    assert "sk-1" not in redact(line) and "***" in redact(line)
