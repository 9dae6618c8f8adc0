"""textDocument/codeAction: instant. Finds the instruction with tree-sitter and offers
commands; the model only runs when one is executed (VS Code drops slow providers).

Diagnostics in the request's context (from the editor's other tools) are offered as quick
fixes, `StarCoder: fix "<message>"`, each an edit job built by `diagnostic_fix`. Each
distinct action is offered once: a comment instruction equal to a preset is not repeated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server.extraction.diagnostic_fix import Problem, fix_for
from lsp_server.extraction.extract import extract
from lsp_server.protocol import CMD_EDIT, CMD_EXPLAIN, CMD_GENERATE

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer

log = logging.getLogger(__name__)

KIND_EDIT = types.CodeActionKind.RefactorRewrite
KIND_EXPLAIN = types.CodeActionKind.Refactor
KIND_FIX = types.CodeActionKind.QuickFix
# Quick fixes offered at one place at most: a line with a dozen warnings is not a menu.
MAX_FIXES = 3

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
        types.CodeActionOptions(code_action_kinds=[KIND_FIX, KIND_EDIT, KIND_EXPLAIN],
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
    only = [_kind_name(kind) for kind in params.context.only or []]
    encoding = ls.encoding
    rng = params.range
    start = doc.client_to_points(rng.start.line, rng.start.character, encoding)
    end = doc.client_to_points(rng.end.line, rng.end.character, encoding)
    with doc.lock:
        text, tree, spec = doc.text, doc.tree, doc.spec
    lines = text.split("\n")
    actions: list[types.CodeAction] = []
    if _wanted(KIND_FIX, only):
        for diagnostic in _fixable(params.context.diagnostics)[:MAX_FIXES]:
            problem = Problem(diagnostic.message, diagnostic.range.start.line,
                              diagnostic.range.end.line, diagnostic.source, diagnostic.code)
            fix = fix_for(text, tree, spec, problem, prefixes=ls.settings.instruction_prefixes,
                          lines=lines)
            arg = {"uri": uri, "range": _lines_range(fix.target_lines),
                   "instruction": fix.instruction}
            action = _action(f"StarCoder: {fix.title}", CMD_EDIT, arg, KIND_FIX)
            action.diagnostics = [diagnostic]
            actions.append(action)
    if not _wanted(KIND_EDIT, only) and not _wanted(KIND_EXPLAIN, only):
        return actions
    found = extract(text, tree, spec, start, end, prefixes=ls.settings.instruction_prefixes,
                    context_budget_tokens=0, lines=lines)
    if found is None:
        return actions
    arg = {"uri": uri, "range": {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character}}}
    offered: list[types.CodeAction] = []
    if found.instruction and found.mode == "generate":
        offered.append(_action("StarCoder: generate code", CMD_GENERATE,
                               {**arg, "instruction": found.instruction}, KIND_EDIT, True))
    elif found.instruction:
        offered.append(_action(f"StarCoder: {_short(found.instruction)}", CMD_EDIT,
                               {**arg, "instruction": found.instruction}, KIND_EDIT, True))
    if found.target_text.strip():
        language = spec.id if spec else None
        for title, instruction, languages in PRESETS:
            if languages is None or language in languages:
                if found.instruction and _same(found.instruction, title, instruction):
                    continue  # the comment asks for this preset: offered once, as the comment
                offered.append(_action(f"StarCoder: {title}", CMD_EDIT,
                                       {**arg, "instruction": instruction}, KIND_EDIT))
        offered.append(_action("StarCoder: explain", CMD_EXPLAIN, arg, KIND_EXPLAIN))
    for action in _once(offered):
        if _wanted(action.kind or KIND_EDIT, only):
            actions.append(action)
    return actions


def _wanted(kind: types.CodeActionKind | str, only: list[str]) -> bool:
    """Whether the client's `only` filter (kinds and their parents) lets `kind` through."""
    name = _kind_name(kind)
    return not only or any(o == "" or name == o or name.startswith(o + ".") for o in only)


def _kind_name(kind: types.CodeActionKind | str) -> str:
    """"quickfix", "refactor.rewrite": the kind as sent on the wire."""
    return str(getattr(kind, "value", kind))


def _fixable(diagnostics: Sequence[types.Diagnostic]) -> list[types.Diagnostic]:
    """The diagnostics worth a fix, each message once: hints (faded unused code and the
    like) are not problems to fix."""
    seen: set[tuple[str, int]] = set()
    out: list[types.Diagnostic] = []
    for diagnostic in diagnostics or []:
        if diagnostic.severity == types.DiagnosticSeverity.Hint or not diagnostic.message.strip():
            continue
        key = (diagnostic.message.strip(), diagnostic.range.start.line)
        if key not in seen:
            seen.add(key)
            out.append(diagnostic)
    return out


def _lines_range(lines: tuple[int, int]) -> dict[str, Any]:
    start, end = lines
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}


def _normal(text: str) -> str:
    """An instruction as compared for sameness: case, spacing and end punctuation aside."""
    words = re.sub(r"[.!:;]+$", "", " ".join(text.lower().split()))
    return re.sub(r"^please\s+", "", words)


def _same(instruction: str, *names: str) -> bool:
    wanted = _normal(instruction)
    return any(_normal(name) == wanted for name in names)


def _once(actions: list[types.CodeAction]) -> list[types.CodeAction]:
    """Each distinct title once, the first kept (the comment's own comes first)."""
    seen: set[str] = set()
    out: list[types.CodeAction] = []
    for action in actions:
        key = _normal(action.title)
        if key not in seen:
            seen.add(key)
            out.append(action)
    return out


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _action(title: str, command: str, arg: dict[str, Any], kind: types.CodeActionKind,
            preferred: bool = False) -> types.CodeAction:
    return types.CodeAction(
        title=title, kind=kind, is_preferred=preferred or None,
        command=types.Command(title=title, command=command, arguments=[arg]),
    )
