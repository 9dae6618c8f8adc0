"""StarCoder Chat end to end: a real LSP client, the real server, the tiny StarCoder2 GGUF
through llama.cpp. The model is random, so behaviour is asserted (streaming, turns,
cancellation, the budget's report), not the words."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import pytest
from lsprotocol import types

from lsp_server.protocol import plain
from tests.fixtures.examples import EDIT_SOURCE
from tests.lsp_helpers import REPO, apply_text_edits, running_server

pytestmark = pytest.mark.timeout(180)

URI = (REPO / "chat-e2e" / "geo.py").as_uri()
SELECTION = {"start": {"line": 8, "character": 0}, "end": {"line": 11, "character": 0}}
INIT = {"maxTokens": 24}


def _token() -> str:
    return f"chat-{uuid.uuid4().hex}"


async def _chat(client: Any, messages: list[dict[str, str]], token: str,
                context: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    client.progress_reports.setdefault(token, [])
    params: dict[str, Any] = {"messages": messages, "workDoneToken": token}
    if context is not None:
        params["context"] = context
    return plain(await client.protocol.send_request_async("starcoder/chat", params))


def _reports(client: Any, token: str) -> list[Any]:
    return list(client.progress_reports.get(token, []))


async def _wait_for(what: str, predicate: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_two_turn_chat_streams_and_carries_the_first_answer(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, EDIT_SOURCE)
        context = [{"uri": URI, "range": SELECTION}]
        first_token = _token()
        question = {"role": "user", "content": "What does add do?"}
        first = await _chat(client, [question], first_token, context)

        assert isinstance(first["text"], str)
        assert first["stats"]["completion_tokens"] > 0
        assert first["stats"]["backend"] == "llama.cpp"
        # The tiny GGUF carries StarCoder2-Instruct's chat template: that family's prompt.
        assert first["family"] == "starcoder2-instruct"
        assert first["dropped"] == []
        assert first["context"] == [{"uri": URI, "path": "chat-e2e/geo.py",
                                     "tokens": first["context"][0]["tokens"]}]
        assert first["context"][0]["tokens"] > 10
        # Streamed: begin, reports with the text so far (growing), end.
        reports = _reports(client, first_token)
        assert isinstance(reports[0], types.WorkDoneProgressBegin)
        assert reports[0].title.startswith("StarCoder Chat: What does add do?")
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)
        texts = [r.message for r in reports if isinstance(r, types.WorkDoneProgressReport)]
        assert texts, "no streamed text"
        assert all(b.startswith(a) for a, b in itertools.pairwise(texts))

        # Turn two carries turn one (question, answer) and the code: a longer prompt.
        second_token = _token()
        second = await _chat(client, [question, {"role": "assistant", "content": first["text"]},
                                      {"role": "user", "content": "Add a docstring to it."}],
                             second_token, context)
        assert second["stats"]["completion_tokens"] > 0
        assert second["promptTokens"] > first["promptTokens"]
        assert second["stats"]["prompt_tokens"] == second["promptTokens"]
        # Chatting never touches the document.
        assert editor.applied == [] and editor.texts[URI] == EDIT_SOURCE


async def test_cancel_request_stops_the_answer_mid_way(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options={"maxTokens": 4000}) as (
            client, editor):
        editor.open(URI, EDIT_SOURCE)
        await client.protocol.send_request_async("starcoder/loadModel", {})
        token = _token()
        client.progress_reports.setdefault(token, [])
        future = client.protocol.send_request("starcoder/chat", {
            "messages": [{"role": "user", "content": "Explain everything in detail."}],
            "context": [{"uri": URI}], "workDoneToken": token})
        await _wait_for("streamed text", lambda: any(
            isinstance(r, types.WorkDoneProgressReport) for r in _reports(client, token)))
        cancelled_at = time.perf_counter()
        client.protocol.notify("$/cancelRequest", types.CancelParams(
            id=next(reversed(client.protocol._request_futures))))
        with pytest.raises(Exception, match=r"(?i)cancel"):
            await asyncio.wait_for(asyncio.wrap_future(future), 30)
        await _wait_for("the progress to end", lambda: any(
            isinstance(r, types.WorkDoneProgressEnd) for r in _reports(client, token)))
        end = [r for r in _reports(client, token) if isinstance(r, types.WorkDoneProgressEnd)]
        assert end[0].message == "cancelled"
        assert time.perf_counter() - cancelled_at < 10
        # The model stopped well short of its 4000 tokens, and the server still serves.
        status = await client.protocol.send_request_async("starcoder/getStatus", {})
        assert status.state == "ready"
        generated = int(status.message.split(" tokens")[0]) if "tokens" in status.message else 0
        assert generated < 4000
        again = await _chat(client, [{"role": "user", "content": "Still there?"}], _token())
        assert again["stats"]["completion_tokens"] > 0


async def test_cancelling_the_progress_stops_the_answer(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options={"maxTokens": 4000}) as (
            client, _editor):
        await client.protocol.send_request_async("starcoder/loadModel", {})
        token = _token()
        client.progress_reports.setdefault(token, [])
        future = client.protocol.send_request("starcoder/chat", {
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "workDoneToken": token})
        await _wait_for("streamed text", lambda: any(
            isinstance(r, types.WorkDoneProgressReport) for r in _reports(client, token)))
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        with pytest.raises(Exception, match=r"(?i)cancel"):
            await asyncio.wait_for(asyncio.wrap_future(future), 30)


async def test_the_budget_drops_old_turns_and_says_so(tiny_model) -> None:
    # A 512-token window, of which the answer keeps 24: a long history cannot all fit.
    init = {"maxTokens": 24, "nCtx": 512}
    async with running_server(tiny_model.gguf_path, init_options=init) as (client, editor):
        editor.open(URI, EDIT_SOURCE)
        long = " ".join(f"word{i}" for i in range(150))
        messages = [{"role": "user", "content": f"First: {long}"},
                    {"role": "assistant", "content": f"Answer: {long}"},
                    {"role": "user", "content": f"Second: {long}"},
                    {"role": "assistant", "content": "Short answer."},
                    {"role": "user", "content": "And now?"}]
        result = await _chat(client, messages, _token(),
                             [{"uri": URI}, {"uri": "file:///not/open.py"}])
        assert result["promptTokens"] + 24 <= 512
        dropped_messages = [d["index"] for d in result["dropped"] if d["kind"] == "message"]
        assert dropped_messages[:2] == [0, 1]  # oldest first, a question with its answer
        assert {"kind": "context", "uri": "file:///not/open.py", "reason": "not open"
                } in result["dropped"]


async def test_bad_params_are_refused_and_the_server_keeps_serving(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, _editor):
        for params in ({"messages": []},
                       {"messages": [{"role": "robot", "content": "hi"}]},
                       {"messages": [{"role": "user", "content": "q"}], "context": "x"}):
            with pytest.raises(Exception, match=r"(?i)messages|role|context"):
                await client.protocol.send_request_async("starcoder/chat", params)
        result = await _chat(client, [{"role": "user", "content": "hi"}], _token())
        assert result["stats"]["completion_tokens"] > 0


async def test_chat_context_sizes_chips_without_loading_the_model(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, EDIT_SOURCE)
        refs = {"context": [{"uri": URI}, {"uri": URI, "range": SELECTION},
                            {"uri": "file:///not/open.py"}]}
        before = plain(await client.protocol.send_request_async("starcoder/chatContext", refs))
        whole, selection, missing = before["context"]
        assert whole["estimated"] is True and whole["tokens"] > selection["tokens"] > 0
        assert selection["lines"] == {"first": 9, "last": 11}
        assert missing == {"uri": "file:///not/open.py", "open": False, "tokens": 0,
                           "estimated": False}
        status = await client.protocol.send_request_async("starcoder/getStatus", {})
        assert status.state == "idle"  # sizing a chip never loads a model
        await client.protocol.send_request_async("starcoder/loadModel", {})
        after = plain(await client.protocol.send_request_async("starcoder/chatContext", refs))
        assert after["context"][0]["estimated"] is False
        assert after["context"][0]["tokens"] > 0


@pytest.mark.parametrize("review", [{}, {"rebase": False}], ids=["diff", "inline"])
async def test_applying_a_code_block_goes_through_the_edit_pipeline(
        tiny_model, review: dict[str, bool]) -> None:
    """Chat's Apply: the block is the answer for the selection; the result is the same
    versioned minimal edit a model's answer gets, and no model runs. The inline review asks
    with `rebase: false` (the edit for the version it planned on): the same edit."""
    block = "def add(a: int, b: int) -> int:\n    return a + b\n"
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, EDIT_SOURCE)
        result = plain(await client.protocol.send_request_async("starcoder/edit", {
            "uri": URI, "range": SELECTION, "answer": "```python\n" + block + "```",
            **review}))
        assert result["stats"]["completion_tokens"] == 0
        change = result["edit"]["documentChanges"][0]
        assert change["textDocument"]["version"] == 1
        applied = apply_text_edits(EDIT_SOURCE, change["edits"])
        assert block in applied
        assert applied.split("\n")[:8] == EDIT_SOURCE.split("\n")[:8]  # only the selection
        assert applied.endswith("def also_keep():\n    return 2\n")
        status = await client.protocol.send_request_async("starcoder/getStatus", {})
        assert status.state == "idle"
