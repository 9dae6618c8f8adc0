"""A completion answer shaped for the client: an inline completion item, or for clients
without inline completion one completion item that survives filtering by the typed word."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from lsprotocol import types

from lsp_server.positions import from_code_points

if TYPE_CHECKING:
    from lsp_server.completion.service import Answer
    from lsp_server.server import StarcoderServer

_WORD_RE = re.compile(r"[\w$]*$")


def _client_edits_lines(ls: StarcoderServer) -> bool:
    """Whether the client's completion UI can insert several lines. Clients without
    snippet support (Neovim's omnifunc) insert an item's text as a Vim word, where a
    newline becomes a NUL: they get the first line only."""
    try:
        text_document = ls.client_capabilities.text_document
        item = text_document.completion.completion_item  # type: ignore[union-attr]
        return bool(item is not None and item.snippet_support)
    except Exception:
        return False


def _units(answer: Answer, ls: StarcoderServer, column: int) -> int:
    return from_code_points(answer.line_text, column, ls.encoding)


def inline_items(ls: StarcoderServer, answer: Answer | None,
                 position: types.Position) -> types.InlineCompletionList:
    if answer is None:
        return types.InlineCompletionList(items=[])
    rng = None
    if answer.replace_chars:
        end = _units(answer, ls, answer.column + answer.replace_chars)
        rng = types.Range(start=position,
                          end=types.Position(line=position.line, character=end))
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=answer.text, range=rng)])


def completion_items(ls: StarcoderServer, answer: Answer | None,
                     position: types.Position) -> types.CompletionList:
    """One item whose textEdit replaces the word before the cursor with that word plus
    the completion, so clients that filter by the typed word keep it (and Neovim's
    omnifunc, which replaces from the word start, inserts the right text)."""
    if answer is None:
        return types.CompletionList(is_incomplete=True, items=[])
    if "\n" in answer.text and not _client_edits_lines(ls):
        first_line = answer.text.split("\n", 1)[0]
        if not first_line.strip():
            return types.CompletionList(is_incomplete=True, items=[])
        answer = dataclasses.replace(answer, text=first_line)
    match = _WORD_RE.search(answer.line_text[:answer.column])
    word = match.group() if match else ""
    start = _units(answer, ls, answer.column - len(word))
    end = _units(answer, ls, answer.column + answer.replace_chars)
    first, _, more = answer.text.partition("\n")
    label = (word + first).strip() or answer.text.strip().split("\n", 1)[0]
    label = (label[:77] + "…") if len(label) > 80 else label
    documentation = None
    if more:
        label += " …"
        documentation = types.MarkupContent(
            kind=types.MarkupKind.Markdown,
            value=f"```{answer.language}\n{word + answer.text}\n```")
    item = types.CompletionItem(
        label=label, kind=types.CompletionItemKind.Snippet, detail="StarCoder",
        documentation=documentation, preselect=True, sort_text="0",
        filter_text=word + first, insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(
            range=types.Range(start=types.Position(line=position.line, character=start),
                              end=types.Position(line=position.line, character=end)),
            new_text=word + answer.text),
        data={"stats": {k: v for k, v in answer.stats.items() if k != "raw"}},
    )
    return types.CompletionList(is_incomplete=True, items=[item])
