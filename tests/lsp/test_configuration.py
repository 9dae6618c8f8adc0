"""Settings over LSP: initializationOptions, workspace/configuration (section
`starcoder`), didChangeConfiguration; a bad value warns and keeps the default."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from tests.lsp_helpers import running_server

pytestmark = pytest.mark.timeout(120)

URI = "file:///tmp/starcoder-config/example.py"
SOURCE = "# starcoder: add a docstring\ndef f(x):\n    return x\n"


async def _edit(client) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="starcoder.edit", arguments=[{"uri": URI, "range": {
            "start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 2}}}]))


async def test_bad_values_warn_and_configuration_applies_live(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path,
                              init_options={"maxTokens": "many", "temperature": 0}) as (
            client, editor):
        for _ in range(100):  # the warning arrives right after initialize
            if client.messages:
                break
            await asyncio.sleep(0.02)
        warnings = [m.message for m in client.messages]
        assert any("maxTokens" in m and "keeping" in m for m in warnings), warnings
        editor.open(URI, SOURCE)
        # The client's workspace/configuration answer is read on didChangeConfiguration.
        client.set_configuration({"maxTokens": 3}, section="starcoder")
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
        result = await _edit(client)
        assert result["stats"]["completion_tokens"] <= 3, result["stats"]
        # Settings pushed inside the notification apply too.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"starcoder": {"maxTokens": 6}}))
        await asyncio.sleep(0.3)
        editor.texts[URI] = editor.texts[URI]  # keep the editor's copy as is
        result = await _edit(client)
        assert 3 < result["stats"]["completion_tokens"] <= 6 or result["stats"][
            "stop_reason"] in ("eos", "stop"), result["stats"]
