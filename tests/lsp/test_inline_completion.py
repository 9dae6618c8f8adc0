"""Inline completion end to end over stdio: a real LSP client, the real server, the tiny
StarCoder2 GGUF (random weights: we assert behaviour, never content) and, for trimming,
a scripted OpenAI-compatible endpoint whose answer we choose (the tiny model never
writes a newline, so it cannot show a completion running past a block)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.fixtures.http_reply import send_json
from tests.lsp_helpers import REPO, Editor, fix_code_action_parsing, server_command

pytestmark = pytest.mark.timeout(180)

URI = "file:///tmp/starcoder-inline/example.py"
OTHER_URI = "file:///tmp/starcoder-inline/helpers.py"
WORKSPACE = REPO.as_uri()  # files under the root get paths relative to it
INIT = {"completionTimeBudgetMs": 60000, "completionDebounceMs": 0}

FUNCTIONS = "".join(
    f"def helper_{i}(values, scale={i}):\n"
    f"    total = sum(v * scale for v in values)\n"
    f"    return total + {i}\n\n\n"
    for i in range(12)
)
SOURCE = FUNCTIONS + "def add(a, b):\n    total = a + b\n    \n    return total\n"
CURSOR = (SOURCE.count("\n") - 2, 4)  # the indented blank line in add()


def _caps(client: str, inline: bool) -> types.ClientCapabilities:
    caps = client_capabilities(client)
    if inline:
        assert caps.text_document is not None
        caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    return caps


@asynccontextmanager
async def serve(*flags: str, inline: bool = True, client_name: str = "visual-studio-code",
                init: dict[str, Any] | None = None, model: Any = "unused.gguf",
                ) -> AsyncIterator[tuple[LanguageClient, Editor, types.InitializeResult]]:
    client = make_test_lsp_client()
    fix_code_action_parsing(client)
    editor = Editor(client)
    await client.start_io(*server_command(model, *flags), cwd=str(REPO))
    result = await client.initialize_session(types.InitializeParams(
        capabilities=_caps(client_name, inline),
        initialization_options={**INIT, **(init or {})}, root_uri=REPO.as_uri()))
    try:
        yield client, editor, result
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 20)
        finally:
            await client.stop()


def _inline(client: LanguageClient, line: int, character: int, uri: str = URI,
            kind: types.InlineCompletionTriggerKind = types.InlineCompletionTriggerKind.Invoked,
            ) -> Any:
    return client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=kind)))


async def _stats(client: LanguageClient) -> Any:
    return await client.protocol.send_request_async("starcoder/completionStats", {})


def _items(result: Any) -> list[types.InlineCompletionItem]:
    if result is None:
        return []
    return list(result.items if isinstance(result, types.InlineCompletionList) else result)


async def test_capabilities_follow_the_client(tiny_model) -> None:
    flags = ("--completion-model", str(tiny_model.gguf_path))
    async with serve(*flags, model=tiny_model.gguf_path) as (_c, _e, result):
        assert result.capabilities.inline_completion_provider is not None
        assert result.capabilities.completion_provider is None  # no duplicate popup
    async with serve(*flags, inline=False, client_name="neovim@v0.7.0",
                     model=tiny_model.gguf_path) as (_c, _e, result):
        assert result.capabilities.completion_provider is not None
    async with serve(*flags, init={"inlineCompletion": False},
                     model=tiny_model.gguf_path) as (_c, _e, result):
        assert result.capabilities.inline_completion_provider is None
        assert result.capabilities.completion_provider is None


async def test_inline_completion_answers_and_reuses_the_prompt(tiny_model) -> None:
    flags = ("--completion-model", str(tiny_model.gguf_path))
    async with serve(*flags, model=tiny_model.gguf_path) as (client, editor, _r):
        editor.open(URI, SOURCE)
        items = _items(await _inline(client, *CURSOR))
        assert len(items) == 1 and str(items[0].insert_text).strip()
        assert items[0].range is None  # a plain insertion at the cursor
        # The user types one character; the next prompt shares all but its end.
        editor.type_at(URI, *CURSOR, "r")
        items = _items(await _inline(client, CURSOR[0], CURSOR[1] + 1))
        assert len(items) == 1
        report = await _stats(client)
        first, second = report.requests[-2], report.requests[-1]
        assert first.outcome == "ok" and second.outcome == "ok"
        assert first.prompt_tokens_evaluated == first.prompt_tokens  # a cold cache
        assert second.prompt_tokens > 300
        assert second.prompt_tokens_evaluated <= 0.10 * second.prompt_tokens, second
        assert second.server_overhead_ms < 1000


async def test_newer_request_cancels_the_older_generation(tiny_model) -> None:
    flags = ("--completion-model", str(tiny_model.gguf_path))
    init = {"completionMaxTokens": 3000}  # a long generation that must be cut short
    async with serve(*flags, model=tiny_model.gguf_path, init=init) as (client, editor, _r):
        editor.open(OTHER_URI, "x = 1\n")
        assert _items(await _inline(client, 1, 0, uri=OTHER_URI))  # loads the model
        big = SOURCE * 3
        line = big.count("\n") - 2
        editor.open(URI, big)
        older = asyncio.ensure_future(_inline(client, line, 4))
        for _ in range(200):  # until the older one is generating
            running = (await _stats(client)).running
            if running is not None and running.phase == "generating":
                break
            await asyncio.sleep(0.01)
        editor.type_at(URI, line, 4, "r")
        newer = await _inline(client, line, 5)
        assert _items(await older) == []
        assert len(_items(newer)) == 1
        report = await _stats(client)
        by_outcome = {e.outcome: e for e in report.requests[-2:]}
        stopped = by_outcome["superseded"]
        # The generation itself stopped (mid-prompt or mid-answer), not just its reply.
        assert stopped.stop_reason == "cancelled"
        assert (stopped.prompt_tokens_evaluated < stopped.prompt_tokens
                or stopped.completion_tokens < 3000)
        assert by_outcome["ok"].line == line


async def test_completion_fallback_for_clients_without_inline(tiny_model) -> None:
    flags = ("--completion-model", str(tiny_model.gguf_path))
    async with serve(*flags, inline=False, client_name="neovim@v0.7.0",
                     model=tiny_model.gguf_path) as (client, editor, _r):
        source = "def add(a, b):\n    tot\n"
        editor.open(URI, source)
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=types.Position(line=1, character=7)))
        assert isinstance(result, types.CompletionList) and result.is_incomplete
        assert len(result.items) == 1
        item = result.items[0]
        edit = item.text_edit
        assert isinstance(edit, types.TextEdit)
        # Replaces the typed word with the word plus the completion.
        assert edit.range.start == types.Position(line=1, character=4)
        assert edit.range.end == types.Position(line=1, character=7)
        assert edit.new_text.startswith("tot") and len(edit.new_text) > 3
        assert item.insert_text_format == types.InsertTextFormat.PlainText
        assert item.data is not None and item.data["stats"]["prompt_tokens"] > 0


# ---- a scripted OpenAI-compatible endpoint --------------------------------------------


class _Scripted(BaseHTTPRequestHandler):
    answer: ClassVar[str] = ""
    prompts: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _json(self, body: Any, status: int = 200) -> None:
        send_json(self, status, body)

    def do_GET(self) -> None:
        if self.path.startswith("/v1/models"):
            self._json({"data": [{"id": "starcoder2-3b", "owned_by": "vllm"}]})
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if self.path == "/tokenize":  # vLLM style: special tokens count as one
            text = body.get("prompt", "")
            count = 1 if text in ("<file_sep>", "<fim_prefix>") else len(text) // 3 + 1
            self._json({"tokens": list(range(count)), "count": count})
        elif self.path == "/v1/completions":
            type(self).prompts.append(body["prompt"])
            self._json({"choices": [{"text": type(self).answer, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20}})
        else:
            self._json({"error": "not found"}, 404)


@contextmanager
def scripted_endpoint(answer: str) -> Iterator[tuple[str, list[str]]]:
    """Serve `answer` to every completion request; yields (url, prompts received)."""
    prompts: list[str] = []
    handler = type("Handler", (_Scripted,), {"answer": answer, "prompts": prompts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", prompts
    finally:
        server.shutdown()
        server.server_close()


async def test_completion_is_trimmed_where_the_block_ends() -> None:
    answer = "return total * 2\n\n\ndef unrelated():\n    pass\n"
    with scripted_endpoint(answer) as (url, prompts):
        flags = ("--backend", "openai", "--endpoint", url, "--completion-model",
                 "starcoder2-3b")
        async with serve(*flags) as (client, editor, _r):
            editor.open(f"{WORKSPACE}/lib/helpers.py", "def helper():\n    return 1\n")
            source = "def add(a, b):\n    total = a + b\n    \n\n\nprint(add(1, 2))\n"
            editor.open(f"{WORKSPACE}/lib/example.py", source)
            items = _items(await _inline(client, 2, 4, uri=f"{WORKSPACE}/lib/example.py"))
            assert [i.insert_text for i in items] == ["return total * 2"]
            report = await _stats(client)
            assert "block_end" in report.requests[-1].trims
    sent = prompts[-1]
    # StarCoder2's repository form: other open files first, then this file in FIM form
    # (the path inside the FIM prefix, as in training).
    assert sent.startswith(f"<repo_name>{REPO.name}<file_sep>lib/helpers.py\ndef helper():")
    assert "<file_sep><fim_prefix>lib/example.py\ndef add(a, b):" in sent
    assert "<fim_suffix>\n\n\nprint(add(1, 2))" in sent and sent.endswith("<fim_middle>")
