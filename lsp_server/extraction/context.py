"""Context for a target: imports, enclosing class headers and the enclosing signature,
trimmed to a token budget (furthest from the target dropped first).

Cost: imports are scanned only among the top-level nodes before the target,
stopping after a run of non-imports (:data:`_IMPORT_SCAN_GAP`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from .spans import Found, Target, last_row
from .tree_document import BODY_TYPES

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Node

    from .tree_document import TreeDocument

# Children skipped when finding where a class/function header starts.
_HEADER_SKIP = frozenset(
    {
        "decorator",
        "attribute_list",
        "attribute_item",
        "attribute",
        "marker_annotation",
        "annotation",
        "comment",
        "line_comment",
        "block_comment",
    }
)
_IMPORT_SCAN_GAP = 40  # stop looking for imports after this many top-level non-imports
_IMPORT_SCAN_MAX = 300  # ... or after this many top-level nodes (comments included)


@lru_cache(maxsize=64)
def _import_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _context_items(
    doc: TreeDocument, target: Target, anchor: Node | None, generate_at: tuple[int, int] | None
) -> list[tuple[int, int]]:
    """Row ranges of imports, enclosing class headers and the enclosing signature.

    *generate_at* is ``(comment row, comment indent width)`` in generate mode:
    enclosing scopes must hold the comment and be indented less than it.
    """
    start = target.start
    inner_row = generate_at[0] if generate_at else max(start, target.end - 1)
    items: list[tuple[int, int]] = []
    spec = doc.spec
    pattern = _import_re(spec.import_pattern) if spec.import_pattern else None
    gap = 0

    def is_import(child: Node) -> bool:
        if child.type in spec.import_node_types:
            return True
        return bool(pattern and pattern.match(doc.parts[child.start_point[0]]))

    cursor = doc.root.walk()
    visited = 0
    if cursor.goto_first_child():
        while gap < _IMPORT_SCAN_GAP and visited < _IMPORT_SCAN_MAX:
            visited += 1
            child = cursor.node
            if child is not None and child.is_named:
                first = int(child.start_point[0])
                if first >= start:
                    break
                last = last_row(child)
                if is_import(child):
                    if last < start:
                        items.append((first, last + 1))
                    gap = 0
                elif child.type in spec.import_container_types:
                    for inner in child.named_children:
                        if inner.start_point[0] < start and is_import(inner):
                            items.append((int(inner.start_point[0]), last_row(inner) + 1))
                elif child.type not in spec.comment_node_types:
                    gap += 1
            if not cursor.goto_next_sibling():
                break

    node = anchor
    seen_function = False
    while node is not None and node != doc.root:
        kind = node.type
        is_class = kind in spec.class_node_types
        is_function = (
            not is_class
            and kind in spec.definition_node_types
            and kind not in spec.wrapper_node_types
        )
        if (is_class or (is_function and not seen_function)) and node.start_point[0] < start:
            header = _header_rows(doc, node)
            contains = last_row(node) >= inner_row
            indented = generate_at is None or doc.width(header[0]) < generate_at[1]
            if header[0] < start and contains and indented:
                items.append((header[0], min(header[1], start)))
                seen_function = seen_function or is_function
        node = node.parent
    items.sort()
    return items


def _header_rows(doc: TreeDocument, node: Node) -> tuple[int, int]:
    """Rows of a class/function header: from its keyword line through the ``{``
    line (or up to the first body line for indentation-based languages)."""
    first = int(node.start_point[0])
    for child in node.children:
        if child.type in _HEADER_SKIP or child.type in doc.spec.comment_node_types:
            continue
        if child.type == "modifiers":
            for inner in child.children:
                if inner.type not in _HEADER_SKIP:
                    first = int(inner.start_point[0])
                    break
            else:
                continue
        else:
            first = int(child.start_point[0])
        break
    body = node.child_by_field_name("body")
    if body is None:
        for child in node.named_children:
            if child.type in BODY_TYPES:
                body = child
                break
    if body is None:
        return first, first + 1
    brow, bcol = body.start_point
    if doc.parts[brow].encode("utf-8")[bcol : bcol + 1] == b"{":
        return first, max(brow + 1, first + 1)
    # No brace: the header ends with the last non-comment child before the body.
    last = first
    for child in node.children:
        if child.start_byte >= body.start_byte:
            break
        if child.type not in doc.spec.comment_node_types:
            last = max(last, last_row(child))
    return first, last + 1


def build_context(
    doc: TreeDocument, found: Found, budget: int, count_tokens: Callable[[str], int]
) -> str:
    """The context text for *found*, within *budget* tokens."""
    target = found.target
    generate_at: tuple[int, int] | None = None
    if target.node is not None:
        anchor = target.node.parent
    elif found.mode == "generate" and found.instruction is not None:
        first = found.instruction.lines[0]
        anchor = doc.anchor_for(first, first + 1)
        generate_at = (first, doc.width(first))
    else:
        anchor = doc.anchor_for(target.start, max(target.end, target.start + 1))
    items = _context_items(doc, target, anchor, generate_at)
    if not items:
        return ""
    texts = [doc.text(a, b) for a, b in items]
    costs = [count_tokens(t) for t in texts]
    keep = [True] * len(items)
    total = sum(costs)
    # Furthest from the target first.
    for index in sorted(range(len(items)), key=lambda i: target.start - items[i][1], reverse=True):
        if total <= budget:
            break
        keep[index] = False
        total -= costs[index]
    return "".join(
        t if t.endswith("\n") else t + "\n" for t, k in zip(texts, keep, strict=True) if k
    )
