"""Never lose text: many rounds of "start an edit, type at random places (inside and
outside the code being rewritten) while the model generates", through a real editor
model that applies workspace/applyEdit only at the version it was computed for.

Every round ends in one of two ways, and both are checked:

* applied: every keystroke the user typed is still in the document, unchanged, and the
  model's edit, moved back through the user's keystrokes, is exactly an edit of the
  target lines of the text the job started from (it was rebased, not misplaced);
* not applied (conflict, stale version, empty answer...): the document is exactly what
  the user typed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from lsprotocol import types

from tests.hardening.harness import FIGURES as figures
from tests.hardening.harness import LONG, add_figure, tiny_gguf
from tests.lsp_helpers import running_server

pytestmark = pytest.mark.timeout(1800)

URI = "file:///never-lose/example.py"
FUNCTIONS = [
    ("add type hints", "def add(a, b):\n    total = a + b\n    return total\n"),
    ("add a docstring", "def scale(values, k):\n    out = []\n    for v in values:\n"
                        "        out.append(v * k)\n    return out\n"),
    ("rename x to count", "def bump(x):\n    x += 1\n    return x\n"),
    ("handle errors", "def load(path):\n    with open(path) as f:\n        return f.read()\n"),
]


def _source() -> tuple[str, list[tuple[int, int, int]]]:
    """The document and, per function, (comment line, first target line, end line)."""
    parts, spans, line = ["import os\n\n\n"], [], 3
    for instruction, body in FUNCTIONS:
        parts.append(f"# starcoder: {instruction}\n{body}\n\n")
        size = body.count("\n")
        spans.append((line, line + 1, line + 1 + size))
        line += 1 + size + 2
    return "".join(parts), spans


SOURCE, SPANS = _source()
TYPED = ["x", "# note\n", "    pass\n", "\n", "zz", " ", "print(1)\n", "(", "'"]


def _offset(text: str, line: int, character: int) -> int:
    lines = text.split("\n")
    if line >= len(lines):
        return len(text)
    return sum(len(part) + 1 for part in lines[:line]) + min(character, len(lines[line]))


def _position(text: str, offset: int) -> types.Position:
    """LSP position (UTF-16 columns: the model's output may hold astral characters)."""
    before = text[:offset]
    line_text = before[before.rfind("\n") + 1:]
    column = sum(2 if ord(c) > 0xFFFF else 1 for c in line_text)
    return types.Position(line=before.count("\n"), character=column)


@dataclass
class Typed:
    start: int  # offset in the text it was typed into
    end: int
    text: str


def _type(editor: Any, rng: random.Random, inside: tuple[int, int] | None) -> Typed:
    """One keystroke-sized change at a random place (inside `inside` when given)."""
    text = editor.texts[URI]
    start = rng.randint(*inside) if inside is not None else rng.randint(0, len(text))
    end = start
    if rng.random() < 0.25 and start < len(text) and text[start] != "\n":
        end = start + 1  # a deletion or an overwrite of one character
    new = "" if end > start and rng.random() < 0.5 else rng.choice(TYPED)
    rng_lsp = types.Range(start=_position(text, start), end=_position(text, end))
    editor.change(URI, edits=[types.TextEdit(range=rng_lsp, new_text=new)])
    assert editor.texts[URI] == text[:start] + new + text[end:]
    return Typed(start, end, new)


def _reset(editor: Any) -> None:
    editor.texts[URI] = SOURCE
    editor.versions[URI] += 1
    editor.client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(
            uri=URI, version=editor.versions[URI]),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=SOURCE)]))


def _spans_after(typed: list[Typed]) -> list[tuple[int, int, str]]:
    """Where each typed text sits in the final user text (left out: deletions, and
    text the user later typed over themselves)."""
    spans: list[tuple[int, int, str]] = []
    for index, change in enumerate(typed):
        a, b = change.start, change.start + len(change.text)
        alive = bool(change.text)
        for later in typed[index + 1:]:
            delta = len(later.text) - (later.end - later.start)
            if later.end <= a:
                a, b = a + delta, b + delta
            elif later.start < b:
                alive = False
        if alive:
            spans.append((a, b, change.text))
    return spans


def _edit_spans(text: str, edits: list[Any]) -> list[tuple[int, int, str]]:
    return sorted((_offset(text, e.range.start.line, e.range.start.character),
                   _offset(text, e.range.end.line, e.range.end.character), e.new_text)
                  for e in edits)


def _unshift(spans: list[tuple[int, int, str]], typed: list[Typed]
             ) -> list[tuple[int, int, str]] | None:
    """Move edits on the final user text back to the text the job started from; None if
    an edit overlaps something the user typed."""
    moved = []
    for a, b, new in spans:
        for change in reversed(typed):
            end_new = change.start + len(change.text)
            delta = len(change.text) - (change.end - change.start)
            if b <= change.start:
                continue
            if a >= end_new:
                a, b = a - delta, b - delta
            else:
                return None
        moved.append((a, b, new))
    return moved


def _replay(text: str, edits: list[Any]) -> str:
    return _apply(text, _edit_spans(text, edits))


def _apply(text: str, spans: list[tuple[int, int, str]]) -> str:
    for a, b, new in sorted(spans, reverse=True):
        text = text[:a] + new + text[b:]
    return text


async def test_interleaved_typing_never_loses_a_keystroke() -> None:
    rounds = 1000 if LONG else 100
    rng = random.Random(20240611)
    outcomes: dict[str, int] = {}
    keystrokes = lost = 0
    async with running_server(tiny_gguf(), "--n-threads", "1",
                              init_options={"maxTokens": 120}) as (client, editor):
        editor.open(URI, SOURCE)
        await client.protocol.send_request_async("starcoder/loadModel", {})
        # The edit may be applied between two keystrokes: remember when, and the text
        # it was applied to.
        typed: list[Typed] = []
        applies: list[tuple[int, str]] = []
        apply_edit = editor.apply_workspace_edit

        def recording_apply(edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
            before = editor.texts[URI]
            answer = apply_edit(edit)
            if answer.applied:
                applies.append((len(typed), before))
            return answer

        editor.apply_workspace_edit = recording_apply  # type: ignore[method-assign]
        for _round in range(rounds):
            _reset(editor)
            comment, first, end = rng.choice(SPANS)
            token = f"nl-{uuid.uuid4().hex[:8]}"
            client.progress_reports.setdefault(token, [])
            applied_before = len(editor.applied)
            task = asyncio.ensure_future(client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="starcoder.edit", work_done_token=token,
                    arguments=[{"uri": URI, "range": {
                        "start": {"line": comment, "character": 2},
                        "end": {"line": comment, "character": 2}}}])))
            for _ in range(2000):  # progress begins after the server took its snapshot
                if client.progress_reports[token] or task.done():
                    break
                await asyncio.sleep(0.002)
            start_text = editor.texts[URI]
            target = (_offset(start_text, first, 0), _offset(start_text, end, 0))
            region = list(target)  # the target's place in the text as the user types
            typed.clear()
            applies.clear()
            for _ in range(rng.randint(1, 4)):
                await asyncio.sleep(rng.choice([0, 0, 0.002, 0.01, 0.03]))
                inside = rng.random() < 0.2  # in the code being rewritten
                change = _type(editor, rng, (region[0], region[1] - 1) if inside else None)
                typed.append(change)
                delta = len(change.text) - (change.end - change.start)
                if change.end <= region[0]:
                    region = [region[0] + delta, region[1] + delta]
                elif change.start < region[1]:
                    region[1] += delta
            user_text = editor.texts[URI]
            result = await asyncio.wait_for(task, 120)
            assert isinstance(result, dict), result
            keystrokes += len(typed)
            if not result.get("applied"):
                outcome = str(result.get("reason"))
                assert editor.texts[URI] == user_text, result
                assert len(editor.applied) == applied_before and not applies
            else:
                assert len(editor.applied) == applied_before + 1 and len(applies) == 1
                typed_before, user_text = applies[0]
                outcome = "applied (rebased)" if typed_before else "applied (no typing yet)"
                typed_after = typed[typed_before:]
                del typed[typed_before:]  # keystrokes after the edit are not its business
                final = _replay(user_text, list(editor.applied[-1].edits))
                edits = _edit_spans(user_text, list(editor.applied[-1].edits))
                # 1. every keystroke is still there, where the user put it
                for a, b, text in _spans_after(typed):
                    if any(ea < b and eb > a for ea, eb, _ in edits):
                        lost += 1  # an edit overlaps what the user typed
                        continue
                    shift = sum(len(new) - (eb - ea) for ea, eb, new in edits if eb <= a)
                    if final[a + shift:b + shift] != text:
                        lost += 1
                # 2. moved back through the keystrokes, it edits only the target lines
                original = _unshift(edits, typed)
                assert original is not None, "an applied edit overlaps the user's typing"
                for ea, eb, _new in original:
                    assert target[0] <= ea and eb <= target[1], (ea, eb, target)
                rewritten = _apply(start_text, original)
                assert rewritten[:target[0]] == start_text[:target[0]]
                assert rewritten.endswith(start_text[target[1]:])
                # 3. and the editor's text is that, plus what was typed afterwards
                for change in typed_after:
                    final = final[:change.start] + change.text + final[change.end:]
                assert final == editor.texts[URI]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    figures["never_lose_text.rounds"] = rounds
    figures["never_lose_text.keystrokes"] = keystrokes
    figures["never_lose_text.outcomes"] = dict(sorted(outcomes.items()))
    add_figure("never_lose_text.keystrokes_lost", lost)
    assert lost == 0
    assert outcomes.get("applied (rebased)", 0) > 0 and outcomes.get("conflict", 0) > 0


async def test_a_repeated_version_number_cannot_make_a_stale_edit_look_current() -> None:
    """Rebasing follows the server's own change counter, not the client's versions: a
    client that sends two changes with the same version (or goes backwards) still gets
    an edit moved past its typing; a document closed and reopened meanwhile gets none."""
    from tests.hardening.harness import InProcess
    from tests.hardening.test_faults import FakeBackend

    backend = FakeBackend(["def add(a: int, b: int) -> int:\n    total = a + b\n"
                           "    return total\n"], block=True)
    host = InProcess()
    await host.initialize()
    host.server.models._backend = backend
    comment = SPANS[0][0]
    at = {"start": {"line": comment, "character": 2}, "end": {"line": comment, "character": 2}}
    try:
        host.open(URI, SOURCE)
        task = asyncio.ensure_future(host.request("starcoder/edit", {"uri": URI, "range": at}))
        await asyncio.sleep(0.1)
        for _ in range(2):  # the same version twice, then an older one
            host.notify("textDocument/didChange", {
                "textDocument": {"uri": URI, "version": 1},
                "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                              "end": {"line": 0, "character": 0}},
                                    "text": "# typed\n"}]})
        backend.release.set()
        reply = await asyncio.wait_for(task, 10)
        edits = reply["result"]["edit"]["documentChanges"][0]["edits"]
        assert all(e["range"]["start"]["line"] >= SPANS[0][1] + 2 for e in edits), edits

        backend.release.clear()
        host.open(URI, SOURCE)
        task = asyncio.ensure_future(host.request("starcoder/edit", {"uri": URI, "range": at}))
        await asyncio.sleep(0.1)
        host.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
        host.open(URI, SOURCE)  # same version number (1) as the text the job started on
        backend.release.set()
        reply = await asyncio.wait_for(task, 10)
        assert "result" in reply and reply["result"].get("applied") is False
        assert "closed or reopened" in reply["result"]["message"]
    finally:
        backend.release.set()
        host.close()
