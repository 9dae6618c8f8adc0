"""starcoder/edit with `rebase: false`: the edit comes back for the version the request was
planned on, even when the document changed meanwhile, right where the edit goes (what a
client does when it writes the streaming answer into the document for an inline review,
then takes that text out again and rebases the edit itself)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.fixtures.examples import EDIT_SOURCE
from tests.lsp_helpers import apply_text_edits, running_server

pytestmark = pytest.mark.timeout(180)

URI = "file:///tmp/starcoder-e2e/planned.py"


async def _edit_while_client_writes(client, editor, rebase: bool):
    token = f"t-{uuid.uuid4().hex}"
    client.progress_reports.setdefault(token, [])
    task = asyncio.ensure_future(client.protocol.send_request_async("starcoder/edit", {
        "uri": URI, "range": {"start": {"line": 7, "character": 3},
                              "end": {"line": 7, "character": 3}},
        "rebase": rebase, "workDoneToken": token}))
    for _ in range(1000):
        if client.progress_reports[token]:
            break
        await asyncio.sleep(0.005)
    # The client writes right after the target (where an inline review streams).
    editor.type_at(URI, 11, 0, "streamed line\n")
    return await asyncio.wait_for(task, 60)


async def test_rebase_false_returns_the_edit_for_the_planned_version(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options={"maxTokens": 40}) as (
            client, editor):
        editor.open(URI, EDIT_SOURCE)
        result = await _edit_while_client_writes(client, editor, rebase=False)
        assert result.version == 1
        change = result.edit.documentChanges[0]
        assert change.textDocument.version == 1
        edits = [{"range": {"start": e.range.start._asdict(), "end": e.range.end._asdict()},
                  "newText": e.newText} for e in change.edits]
        new = apply_text_edits(EDIT_SOURCE, edits)  # on the planned text, exactly
        assert new != EDIT_SOURCE
        assert result.text.rstrip("\n") in new
        assert new.startswith(EDIT_SOURCE.split("def add")[0])
        assert editor.applied == []


async def test_by_default_the_edit_is_rebased(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options={"maxTokens": 40}) as (
            client, editor):
        editor.open(URI, EDIT_SOURCE)
        result = await _edit_while_client_writes(client, editor, rebase=True)
        # Writing right after the target touches the edit: rebased edits are refused.
        assert result.reason == "conflict" and getattr(result, "edit", None) is None
