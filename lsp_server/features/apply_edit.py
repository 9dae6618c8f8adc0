"""Sending an edit with workspace/applyEdit: versioned, and retried when the user typed.

The edit goes out as `documentChanges` for the document version it was rebased onto. A
client refuses it (`applied: false`) when that version is stale: the user typed between
our rebase and the edit's arrival (VS Code does this). A fast typist should not lose the
edit for that, so a refusal that follows new typing is rebased onto the newest text and
sent again, a few times, briefly; only typing that overlaps the target refuses the edit
for good (`pipeline.ConflictError`, with its message).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server import pipeline
from lsp_server.documents import Document
from lsp_server.edits.diff import TextEditSpec
from lsp_server.positions import from_code_points

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer

# Sends after the first when the client refused a stale version.
RETRIES = 3
# How long to wait, after a refusal, for the typing that made it stale to reach us.
TYPING_WAIT_S = 0.5
TYPING_POLL_S = 0.01


@dataclass
class Applied:
    """How a send went: applied or not, the client's reason, and how many sends it took."""

    applied: bool
    attempts: int
    edit: dict[str, Any]  # the WorkspaceEdit sent last
    reason: str | None = None


async def apply_with_retry(ls: StarcoderServer, doc: Document, outcome: pipeline.Outcome,
                           encoding: str, label: str) -> Applied:
    """Send `outcome`'s edits; after a refusal that follows new typing, rebase them onto
    the newest text and send again (up to RETRIES times). Raises ConflictError when the
    typing overlaps the target. `outcome` is updated to what was sent last."""
    attempts = 0
    while True:
        attempts += 1
        edit = workspace_edit(doc, outcome.edits, outcome.version, encoding)
        response = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            edit=ls.protocol._converter.structure(edit, types.WorkspaceEdit), label=label))
        if bool(getattr(response, "applied", False)):
            return Applied(True, attempts, edit)
        reason = getattr(response, "failure_reason", None) or "the editor refused the edit"
        if attempts > RETRIES or not await _typed_since(doc, outcome.revision):
            return Applied(False, attempts, edit, reason)
        pipeline.rebase_onto(doc, outcome)  # ConflictError when the typing overlaps


async def _typed_since(doc: Document, revision: int) -> bool:
    """Whether the document moved past `revision`, waiting briefly for the change that a
    stale-version refusal implies (it may arrive just after the refusal)."""
    deadline = time.monotonic() + TYPING_WAIT_S
    while True:
        with doc.lock:
            if doc.revision != revision:
                return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(TYPING_POLL_S)


def workspace_edit(doc: Document, edits: list[TextEditSpec], version: int, encoding: str,
                   lines: list[str] | None = None) -> dict[str, Any]:
    """A versioned WorkspaceEdit (documentChanges) in the client's position units; `lines`
    are the text's lines at `version` (default: the document's now)."""
    lines = doc.lines if lines is None else lines
    text_edits = [
        {"range": {"start": _client_pos(lines, e.start, encoding),
                   "end": _client_pos(lines, e.end, encoding)},
         "newText": e.new_text}
        for e in edits
    ]
    return {"documentChanges": [{"textDocument": {"uri": doc.uri, "version": version},
                                 "edits": text_edits}]}


def _client_pos(lines: list[str], point: tuple[int, int], encoding: str) -> dict[str, int]:
    line, char = point
    if line >= len(lines):
        return {"line": len(lines), "character": 0}
    return {"line": line, "character": from_code_points(lines[line], char, encoding)}
