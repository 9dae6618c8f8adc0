"""textDocument/codeAction: instant. Finds the instruction with tree-sitter and offers
commands; the model only runs when one is executed (VS Code drops slow providers)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server.extraction.extract import extract
from lsp_server.protocol import CMD_EDIT, CMD_EXPLAIN, CMD_GENERATE

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer

log = logging.getLogger(__name__)

KIND_EDIT = types.CodeActionKind.RefactorRewrite
KIND_EXPLAIN = types.CodeActionKind.Refactor

# Ready-made instructions offered on any target; (title, instruction, languages or None).
PRESETS: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    ("add a docstring", "Add a docstring (or the language's documentation comment) that "
     "explains what this code does, its parameters and its return value.", None),
    ("add type hints", "Add type hints / type annotations to this code without changing "
     "its behaviour.", frozenset({"python", "typescript", "tsx", "php"})),
    ("fix bugs", "Find and fix the bugs in this code; keep its interface.", None),
    ("add error handling", "Add error handling for invalid input and failures.", None),
)


def register(server: StarcoderServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[KIND_EDIT, KIND_EXPLAIN],
                                resolve_provider=False),
    )
    def code_action(ls: StarcoderServer,
                    params: types.CodeActionParams) -> list[types.CodeAction] | None:
        try:
            return actions_for(ls, params)
        except Exception:  # a code action must never fail loudly (menus call it constantly)
            log.exception("code action failed")
            return None


def actions_for(ls: StarcoderServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    doc = ls.documents.get(uri)
    if doc is None:
        return []
    only = params.context.only
    if only and not any(str(k) in ("", "refactor") or str(k).startswith("refactor") for k in only):
        return []
    encoding = ls.encoding
    rng = params.range
    start = doc.client_to_points(rng.start.line, rng.start.character, encoding)
    end = doc.client_to_points(rng.end.line, rng.end.character, encoding)
    with doc.lock:
        text, tree, spec = doc.text, doc.tree, doc.spec
    found = extract(text, tree, spec, start, end,
                    prefixes=ls.settings.instruction_prefixes,
                    context_budget_tokens=0)
    if found is None:
        return []
    arg: dict[str, Any] = {"uri": uri, "range": {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character}}}
    actions: list[types.CodeAction] = []
    if found.instruction and found.mode == "generate":
        actions.append(_action("StarCoder: generate code", CMD_GENERATE,
                               {**arg, "instruction": found.instruction}, KIND_EDIT, True))
    elif found.instruction:
        actions.append(_action(f"StarCoder: {_short(found.instruction)}", CMD_EDIT,
                               {**arg, "instruction": found.instruction}, KIND_EDIT, True))
    if found.target_text.strip():
        language = spec.id if spec else None
        for title, instruction, languages in PRESETS:
            if languages is None or language in languages:
                actions.append(_action(f"StarCoder: {title}", CMD_EDIT,
                                       {**arg, "instruction": instruction}, KIND_EDIT))
        actions.append(_action("StarCoder: explain", CMD_EXPLAIN, arg, KIND_EXPLAIN))
    return actions


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _action(title: str, command: str, arg: dict[str, Any], kind: types.CodeActionKind,
            preferred: bool = False) -> types.CodeAction:
    return types.CodeAction(
        title=title, kind=kind, is_preferred=preferred or None,
        command=types.Command(title=title, command=command, arguments=[arg]),
    )
