"""Diagnostics are instructions: what a quick fix for a reported problem edits and asks.

A diagnostic from the editor's other tools (a compiler, a linter, a type checker) says
what is wrong and where. The fix is an ordinary edit job: its instruction is built from
the diagnostic (message, source, code, the line it points at), and its target widens from
the reported range to the enclosing statement or function, since the cause of a problem
is rarely confined to the characters the tool underlined. Pure and instant: code actions
call it on every cursor move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsp_server.prompts import templates as t

from .comments import DEFAULT_PREFIXES
from .extract import extract, split_lines
from .languages import LanguageSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Tree

# Longest message shown in an action's title, in characters; the instruction has it whole.
TITLE_MESSAGE_MAX = 60
# Longest source line quoted in the instruction.
LINE_QUOTE_MAX = 120


@dataclass(frozen=True)
class Problem:
    """One diagnostic: its message and where it points (0-based lines, end inclusive)."""

    message: str
    line: int
    end_line: int
    source: str | None = None
    code: str | int | None = None


@dataclass(frozen=True)
class Fix:
    """What a quick fix does: its title, the instruction, the lines it rewrites [start, end)."""

    title: str
    instruction: str
    target_lines: tuple[int, int]


def fix_title(problem: Problem) -> str:
    """`fix "<message>"`, the message on one line and shortened for a menu."""
    return t.FIX_DIAGNOSTIC_TITLE.format(message=_one_line(problem.message, TITLE_MESSAGE_MAX))


def fix_instruction(problem: Problem, line_text: str | None = None) -> str:
    """The instruction for the model: the message, who reported it, and the line."""
    origin = t.FIX_DIAGNOSTIC_ORIGIN.format(source=problem.source) if problem.source else ""
    if problem.code not in (None, ""):
        origin += t.FIX_DIAGNOSTIC_CODE.format(code=problem.code)
    quoted = _one_line(line_text or "", LINE_QUOTE_MAX).replace("`", "'")
    where = t.FIX_DIAGNOSTIC_WHERE.format(line=quoted) if quoted else ""
    message = " ".join(problem.message.split())
    return t.FIX_DIAGNOSTIC_INSTRUCTION.format(origin=origin, message=message, where=where)


def fix_for(
    text: str,
    tree: Tree | None,
    spec: LanguageSpec | None,
    problem: Problem,
    *,
    prefixes: Sequence[str] = DEFAULT_PREFIXES,
    lines: Sequence[str] | None = None,
) -> Fix:
    """The quick fix for `problem` in `text`: the enclosing statement or function of the
    reported lines (with tree-sitter; else the paragraph), never less than those lines."""
    parts = lines if lines is not None else split_lines(text)
    last_row = max(len(parts) - 1, 0)
    first = min(max(problem.line, 0), last_row)
    last = min(max(problem.end_line, first), last_row)
    start, end = first, last + 1
    line = parts[first] if parts else ""
    column = len(line) - len(line.lstrip())
    found = extract(text, tree, spec, (first, column), (first, column), prefixes=prefixes,
                    context_budget_tokens=0, lines=parts)
    if found is not None and found.mode == "edit" and found.target_text.strip():
        start = min(start, found.target_lines[0])
        end = max(end, found.target_lines[1])
    return Fix(fix_title(problem), fix_instruction(problem, line.strip()), (start, end))


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
