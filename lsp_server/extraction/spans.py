"""Row spans found in a document: comments, comment groups, instructions, targets.

Small frozen values passed between the documents (tree and line based), the target
rules and the context builder, kept apart so none of those imports another just
for a type. Rows are 0-based; ``last`` is inclusive, ``end`` exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Node

Position = tuple[int, int]


@dataclass(frozen=True)
class Comment:
    start: int
    last: int  # inclusive
    style: str  # "block" or the line marker (with doc variant: "///", "##")
    indent: int


@dataclass(frozen=True)
class CommentGroup:
    start: int
    last: int
    comments: tuple[Comment, ...]
    indent: int
    truncated: bool = False  # over source_lines._MAX_GROUP: a banner, not an instruction

    @property
    def is_block(self) -> bool:
        return self.comments[0].style == "block"


@dataclass(frozen=True)
class Instruction:
    text: str | None  # prefixed: words after the prefix; else the whole comment
    lines: tuple[int, int]
    prefixed: bool


@dataclass(frozen=True)
class CodeBlock:
    """A run of code lines found below a comment."""

    start: int
    last: int
    named: bool  # False: a closing token (``}``, ``end``): nothing to target
    attachment: bool  # decorator / attribute that belongs to what follows
    node: Node | None


@dataclass(frozen=True)
class Target:
    start: int
    end: int  # exclusive
    node: Node | None
    node_type: str | None


@dataclass(frozen=True)
class Found:
    """What the target rules chose: the mode, the instruction comment (if any), the target."""

    mode: Literal["edit", "generate"]
    instruction: Instruction | None
    target: Target


def indent_width(indent: str) -> int:
    return len(indent.expandtabs(4))


def last_row(node: Node) -> int:
    """Last row that holds part of *node* (an end at column 0 does not count)."""
    end = node.end_point
    if end[1] == 0 and end[0] > node.start_point[0]:
        return int(end[0]) - 1
    return int(end[0])


def line_marker_style(text: str, markers: Sequence[str]) -> str | None:
    for marker in markers:
        if text.startswith(marker):
            nxt = text[len(marker) : len(marker) + 1]
            return marker + nxt if nxt and (nxt == marker[-1] or nxt == "!") else marker
    return None


def core_type(node: Node) -> str:
    """The type worth reporting: the definition inside a wrapper (decorators, export)."""
    for _ in range(4):
        inner = (
            node.child_by_field_name("definition") or node.child_by_field_name("declaration")
            if node.type in ("decorated_definition", "export_statement", "template_declaration")
            else None
        )
        if node.type == "template_declaration" and inner is None and node.named_child_count:
            inner = node.named_child(node.named_child_count - 1)
        if inner is None:
            break
        node = inner
    return node.type
