"""Responsiveness without a model: what an editor feels on every keystroke.

* code-action latency (p50/p99) on a 5,000-line file through the real server over
  stdio, after warm-up: at random cursor positions, and right after a keystroke
  (didChange then codeAction, so the server's incremental reparse is included);
* incremental reparse after one keystroke in-process (Document.apply_change + .tree);
* resident memory of the server (no model loaded) after initialize + opening the file,
  next to a bare pygls server's;
* spawn-to-initialize next to a bare pygls server (bench/startup.py).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from typing import Any

from lsprotocol import types

from bench import startup
from lsp_server.documents import DocumentStore

URI = "file:///tmp/starcoder-bench/big_module.py"

_BLOCK = '''

class Account{n}:
    """A ledger account ({n})."""

    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance
        self.history = []

    # starcoder: add type hints
    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.balance += amount
        self.history.append(("deposit", amount))
        return self.balance

    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount
        self.history.append(("withdraw", amount))
        return self.balance


def summarize_{n}(accounts):
    total = 0
    for account in accounts:
        total += account.balance
    return {{"count": len(accounts), "total": total}}
'''


def big_file(lines: int = 5000) -> str:
    """A plausible Python module of at least `lines` lines."""
    parts = ['"""Generated module for the responsiveness benchmark."""\n\nimport math\n']
    n = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(_BLOCK.format(n=n))
        n += 1
    text = "".join(parts)
    return "\n".join(text.split("\n")[:lines]) + "\n"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def reparse_times(text: str, keystrokes: int = 200, seed: int = 1) -> list[float]:
    """Seconds per keystroke: apply one typed character, then get the (reparsed) tree."""
    doc = DocumentStore().open(URI, "python", 1, text)
    assert doc.tree is not None
    rng = random.Random(seed)
    times = []
    for version in range(2, keystrokes + 2):
        line = rng.randrange(len(doc.lines))
        column = len(doc.line_text(line))
        started = time.perf_counter()
        doc.apply_change(version, ((line, column), (line, column)), "x")
        assert doc.tree is not None
        times.append(time.perf_counter() - started)
    return times


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


async def _bare_rss() -> int:
    from pytest_lsp.client import make_test_lsp_client

    client = make_test_lsp_client()
    await client.start_io(sys.executable, str(startup.REPO / "bench" / "bare_pygls_server.py"))
    await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities()))
    rss = _rss(client._server.pid)  # type: ignore[union-attr]
    await asyncio.wait_for(client.shutdown_session(), 20)
    await client.stop()
    return rss


async def _server_side(model: str, text: str, requests: int, seed: int) -> dict[str, Any]:
    from tests.lsp_helpers import running_server

    rng = random.Random(seed)
    lines = text.split("\n")

    def action_params(line: int) -> types.CodeActionParams:
        pos = types.Position(line=line, character=min(4, len(lines[line])))
        return types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(start=pos, end=pos),
            context=types.CodeActionContext(diagnostics=[]))

    async with running_server(model) as (client, editor):
        client.feature("starcoder/status")(lambda *_: None)  # status bar updates: ignored
        editor.open(URI, text)
        await client.text_document_code_action_async(action_params(10))
        rss = _rss(client._server.pid)  # type: ignore[union-attr]
        for _ in range(20):  # warm-up
            await client.text_document_code_action_async(action_params(rng.randrange(5000)))
        plain: list[float] = []
        for _ in range(requests):
            params = action_params(rng.randrange(len(lines) - 1))
            started = time.perf_counter()
            await client.text_document_code_action_async(params)
            plain.append(time.perf_counter() - started)
        typed: list[float] = []
        for _ in range(requests):
            line = rng.randrange(len(lines) - 1)
            started = time.perf_counter()
            editor.type_at(URI, line, len(editor.texts[URI].split("\n")[line]), " ")
            await client.text_document_code_action_async(action_params(line))
            typed.append(time.perf_counter() - started)
    return {"rss": rss, "plain": plain, "typed": typed}


def measure(model: str, *, lines: int = 5000, requests: int = 300, keystrokes: int = 300,
            startup_rounds: int = 10, seed: int = 7) -> dict[str, Any]:
    text = big_file(lines)
    side = asyncio.run(_server_side(model, text, requests, seed))
    bare_rss = asyncio.run(_bare_rss())
    reparse = reparse_times(text, keystrokes)
    spawn = startup.measure(startup_rounds)
    ms = 1000.0
    return {
        "lines": lines,
        "requests": requests,
        "action_p50_ms": statistics.median(side["plain"]) * ms,
        "action_p99_ms": percentile(side["plain"], 99) * ms,
        "typed_action_p50_ms": statistics.median(side["typed"]) * ms,
        "typed_action_p99_ms": percentile(side["typed"], 99) * ms,
        "reparse_p50_ms": statistics.median(reparse) * ms,
        "reparse_p99_ms": percentile(reparse, 99) * ms,
        "rss_mb": side["rss"] / 2**20,
        "bare_rss_mb": bare_rss / 2**20,
        "spawn_ms": spawn["starcoder_lsp_s"] * ms,
        "bare_spawn_ms": spawn["bare_pygls_s"] * ms,
        "spawn_ratio": spawn["ratio"],
        "startup_rounds": spawn["rounds"],
    }
