"""End to end over stdio: a real LSP client drives the real server, which runs the tiny
StarCoder2 GGUF through llama.cpp. The model is random, so we assert behaviour (what is
applied, where, with which version), never the generated content."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from lsprotocol import types

from tests.fixtures.examples import EDIT_SOURCE
from tests.lsp_helpers import apply_text_edits, running_server

pytestmark = pytest.mark.timeout(180)

SOURCE = EDIT_SOURCE

GENERATE_SOURCE = '''import math

# Write a quicksort function with type hints and a 'less_than' parameter for custom sorting criteria
'''

INIT = {"maxTokens": 48}
URI = "file:///tmp/starcoder-e2e/example.py"


def _pos(line: int, character: int = 0) -> types.Position:
    return types.Position(line=line, character=character)


def _range(line: int, character: int = 0) -> dict:
    return {"start": {"line": line, "character": character},
            "end": {"line": line, "character": character}}


async def test_initialize_advertises_features(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, _editor):
        # initialize_session already returned; ask again through the capabilities we got.
        caps = client.protocol  # noqa: F841 - the session itself must have worked
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="starcoder.cancel", arguments=[]))
        assert result == {"cancelled": 0}


async def test_code_actions_are_instant_and_offer_the_instruction(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        started = time.perf_counter()
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(start=_pos(7, 5), end=_pos(7, 5)),
            context=types.CodeActionContext(diagnostics=[]),
        ))
        elapsed = time.perf_counter() - started
        assert actions, "expected code actions at the instruction comment"
        titles = [a.title for a in actions]
        assert titles[0] == "StarCoder: add type hints and a docstring"
        assert actions[0].command is not None
        assert actions[0].command.command == "starcoder.edit"
        assert "StarCoder: explain" in titles
        # The model is not loaded by code actions (that would take seconds).
        status = await client.protocol.send_request_async("starcoder/getStatus", {})
        assert status.state in ("idle",), status
        assert elapsed < 5  # generous: a round trip, no model


async def test_edit_command_applies_a_versioned_edit(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="starcoder.edit", arguments=[{"uri": URI, "range": _range(7, 3)}]))
        assert result["applied"] is True, result
        assert result["instruction"] == "add type hints and a docstring"
        # The edit went through workspace/applyEdit, versioned at the version we opened.
        assert len(editor.applied) == 1
        change = editor.applied[0]
        assert change.text_document.version == 1
        new_text = editor.texts[URI]
        assert new_text != SOURCE
        # Only the function under the comment changed; the comment and other code stayed.
        lines = new_text.split("\n")
        assert lines[:8] == SOURCE.split("\n")[:8]
        assert new_text.endswith("def also_keep():\n    return 2\n")
        for edit in change.edits:
            assert edit.range.start.line >= 8
        assert result["stats"]["completion_tokens"] > 0
        # The new code the server reported is what is now in the document.
        start = result["range"]["start"]["line"]
        assert start == 8
        assert result["text"].rstrip("\n") in new_text


async def test_custom_request_returns_edit_without_applying(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        token = f"t-{uuid.uuid4().hex}"
        client.progress_reports.setdefault(token, [])
        result = await client.protocol.send_request_async("starcoder/edit", {
            "uri": URI, "range": _range(9, 4), "instruction": "rename total to result",
            "workDoneToken": token})
        assert editor.applied == []  # not applied
        assert editor.texts[URI] == SOURCE
        edit = result.edit
        doc_change = edit.documentChanges[0]
        assert doc_change.textDocument.version == 1
        edits = [{"range": {"start": e.range.start._asdict(), "end": e.range.end._asdict()},
                  "newText": e.newText} for e in doc_change.edits]
        previewed = apply_text_edits(SOURCE, edits)
        assert previewed != SOURCE
        assert result.mode == "edit"
        assert result.instruction == "rename total to result"
        # Partial text streamed in the progress reports, ending with the final text.
        kinds = [type(v).__name__ for v in client.progress_reports[token]]
        assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
        assert any(k == "WorkDoneProgressReport" for k in kinds)


async def test_generate_inserts_code_below_comment(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, GENERATE_SOURCE)
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(start=_pos(2, 10), end=_pos(2, 10)),
            context=types.CodeActionContext(diagnostics=[])))
        assert actions and actions[0].title == "StarCoder: generate code"
        command = actions[0].command
        assert command is not None and command.command == "starcoder.generate"
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command.command, arguments=command.arguments))
        assert result["applied"] is True, result
        assert result["mode"] == "generate"
        new_text = editor.texts[URI]
        # Everything that was there is still there, in place; code was added after it.
        assert new_text.startswith(GENERATE_SOURCE)
        assert len(new_text) > len(GENERATE_SOURCE)


async def test_explain_returns_markdown(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        result = await client.protocol.send_request_async("starcoder/explain", {
            "uri": URI, "range": {"start": {"line": 8, "character": 0},
                                  "end": {"line": 11, "character": 0}}})
        assert result.kind == "markdown"
        assert isinstance(result.value, str)
        assert editor.applied == [] and editor.texts[URI] == SOURCE


async def test_cancel_request_stops_generation(tiny_model) -> None:
    init = {"maxTokens": 4000}
    async with running_server(tiny_model.gguf_path, init_options=init) as (client, editor):
        editor.open(URI, SOURCE)
        # Warm up (load the model) so the cancel hits generation, not loading.
        await client.protocol.send_request_async("starcoder/loadModel", {})
        token = f"t-{uuid.uuid4().hex}"
        client.progress_reports.setdefault(token, [])
        future = client.protocol.send_request("starcoder/edit", {
            "uri": URI, "range": _range(9, 4), "instruction": "rewrite it",
            "workDoneToken": token})
        # Wait for some streamed text, then cancel.
        for _ in range(400):
            reports = client.progress_reports[token]
            if any(isinstance(r, types.WorkDoneProgressReport) for r in reports):
                break
            await asyncio.sleep(0.01)
        cancelled_at = time.perf_counter()
        client.protocol.notify("$/cancelRequest", types.CancelParams(
            id=next(reversed(client.protocol._request_futures))))
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(asyncio.wrap_future(future), 30)
        assert "cancel" in str(info.value).lower()
        # The model really stopped: the progress ends soon, as cancelled.
        for _ in range(500):
            if any(isinstance(r, types.WorkDoneProgressEnd) for r in
                   client.progress_reports[token]):
                break
            await asyncio.sleep(0.01)
        end = [r for r in client.progress_reports[token]
               if isinstance(r, types.WorkDoneProgressEnd)]
        assert end and end[0].message == "cancelled"
        assert time.perf_counter() - cancelled_at < 10
        assert editor.applied == [] and editor.texts[URI] == SOURCE
        # The server still serves.
        status = await client.protocol.send_request_async("starcoder/getStatus", {})
        assert status.state == "ready"
        assert status.exactDrafts is False  # the F32 tiny GGUF fails the check (test_speculative)


async def _edit_while_typing(client, editor, typed_line: int, typed_text: str) -> dict:
    token = f"t-{uuid.uuid4().hex}"
    client.progress_reports.setdefault(token, [])
    task = asyncio.ensure_future(client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="starcoder.edit", arguments=[{
            "uri": URI, "range": _range(9, 4), "instruction": "rename total to result"}],
            work_done_token=token)))
    # Once progress has begun the server has taken its snapshot of the document.
    for _ in range(1000):
        if client.progress_reports[token]:
            break
        await asyncio.sleep(0.005)
    assert client.progress_reports[token], "no progress began"
    editor.type_at(URI, typed_line, 0, typed_text)
    return await asyncio.wait_for(task, 60)


async def test_user_edit_elsewhere_is_rebased(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        result = await _edit_while_typing(client, editor, 0, "import sys\n")
        assert result["applied"] is True, result
        text = editor.texts[URI]
        assert text.startswith("import sys\nimport os\n")  # the user's typing survived
        assert text.endswith("def also_keep():\n    return 2\n")
        assert editor.applied[0].text_document.version == 2  # rebased onto the new version
        assert result["text"].rstrip("\n") in text


async def test_user_edit_inside_target_is_refused(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        result = await _edit_while_typing(client, editor, 10, "    # mine\n")
        assert result["applied"] is False
        assert result["reason"] == "conflict"
        assert editor.applied == []
        assert "    # mine\n" in editor.texts[URI]  # the user's typing is untouched
        assert any("not applied" in m.message for m in client.messages)


async def test_unknown_language_falls_back_to_lines(tiny_model) -> None:
    uri = "file:///tmp/starcoder-e2e/notes.xyz"
    text = "header line\n\n; starcoder: make it shout\nhello world\nsecond line\n\ntail\n"
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(uri, text, language_id="plaintext")
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="starcoder.edit", arguments=[{"uri": uri, "range": _range(2, 4)}]))
        assert result["instruction"] == "make it shout"
        if result["applied"]:
            new_text = editor.texts[uri]
            assert new_text.startswith("header line\n\n; starcoder: make it shout\n")
            assert new_text.endswith("\ntail\n")
        else:  # a random model may answer nothing usable: then nothing changes
            assert result["reason"] in ("empty", "unchanged")
            assert editor.texts[uri] == text


async def test_offline_preset_download_reports_how_to_use_a_local_file(tmp_path) -> None:
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"  # inherited by the server process
    try:
        async with running_server("starcoder2-3b", "--models-dir", str(tmp_path),
                                  init_options=INIT) as (client, editor):
            editor.open(URI, SOURCE)
            result = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="starcoder.edit",
                                           arguments=[{"uri": URI, "range": _range(7, 3)}]))
            assert result["applied"] is False and result["reason"] == "error"
            assert "--model /path/to/" in result["message"]
            assert editor.texts[URI] == SOURCE
            status = await client.protocol.send_request_async("starcoder/getStatus", {})
            assert status.state == "error" and "could not download" in status.message
            # Still serving: code actions answer.
            actions = await client.text_document_code_action_async(types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                range=types.Range(start=_pos(7, 5), end=_pos(7, 5)),
                context=types.CodeActionContext(diagnostics=[])))
            assert actions
    finally:
        del os.environ["HF_HUB_OFFLINE"]


async def _start_long_command(client, token: str) -> asyncio.Future:
    client.progress_reports.setdefault(token, [])
    future = asyncio.ensure_future(client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="starcoder.edit", arguments=[{
            "uri": URI, "range": _range(9, 4), "instruction": "rewrite it"}],
            work_done_token=token)))
    for _ in range(1000):
        if any(isinstance(r, types.WorkDoneProgressReport)
               for r in client.progress_reports[token]):
            break
        await asyncio.sleep(0.01)
    return future


async def test_cancelling_the_progress_stops_the_command(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options={"maxTokens": 4000}) as (
            client, editor):
        editor.open(URI, SOURCE)
        await client.protocol.send_request_async("starcoder/loadModel", {})
        token = f"t-{uuid.uuid4().hex}"
        future = await _start_long_command(client, token)
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        result = await asyncio.wait_for(future, 30)
        assert result["applied"] is False and result["reason"] == "cancelled"
        assert editor.applied == [] and editor.texts[URI] == SOURCE


async def test_cancel_request_stops_a_command(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options={"maxTokens": 4000}) as (
            client, editor):
        editor.open(URI, SOURCE)
        await client.protocol.send_request_async("starcoder/loadModel", {})
        token = f"t-{uuid.uuid4().hex}"
        future = await _start_long_command(client, token)
        # $/cancelRequest for the executeCommand request (by id, as editors send it).
        pending = list(client.protocol._request_futures)
        client.protocol.notify("$/cancelRequest", types.CancelParams(id=pending[-1]))
        # LSP's answer to a cancelled request: the RequestCancelled error.
        with pytest.raises(Exception, match="cancel"):
            await asyncio.wait_for(future, 30)
        for _ in range(1000):
            if any(isinstance(r, types.WorkDoneProgressEnd)
                   for r in client.progress_reports[token]):
                break
            await asyncio.sleep(0.01)
        end = [r for r in client.progress_reports[token]
               if isinstance(r, types.WorkDoneProgressEnd)]
        assert end and end[0].message == "cancelled"
        assert editor.applied == [] and editor.texts[URI] == SOURCE
