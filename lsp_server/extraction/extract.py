"""Find what an edit request is about: the instruction, the target lines, the context.

Positions are 0-based ``(line, character)`` with ``character`` in code points;
lines are split on ``\\n`` only (a ``\\r`` before it stays part of the line), the
same rows tree-sitter counts. Targets are whole lines ``[start, end)``.

Cost: :func:`extract` is called on every cursor move by code actions, on files of
thousands of lines, so it never walks the whole tree: the tree document walks *up*
from the node at a point (:mod:`.tree_document`), comments are looked up line by
line (:mod:`.source_lines`) and imports are scanned only among the top-level nodes
before the target (:mod:`.context`). Pass ``lines=text.split("\\n")`` when you
already have them to skip the split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .comments import DEFAULT_PREFIXES, GUESSED_BLOCK_COMMENTS, GUESSED_LINE_COMMENTS
from .context import build_context
from .languages import LanguageSpec
from .line_document import LineDocument
from .source_lines import SourceLines
from .spans import Found, Position, Target
from .targets import clamp_position, find_for_cursor, find_for_selection
from .tree_document import TreeDocument

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Tree

__all__ = ["Extraction", "extract", "find_instruction_fast", "split_lines"]

_default_count: Callable[[str], int] = lambda s: len(s) // 4 + 1  # noqa: E731


@dataclass
class Extraction:
    """What an edit request is about. Lines are ``[start, end)``, 0-based."""

    language: LanguageSpec | None
    mode: Literal["edit", "generate"]
    instruction: str | None  # None: the caller must ask for one
    instruction_lines: tuple[int, int] | None  # the instruction comment's lines
    target_lines: tuple[int, int]  # generate: (n, n), insert before line n
    target_text: str  # the target lines with their line endings ("" for generate)
    indent: str  # leading whitespace of the target (generate: of the comment)
    context: str  # imports + enclosing class header + enclosing signature
    node_type: str | None  # tree-sitter type of the target, None if line-based


def split_lines(text: str) -> list[str]:
    """Split like tree-sitter rows: on ``\\n`` only, endings dropped (``\\r`` kept)."""
    return text.split("\n")


def extract(
    text: str,
    tree: Tree | None,
    spec: LanguageSpec | None,
    start: Position,
    end: Position,
    *,
    instruction: str | None = None,
    prefixes: Sequence[str] = DEFAULT_PREFIXES,
    context_budget_tokens: int = 512,
    count_tokens: Callable[[str], int] = _default_count,
    lines: Sequence[str] | None = None,
) -> Extraction | None:
    """Work out the instruction, target lines and context for an edit request.

    * Selection (``start != end``): the selected lines (an end at column 0
      excludes its line). The instruction is *instruction*, else a prefixed
      comment on the selection's first line(s) (then not part of the target) or
      directly above it. A selection of only a comment means generate.
    * Cursor: an instruction comment on the cursor line (or on the line right
      above a blank cursor line) targets the code right below it, or means
      *generate* when nothing follows at its level. Otherwise a prefixed comment
      above an enclosing definition/block/statement applies; otherwise the
      enclosing definition (then block, then statement) with instruction None.
    * A given *instruction* replaces the comment's; with no target at all it means
      generate at the cursor line.
    * Without a tree (or language) the rules are applied to lines: comment
      markers guessed, targets are paragraphs that follow indentation.

    Returns None when there is nothing to act on. *lines* may be passed as
    ``text.split("\\n")`` to save the split on every call.
    """
    parts: Sequence[str] = lines if lines is not None else split_lines(text)
    if not parts:
        parts = [""]
    doc: SourceLines
    if tree is not None and spec is not None:
        doc = TreeDocument(parts, tree, spec)
    elif spec is not None:
        doc = LineDocument(parts, spec.line_comments, spec.block_comments)
    else:
        doc = LineDocument(parts, GUESSED_LINE_COMMENTS, GUESSED_BLOCK_COMMENTS)

    (srow, scol), (erow, ecol) = sorted((clamp_position(doc, start), clamp_position(doc, end)))
    found: Found | None
    if (srow, scol) != (erow, ecol):
        last = erow if ecol > 0 or erow == srow else erow - 1
        found = find_for_selection(doc, srow, last + 1, prefixes)
    else:
        found = find_for_cursor(doc, srow, prefixes)

    if found is None:
        if instruction is None:
            return None
        found = Found("generate", None, Target(srow, srow, None, None))

    target = found.target
    instr = found.instruction
    if found.mode == "generate":
        indent_row = instr.lines[0] if instr is not None else srow
        indent = doc.indent(min(indent_row, doc.n - 1))
        target_text = ""
    else:
        first = next((r for r in range(target.start, target.end) if not doc.blank(r)), target.start)
        indent = doc.indent(first)
        target_text = doc.text(target.start, target.end)

    context = ""
    if context_budget_tokens > 0 and isinstance(doc, TreeDocument):
        context = build_context(doc, found, context_budget_tokens, count_tokens)

    return Extraction(
        language=spec,
        mode=found.mode,
        instruction=instruction if instruction is not None else (instr.text if instr else None),
        instruction_lines=instr.lines if instr is not None else None,
        target_lines=(target.start, target.end),
        target_text=target_text,
        indent=indent,
        context=context,
        node_type=target.node_type,
    )


def find_instruction_fast(
    text: str,
    tree: Tree | None,
    spec: LanguageSpec | None,
    position: Position,
    *,
    prefixes: Sequence[str] = DEFAULT_PREFIXES,
    lines: Sequence[str] | None = None,
) -> Extraction | None:
    """:func:`extract` for a cursor without the context (code actions on cursor moves)."""
    return extract(
        text,
        tree,
        spec,
        position,
        position,
        prefixes=prefixes,
        context_budget_tokens=0,
        lines=lines,
    )
