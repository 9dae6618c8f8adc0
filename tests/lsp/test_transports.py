"""`initialize` over --tcp and --ws, bound to 127.0.0.1 by default."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.lsp_helpers import REPO

pytestmark = pytest.mark.timeout(60)

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": None, "capabilities": {}}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(*flags: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lsp_server", *flags, "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Wait for the listening socket without connecting: pygls serves one connection
        # per process and shuts down when it closes.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _listening_addresses(proc.pid):
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode()) from None
            time.sleep(0.05)
        yield proc, port
    finally:
        proc.kill()
        proc.wait()


def _listening_addresses(pid: int) -> set[str]:
    import psutil

    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN}


async def test_initialize_over_tcp() -> None:
    with _server("--tcp") as (proc, port):
        assert _listening_addresses(proc.pid) == {"127.0.0.1"}
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps(INITIALIZE).encode()
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        length = 0
        while (line := await asyncio.wait_for(reader.readline(), 20)) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length"):
                length = int(line.split(b":")[1])
        reply = json.loads(await reader.readexactly(length))
        assert reply["id"] == 1
        caps = reply["result"]["capabilities"]
        assert "starcoder.edit" in caps["executeCommandProvider"]["commands"]
        assert caps["codeActionProvider"]
        assert reply["result"]["serverInfo"]["name"] == "starcoder-lsp"
        writer.close()


async def test_initialize_over_websocket() -> None:
    from websockets.asyncio.client import connect

    with _server("--ws") as (proc, port):
        assert _listening_addresses(proc.pid) == {"127.0.0.1"}
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send(json.dumps(INITIALIZE))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert reply["id"] == 1
        assert reply["result"]["capabilities"]["textDocumentSync"]["change"] == 2  # incremental
