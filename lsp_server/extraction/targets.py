"""The rules that choose mode, instruction and target from a cursor or a selection."""

from __future__ import annotations

from collections.abc import Sequence

from .source_lines import SourceLines
from .spans import CommentGroup, Found, Instruction, Position, Target
from .tree_document import TreeDocument


def clamp_position(doc: SourceLines, pos: Position) -> Position:
    """*pos* moved inside the document (a client position may be stale or past the end)."""
    row, col = pos
    if row < 0:
        return (0, 0)
    if row >= doc.n:
        return (doc.n - 1, len(doc.parts[-1]))
    return (row, max(0, min(col, len(doc.parts[row]))))


def _for_group(
    doc: SourceLines, group: CommentGroup, prefixes: Sequence[str]
) -> tuple[Found, bool]:
    """Result for a cursor on a comment group; the flag says it was decisive
    (an instruction or generate mode) rather than an ordinary comment."""
    instr = doc.instruction(group, prefixes)
    target = doc.resolve(group)
    if target is None:
        insert = group.last + 1
        return Found("generate", instr, Target(insert, insert, None, None)), True
    return Found("edit", instr if instr.prefixed else None, target), instr.prefixed


def find_for_selection(doc: SourceLines, start: int, end: int, prefixes: Sequence[str]) -> Found:
    """Rules for selected lines ``[start, end)`` (see :func:`extract`)."""
    group = doc.group_at(start)
    if group is not None:
        instr = doc.instruction(group, prefixes)
        body = group.last + 1
        rest_blank = all(doc.blank(r) for r in range(body, end))
        if body >= end or rest_blank:
            return Found("generate", instr, Target(body, body, None, None))
        if instr.prefixed:
            return Found("edit", instr, Target(body, end, None, None))
    found_instr: Instruction | None = None
    if start > 0:
        above = doc.group_at(start - 1)
        if above is not None and above.last == start - 1:
            instr = doc.instruction(above, prefixes)
            if instr.prefixed:
                found_instr = instr
    return Found("edit", found_instr, Target(start, end, None, None))


def find_for_cursor(doc: SourceLines, row: int, prefixes: Sequence[str]) -> Found | None:
    """Rules for a cursor on *row* (see :func:`extract`); None: nothing to act on."""
    group = doc.group_at(row)
    if group is None and row > 0 and doc.blank(row):
        above = doc.group_at(row - 1)
        if above is not None and above.last == row - 1:
            group = above
    ordinary: Found | None = None
    if group is not None and not group.truncated:
        found, decisive = _for_group(doc, group, prefixes)
        if decisive:
            return found
        outer = doc.instruction_above(group.start, row, prefixes)
        if outer is not None:  # a doc comment between an instruction and its code
            return outer
        ordinary = found
    result = doc.from_cursor(row, prefixes)
    if ordinary is not None:
        # An ordinary comment above a definition/block: that code, not the
        # enclosing scope, is what the user is pointing at.
        node = ordinary.target.node
        if result is None or not isinstance(doc, TreeDocument):
            return ordinary
        if node is not None and (
            doc.definition_node(node) is not None or node.type in doc.spec.block_node_types
        ):
            return ordinary
    return result
