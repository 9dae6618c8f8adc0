"""The same end-to-end edit and explain, served by each backend: llama.cpp (GGUF),
transformers (the same weights in Hugging Face form, CPU) and an OpenAI-compatible
server (llama-cpp-python's, serving the GGUF). The server must behave identically
whichever backend answers; the model is random, so behaviour is asserted, not content.

The OpenAI server serves the model under the StarCoder2-Instruct preset's name, so the
backend uses /v1/completions with exactly the prompt the embedded backends get.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from lsprotocol import types

from tests.fixtures.examples import EDIT_SOURCE
from tests.fixtures.tiny_model import TinyModel
from tests.lsp_helpers import running_server

pytestmark = pytest.mark.timeout(180)

SOURCE = EDIT_SOURCE
URI = "file:///tmp/starcoder-backends-e2e/example.py"
INIT = {"maxTokens": 48}


def _server_args(name: str, request: pytest.FixtureRequest, tiny_model: TinyModel
                 ) -> list[str]:
    if name == "llama.cpp":
        return [str(tiny_model.gguf_path), "--backend", "llama.cpp"]
    if name == "transformers":
        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                pytest.skip(f"{module} is not installed (pip install 'starcoder-lsp[gpu]')")
        return [str(tiny_model.hf_dir), "--backend", "transformers"]
    server = request.getfixturevalue("llama_server")
    return [server.model, "--backend", "openai", "--endpoint", f"{server.url}/v1",
            "--n-ctx", str(server.n_ctx)]


@pytest.mark.parametrize("backend", ["llama.cpp", "transformers", "openai"])
async def test_edit_and_explain(backend: str, request: pytest.FixtureRequest,
                                tiny_model: TinyModel) -> None:
    model, *flags = _server_args(backend, request, tiny_model)
    async with running_server(model, *flags, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(start=types.Position(line=7, character=5),
                              end=types.Position(line=7, character=5)),
            context=types.CodeActionContext(diagnostics=[]),
        ))
        assert actions, "expected code actions at the instruction comment"
        action = actions[0]
        assert isinstance(action, types.CodeAction) and action.command is not None
        command = action.command
        assert command.command == "starcoder.edit"
        result: Any = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command.command, arguments=command.arguments))

        assert result["applied"] is True, result
        assert result["stats"]["backend"] == backend
        assert result["stats"]["completion_tokens"] > 0
        # Applied through workspace/applyEdit, at the version the editor had.
        assert len(editor.applied) == 1
        change = editor.applied[0]
        assert change.text_document.version == 1
        new_text = editor.texts[URI]
        assert new_text != SOURCE
        # Only the function's lines changed: the comment and the rest are untouched.
        assert new_text.split("\n")[:8] == SOURCE.split("\n")[:8]
        assert new_text.endswith("def also_keep():\n    return 2\n")
        assert all(edit.range.start.line >= 8 for edit in change.edits)
        assert result["range"]["start"]["line"] == 8
        assert result["text"].rstrip("\n") in new_text

        explained = await client.protocol.send_request_async("starcoder/explain", {
            "uri": URI, "range": {"start": {"line": 8, "character": 0},
                                  "end": {"line": 11, "character": 0}}})
        assert explained.kind == "markdown"
        assert isinstance(explained.value, str)
        assert len(editor.applied) == 1  # explaining changes nothing
