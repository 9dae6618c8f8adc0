"""Fix this diagnostic, end to end: a real client sends textDocument/codeAction with the
diagnostics of another tool; the server offers `StarCoder: fix "<message>"` (quickfix)
at once, without the model, and executing it edits the enclosing function. Also: each
action is offered once."""

from __future__ import annotations

import time

import pytest
from lsprotocol import types

from tests.fixtures.examples import FIX_COLUMNS, FIX_LINE, FIX_MESSAGE, FIX_SOURCE, FIX_TARGET
from tests.lsp_helpers import running_server

pytestmark = pytest.mark.timeout(180)

URI = "file:///tmp/starcoder-e2e/fix.py"
SOURCE, MESSAGE = FIX_SOURCE, FIX_MESSAGE
DIAGNOSTIC = types.Diagnostic(
    range=types.Range(start=types.Position(line=FIX_LINE, character=FIX_COLUMNS[0]),
                      end=types.Position(line=FIX_LINE, character=FIX_COLUMNS[1])),
    message=MESSAGE, severity=types.DiagnosticSeverity.Error, source="Pyright",
    code="reportUndefinedVariable")
INIT = {"maxTokens": 40}


async def _actions(client, diagnostics, only=None) -> list[types.CodeAction]:
    return await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), range=DIAGNOSTIC.range,
        context=types.CodeActionContext(diagnostics=diagnostics, only=only))) or []


async def test_the_quick_fix_is_offered_at_once_and_edits_the_function(tiny_model) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        started = time.perf_counter()
        actions = await _actions(client, [DIAGNOSTIC])
        elapsed = time.perf_counter() - started
        fix = actions[0]
        assert fix.title == f'StarCoder: fix "{MESSAGE}"'
        assert fix.kind == types.CodeActionKind.QuickFix
        assert fix.diagnostics and fix.diagnostics[0].message == MESSAGE
        assert fix.command is not None and fix.command.command == "starcoder.edit"
        arg = fix.command.arguments[0]
        # Widened from the underlined word to the enclosing function.
        assert arg["range"] == {"start": {"line": FIX_TARGET[0], "character": 0},
                                "end": {"line": FIX_TARGET[1], "character": 0}}
        assert MESSAGE in arg["instruction"] and "Pyright" in arg["instruction"]
        assert "reportUndefinedVariable" in arg["instruction"]
        status = await client.protocol.send_request_async("starcoder/getStatus", {})
        assert status.state == "idle"  # instant: no model was loaded for the menu
        assert elapsed < 5
        # The client's kind filter is honoured both ways.
        only_fixes = await _actions(client, [DIAGNOSTIC], only=[types.CodeActionKind.QuickFix])
        assert [a.title for a in only_fixes] == [fix.title]
        refactors = await _actions(client, [DIAGNOSTIC], only=[types.CodeActionKind.Refactor])
        assert refactors and all(a.kind != types.CodeActionKind.QuickFix for a in refactors)
        # No diagnostics, no fix; a hint is not a problem to fix.
        hint = types.Diagnostic(range=DIAGNOSTIC.range, message="unused",
                                severity=types.DiagnosticSeverity.Hint)
        kinds = [a.kind for a in await _actions(client, [hint])]
        assert kinds and types.CodeActionKind.QuickFix not in kinds

        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=fix.command.command, arguments=fix.command.arguments))
        assert result["applied"] is True, result
        assert result["instruction"] == arg["instruction"]
        text = editor.texts[URI]
        assert text != SOURCE
        lines = text.split("\n")
        assert lines[:3] == SOURCE.split("\n")[:3]  # the code above is untouched
        assert text.endswith("def other():\n    return 1\n")
        for change in editor.applied:
            for edit in change.edits:
                assert FIX_TARGET[0] <= edit.range.start.line <= FIX_TARGET[1]


async def test_several_diagnostics_each_one_fix(tiny_model) -> None:
    other = types.Diagnostic(range=DIAGNOSTIC.range, message="Line too long (120 > 100)",
                             severity=types.DiagnosticSeverity.Warning, source="Ruff",
                             code="E501")
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        actions = await _actions(client, [DIAGNOSTIC, other, DIAGNOSTIC])
        fixes = [a.title for a in actions if a.kind == types.CodeActionKind.QuickFix]
        assert fixes == [f'StarCoder: fix "{MESSAGE}"',
                         'StarCoder: fix "Line too long (120 > 100)"']


async def test_each_action_once_the_comments_first(tiny_model) -> None:
    source = "# starcoder: add type hints\ndef add(a, b):\n    return a + b\n"
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, source)
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(start=types.Position(line=0, character=3),
                              end=types.Position(line=0, character=3)),
            context=types.CodeActionContext(diagnostics=[])))
        titles = [a.title for a in actions]
        assert titles[0] == "StarCoder: add type hints"
        assert titles.count("StarCoder: add type hints") == 1
        assert len(titles) == len(set(titles))
        # The one offered is the comment's own instruction, not the preset's wording.
        assert actions[0].command.arguments[0]["instruction"] == "add type hints"
        assert "StarCoder: add a docstring" in titles and "StarCoder: explain" in titles
