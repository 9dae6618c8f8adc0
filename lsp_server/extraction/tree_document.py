"""The document view over a tree-sitter tree: comments, targets, enclosing nodes.

Cost: never walks the whole tree. It asks tree-sitter for the node at a point
(``descendant_for_point_range``) and walks *up*.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .languages import LanguageSpec
from .source_lines import MAX_SCAN, SourceLines
from .spans import CodeBlock, Comment, Found, Target, core_type, last_row

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Node, Tree

# Nodes that hold a sequence of statements/members. Lifting never climbs into
# them and their children count as statements.
BODY_TYPES = frozenset(
    {
        "module",
        "program",
        "source_file",
        "translation_unit",
        "compilation_unit",
        "chunk",
        "block",
        "statement_block",
        "compound_statement",
        "declaration_list",
        "field_declaration_list",
        "class_body",
        "interface_body",
        "enum_body",
        "enum_body_declarations",
        "enum_variant_list",
        "object_type",
        "body_statement",
        "statement_list",
        "switch_body",
        "switch_block",
        "then",
        "else",
        "do",
        "do_block",
        "ERROR",
    }
)


class TreeDocument(SourceLines):
    """Comments and targets from a tree-sitter tree."""

    def __init__(self, parts: Sequence[str], tree: Tree, spec: LanguageSpec) -> None:
        super().__init__(parts, spec.line_comments, spec.block_comments)
        self.spec = spec
        self.root = tree.root_node

    def bcol(self, row: int, col: int) -> int:
        line = self.parts[row]
        return col if line.isascii() else len(line[:col].encode("utf-8"))

    def line_point(self, row: int) -> tuple[int, int]:
        """The first non-blank character of *row* as a tree-sitter point."""
        line = self.parts[row]
        return (row, self.bcol(row, len(line) - len(line.lstrip())))

    def starts_line(self, node: Node) -> bool:
        row, col = node.start_point
        return (row, col) == self.line_point(row)

    def _comment_at(self, row: int) -> Comment | None:
        if self.blank(row):
            return None
        point = self.line_point(row)
        node = self.root.descendant_for_point_range(point, point)
        types = self.spec.comment_node_types
        for _ in range(4):
            if node is None or node.type in types:
                break
            node = node.parent
        if node is None or node.type not in types:
            return None
        (srow, scol), (erow, ecol) = node.start_point, node.end_point
        if srow == row:
            if scol != point[1]:
                return None  # code before the comment on this line
        elif self.parts[srow].encode("utf-8")[:scol].strip():
            return None
        last = last_row(node)
        if last == erow and self.parts[erow].encode("utf-8")[ecol:].strip():
            return None  # code after the comment on its last line
        style = self._style(srow, last > srow)
        return Comment(srow, last, style, self.width(srow))

    def node_at_line(self, row: int) -> Node | None:
        """The largest node that starts at the first non-blank character of *row*."""
        point = self.line_point(row)
        node = self.root.descendant_for_point_range(point, point)
        if node is None or node == self.root:
            return None
        start = node.start_point
        while True:
            parent = node.parent
            if (
                parent is None
                or parent == self.root
                or parent.type in BODY_TYPES
                or parent.start_point != start
            ):
                return node
            node = parent

    def block_at(self, row: int) -> CodeBlock | None:
        node = self.node_at_line(row)
        if node is None:
            return None
        return CodeBlock(
            node.start_point[0],
            last_row(node),
            node.is_named,
            node.type in self.spec.attachment_node_types,
            node,
        )

    # -- cursor (no comment on the cursor line)
    def definition_node(self, node: Node) -> Node | None:
        spec = self.spec
        kind = node.type
        if kind in spec.definition_node_types:
            if kind in spec.body_required_types and node.child_by_field_name("body") is None:
                return None
            return node
        if kind in spec.lambda_node_types:
            parent = node.parent
            for _ in range(3):
                if parent is None or parent.type in BODY_TYPES:
                    return None
                if parent.type in spec.binding_node_types:
                    return parent
                parent = parent.parent
        return None

    def lift(self, node: Node) -> Node:
        """Widen *node* to wrappers and to parents spanning exactly the same lines."""
        spec = self.spec
        while True:
            parent = node.parent
            if parent is None or parent == self.root or parent.type in BODY_TYPES:
                return node
            if parent.type in spec.wrapper_node_types:
                node = parent
                continue
            if parent.type in spec.definition_node_types or parent.type in spec.class_node_types:
                return node
            if parent.start_point[0] == node.start_point[0] and last_row(parent) == last_row(node):
                node = parent
                continue
            return node

    def attachment_top(self, node: Node) -> int:
        """First row of *node* including attached sibling decorators/attributes above it."""
        top = int(node.start_point[0])
        if not self.spec.attachment_node_types:
            return top
        while top > 0 and not self.blank(top - 1) and self.comment_at(top - 1) is None:
            above = self.node_at_line(top - 1)
            if (
                above is None
                or above.type not in self.spec.attachment_node_types
                or last_row(above) != top - 1
            ):
                break
            top = int(above.start_point[0])
        return top

    def from_cursor(self, row: int, prefixes: Sequence[str]) -> Found | None:
        """Instruction above an enclosing node, else the enclosing definition."""
        point = self.line_point(row) if not self.blank(row) else (row, 0)
        if self.spec.attachment_node_types and not self.blank(row):
            point = self._past_attachments(row, point)
        node = self.root.named_descendant_for_point_range(point, point)
        best: dict[str, Target] = {}
        while node is not None and node != self.root:
            kind = node.type
            definition = self.definition_node(node)
            parent = node.parent
            if definition is not None:
                role = "def"
            elif kind in self.spec.block_node_types:
                role = "block"
            elif parent is not None and (parent == self.root or parent.type in BODY_TYPES):
                role = "stmt"
            else:
                role = ""
            if role and kind != "ERROR" and kind not in self.spec.comment_node_types:
                lifted = self.lift(definition or node)
                if self.starts_line(lifted):
                    top = self.attachment_top(lifted)
                    found = self.instruction_above(top, row, prefixes)
                    if found is not None:
                        return found
                    if role not in best:
                        target = Target(top, last_row(lifted) + 1, lifted, core_type(lifted))
                        best[role] = target
                node = lifted.parent
                continue
            node = parent
        for role in ("def", "block", "stmt"):
            if role in best:
                return Found("edit", None, best[role])
        return None

    def _past_attachments(self, row: int, point: tuple[int, int]) -> tuple[int, int]:
        """On a decorator/attribute line, point at the definition it belongs to."""
        for _ in range(MAX_SCAN):
            line_node = self.node_at_line(row)
            if line_node is None or line_node.type not in self.spec.attachment_node_types:
                return point
            nxt = self.next_nonblank(last_row(line_node) + 1)
            if nxt is None or self.comment_at(nxt) is not None:
                return point
            row = nxt
            point = self.line_point(row)
        return point

    # -- context
    def anchor_for(self, start: int, end: int) -> Node | None:
        """Smallest named node spanning lines ``[start, end)``."""
        last = max(start, end - 1)
        first_point = self.line_point(start) if not self.blank(start) else (start, 0)
        end_point = (last, len(self.parts[last].rstrip().encode("utf-8")))
        return self.root.named_descendant_for_point_range(first_point, end_point)
