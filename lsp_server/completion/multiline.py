"""Whether a completion at the cursor may span several lines: decided before generation,
since it sets the stop strings and the token budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsp_server.completion.text_measures import (
    closers_only,
    imbalance,
    line_bounds,
    utf8_length,
)
from lsp_server.completion.tree_source import TreeSource, resolve_tree

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Node

    from lsp_server.extraction.languages import LanguageSpec

_OPENER_TOKENS = frozenset({"{", "(", "[", "do", "then", "else", "begin", "=>", "->"})


def _maybe_opener(stripped: str) -> bool:
    if stripped[-1:] in ("{", "(", "[", ":"):
        return True
    return stripped.endswith(("=>", "->")) or stripped.rsplit(None, 1)[-1] in (
        "do", "then", "else", "begin")


def is_multiline_position(text: str, offset: int, spec: LanguageSpec | None = None,
                          tree: TreeSource = None) -> bool:
    """Whether a completion here may span several lines.

    Several lines on a fresh line (only indentation before the cursor) or right after a
    block opener (`:` of a Python block, `{`, `(`, `[`, `do`, `then`…); one line in the
    middle of a statement, of a line with code after the cursor, or in a comment. With a
    tree, the token before the cursor decides (a `:` in a slice or a dict is no opener).
    """
    line_start, line_end = line_bounds(text, offset)
    before, rest = text[line_start:offset], text[offset:line_end]
    if rest.strip() and not closers_only(rest):
        return False
    if not before.strip():
        return True
    stripped = before.rstrip()
    if not _maybe_opener(stripped):
        return False
    if stripped.endswith(":") and imbalance(stripped) and "#" not in stripped:
        return False  # a `:` inside brackets: a slice, a dict entry, an annotation
    resolved = resolve_tree(tree) if spec is not None else None
    if resolved is not None and spec is not None:
        end = utf8_length(text[:line_start]) + utf8_length(stripped)
        try:
            node = resolved.root_node.descendant_for_byte_range(end - 1, end)
        except Exception:  # a stale tree: fall back to the text
            node = None
        if node is not None:
            return _opens_block(node, spec)
    last = stripped[-1]
    if last in "{([":
        return True
    return last == ":" and (spec is None or spec.id == "python")


def _opens_block(node: Node, spec: LanguageSpec) -> bool:
    kind = node.type
    probe: Node | None = node
    while probe is not None:  # inside a comment: complete the comment line only
        if probe.type in spec.comment_node_types:
            return False
        probe = probe.parent
    if kind in _OPENER_TOKENS:
        return True
    if kind == ":":
        parent = node.parent
        if parent is None:
            return False
        ptype = parent.type
        return (ptype == "ERROR" or ptype in spec.definition_node_types
                or ptype in spec.block_node_types or ptype in spec.class_node_types
                or ptype.endswith("_clause") or ptype.endswith("_statement"))
    return False
