"""Helpers for driving the real server with a real LSP client (pytest-lsp)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

REPO = Path(__file__).resolve().parent.parent


def utf16_offset(text: str, line: int, character: int) -> int:
    """Offset in `text` of an LSP (UTF-16) position."""
    lines = text.split("\n")
    offset = sum(len(part) + 1 for part in lines[:line])
    if line >= len(lines):
        return len(text)
    units = 0
    for index, char in enumerate(lines[line]):
        if units >= character:
            return offset + index
        units += 2 if ord(char) > 0xFFFF else 1
    return offset + len(lines[line])


def apply_text_edits(text: str, edits: list[Any]) -> str:
    """Apply LSP TextEdits (dicts or lsprotocol objects) the way an editor does."""
    spans = []
    for edit in edits:
        if isinstance(edit, dict):
            rng, new = edit["range"], edit["newText"]
            start = (rng["start"]["line"], rng["start"]["character"])
            end = (rng["end"]["line"], rng["end"]["character"])
        else:
            rng, new = edit.range, edit.new_text
            start = (rng.start.line, rng.start.character)
            end = (rng.end.line, rng.end.character)
        spans.append((utf16_offset(text, *start), utf16_offset(text, *end), new))
    for start_off, end_off, new in sorted(spans, reverse=True):
        text = text[:start_off] + new + text[end_off:]
    return text


class Editor:
    """A tiny editor model on top of the test client: holds documents and applies
    workspace/applyEdit like a real editor (checking versions)."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self.applied: list[Any] = []

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(_client: LanguageClient, params: types.ApplyWorkspaceEditParams):
            return self.apply_workspace_edit(params.edit)

    def apply_workspace_edit(self, edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
        for change in edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit)
            uri = change.text_document.uri
            if change.text_document.version != self.versions.get(uri):
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason="document version changed")
            self.applied.append(change)
            self.change(uri, edits=list(change.edits))
        return types.ApplyWorkspaceEditResult(applied=True)

    def open(self, uri: str, text: str, language_id: str = "python") -> None:
        self.texts[uri] = text
        self.versions[uri] = 1
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id,
                                                 version=1, text=text)))

    def change(self, uri: str, changes: list[Any] | None = None, *,
               edits: list[Any] | None = None) -> None:
        """Apply TextEdits locally and send them as incremental changes (in reverse
        document order so each range is valid when the server applies it)."""
        events = []
        for edit in sorted(edits or [], key=lambda e: (e.range.start.line,
                                                       e.range.start.character),
                           reverse=True):
            self.texts[uri] = apply_text_edits(self.texts[uri], [edit])
            events.append(types.TextDocumentContentChangePartial(range=edit.range,
                                                                 text=edit.new_text))
        events.extend(changes or [])
        self.versions[uri] += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri,
                                                                version=self.versions[uri]),
            content_changes=events))

    def type_at(self, uri: str, line: int, character: int, text: str) -> None:
        pos = types.Position(line=line, character=character)
        self.change(uri, edits=[types.TextEdit(range=types.Range(start=pos, end=pos),
                                               new_text=text)])


def fix_code_action_parsing(client: LanguageClient) -> None:
    """lsprotocol (2025.0.0) parses any CodeAction that carries a `command` as a Command
    (its union hook only checks that the key exists); tell them apart by the key's type,
    as editors do."""
    converter = client.protocol._converter

    def hook(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, hook)
    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


def server_command(model: Path | str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lsp_server", "--stdio", "--model", str(model), *extra]


@asynccontextmanager
async def running_server(
    model: Path | str, *extra: str, init_options: dict[str, Any] | None = None,
    client_name: str = "visual-studio-code",
) -> AsyncIterator[tuple[LanguageClient, Editor]]:
    client = make_test_lsp_client()
    fix_code_action_parsing(client)
    editor = Editor(client)
    await client.start_io(*server_command(model, *extra), cwd=str(REPO))
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(client_name),
        initialization_options=init_options or {},
        root_uri=REPO.as_uri(),
    ))
    try:
        yield client, editor
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 20)
        finally:
            await client.stop()


def progress_messages(client: LanguageClient, token: Any) -> list[Any]:
    return list(client.progress_reports.get(token, []))
