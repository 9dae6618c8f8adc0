"""A refused workspace/applyEdit is retried, not dropped: a client that refuses the first
applyEdit because the user typed meanwhile (a stale version, as VS Code does) gets the
edit again, rebased onto the newest text; typing over the target still refuses it."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from tests.fixtures.examples import EDIT_SOURCE
from tests.lsp_helpers import running_server

pytestmark = pytest.mark.timeout(180)

URI = "file:///tmp/starcoder-e2e/retry.py"
INIT = {"maxTokens": 40}
STALE = types.ApplyWorkspaceEditResult(applied=False, failure_reason="document version changed")


def _edit_command():
    return types.ExecuteCommandParams(command="starcoder.edit", arguments=[{
        "uri": URI, "range": {"start": {"line": 7, "character": 3},
                              "end": {"line": 7, "character": 3}}}])


def _versions(sent: list[types.WorkspaceEdit]) -> list[int]:
    return [edit.document_changes[0].text_document.version for edit in sent]


async def _run_refused(client, editor, answer) -> tuple[dict, list[types.WorkspaceEdit]]:
    """Runs the edit command against a client whose applyEdit handler is `answer` (it may
    type first); the result and every WorkspaceEdit the server sent."""
    editor.open(URI, EDIT_SOURCE)
    sent: list[types.WorkspaceEdit] = []

    def handler(edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
        sent.append(edit)
        return answer(edit)

    editor.apply_workspace_edit = handler  # type: ignore[method-assign]
    return await client.workspace_execute_command_async(_edit_command()), sent


@pytest.mark.parametrize("typing_arrives", ["before the refusal", "after the refusal"])
async def test_a_stale_refusal_is_rebased_and_sent_again(tiny_model, typing_arrives) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        apply = editor.apply_workspace_edit
        calls = 0

        def refuse_the_first(edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
            nonlocal calls
            calls += 1
            if calls > 1:
                return apply(edit)
            # The user typed above the function while the edit was on its way.
            if typing_arrives == "before the refusal":
                editor.type_at(URI, 0, 0, "import sys\n")
            else:
                asyncio.get_running_loop().call_later(
                    0.1, editor.type_at, URI, 0, 0, "import sys\n")
            return STALE

        result, sent = await _run_refused(client, editor, refuse_the_first)
        assert result["applied"] is True, result
        assert result["attempts"] == 2
        assert _versions(sent) == [1, 2]  # sent again for the version with the typing
        text = editor.texts[URI]
        assert text.startswith("import sys\nimport os\n")  # the typing survived
        assert text.endswith("def also_keep():\n    return 2\n")
        assert result["text"].rstrip("\n") in text
        assert result["version"] == 2


async def test_typing_over_the_target_still_refuses_with_the_message(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        def type_inside(_edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
            editor.type_at(URI, 9, 0, "    # mine\n")  # inside the function being rewritten
            return STALE

        result, sent = await _run_refused(client, editor, type_inside)
        assert result["applied"] is False and result["reason"] == "conflict"
        assert len(sent) == 1
        assert "    # mine\n" in editor.texts[URI]
        assert any("not applied" in m.message for m in client.messages)


async def test_a_refusal_without_typing_is_not_retried(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        read_only = types.ApplyWorkspaceEditResult(applied=False, failure_reason="read-only")
        result, sent = await _run_refused(client, editor, lambda _edit: read_only)
        assert result["applied"] is False and result["reason"] == "refused"
        assert result["message"] == "read-only" and result["attempts"] == 1
        assert len(sent) == 1 and editor.texts[URI] == EDIT_SOURCE


async def test_a_client_that_keeps_refusing_gets_a_few_tries(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        def type_above(_edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
            editor.type_at(URI, 0, 0, "#\n")  # a typist faster than every retry
            return STALE

        result, sent = await _run_refused(client, editor, type_above)
        assert result["applied"] is False and result["reason"] == "refused"
        assert len(sent) == 4 and result["attempts"] == 4
        assert _versions(sent) == [1, 2, 3, 4]
        assert editor.texts[URI] == "#\n" * 4 + EDIT_SOURCE
