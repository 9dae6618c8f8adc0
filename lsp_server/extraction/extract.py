"""Find what an edit request is about: the instruction, the target lines, the context.

Positions are 0-based ``(line, character)`` with ``character`` in code points;
lines are split on ``\\n`` only (a ``\\r`` before it stays part of the line), the
same rows tree-sitter counts. Targets are whole lines ``[start, end)``.

Cost: :func:`extract` is called on every cursor move by code actions, on files of
thousands of lines, so it never walks the whole tree. It asks tree-sitter for the
node at a point (``descendant_for_point_range``) and walks *up*; comments are
looked up line by line (cached per call); imports are scanned only among the
top-level nodes before the target, stopping after a run of non-imports. Pass
``lines=text.split("\\n")`` when you already have them to skip the split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from .comments import (
    DEFAULT_PREFIXES,
    GUESSED_BLOCK_COMMENTS,
    GUESSED_LINE_COMMENTS,
    instruction_from_comment,
    join_instruction,
    match_prefix,
    strip_comment_markers,
    strip_line_marker,
)
from .languages import LanguageSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Node, Tree

__all__ = ["Extraction", "extract", "find_instruction_fast", "split_lines"]

Position = tuple[int, int]

# Nodes that hold a sequence of statements/members. Lifting never climbs into
# them and their children count as statements.
_BODY_TYPES = frozenset(
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
_CLOSER_RE = re.compile(r"^(?:[})\]]|(?:end|fi|done|esac)\b)")
_IMPORT_SCAN_GAP = 40  # stop looking for imports after this many top-level non-imports
_IMPORT_SCAN_MAX = 300  # ... or after this many top-level nodes (comments included)
_MAX_SCAN = 400  # bound on line-by-line scans (blank runs, comments between comment and code)
_MAX_GROUP = 200  # a comment group grows at most this many lines each way from the cursor

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


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Comment:
    start: int
    last: int  # inclusive
    style: str  # "block" or the line marker (with doc variant: "///", "##")
    indent: int


@dataclass(frozen=True)
class _Group:
    start: int
    last: int
    comments: tuple[_Comment, ...]
    indent: int
    truncated: bool = False  # longer than _MAX_GROUP allows: a banner, not an instruction

    @property
    def is_block(self) -> bool:
        return self.comments[0].style == "block"


@dataclass(frozen=True)
class _Instruction:
    text: str | None  # prefixed: words after the prefix; else the whole comment
    lines: tuple[int, int]
    prefixed: bool


@dataclass(frozen=True)
class _Block:
    """A run of code lines found below a comment."""

    start: int
    last: int
    named: bool  # False: a closing token (``}``, ``end``): nothing to target
    attachment: bool  # decorator / attribute that belongs to what follows
    node: Node | None


@dataclass(frozen=True)
class _Target:
    start: int
    end: int  # exclusive
    node: Node | None
    node_type: str | None


@dataclass(frozen=True)
class _Found:
    mode: Literal["edit", "generate"]
    instruction: _Instruction | None
    target: _Target


def _width(indent: str) -> int:
    return len(indent.expandtabs(4))


@lru_cache(maxsize=64)
def _import_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _last_row(node: Node) -> int:
    """Last row that holds part of *node* (an end at column 0 does not count)."""
    end = node.end_point
    if end[1] == 0 and end[0] > node.start_point[0]:
        return int(end[0]) - 1
    return int(end[0])


def _line_marker_style(text: str, markers: Sequence[str]) -> str | None:
    for marker in markers:
        if text.startswith(marker):
            nxt = text[len(marker) : len(marker) + 1]
            return marker + nxt if nxt and (nxt == marker[-1] or nxt == "!") else marker
    return None


class _Doc:
    """Line access shared by the tree-based and the line-based views."""

    def __init__(
        self,
        parts: Sequence[str],
        line_comments: Sequence[str],
        block_comments: Sequence[tuple[str, str]],
    ) -> None:
        self.parts = parts
        self.n = len(parts)
        self.line_markers = tuple(sorted(line_comments, key=len, reverse=True))
        self.block_comments = tuple(
            sorted(block_comments, key=lambda pair: len(pair[0]), reverse=True)
        )
        self._comments: dict[int, _Comment | None] = {}
        self._groups: dict[int, _Group | None] = {}

    # -- lines
    def blank(self, row: int) -> bool:
        return not self.parts[row].strip()

    def indent(self, row: int) -> str:
        line = self.parts[row].rstrip("\r")
        return line[: len(line) - len(line.lstrip())]

    def width(self, row: int) -> int:
        return _width(self.indent(row))

    def text(self, start: int, end: int) -> str:
        """Lines ``[start, end)`` with their endings."""
        end = min(end, self.n)
        if start >= end:
            return ""
        chunk = "\n".join(self.parts[start:end])
        return chunk + "\n" if end < self.n else chunk

    def next_nonblank(self, row: int) -> int | None:
        limit = min(self.n, row + _MAX_SCAN)
        while row < limit:
            if not self.blank(row):
                return row
            row += 1
        return None

    # -- comments
    def comment_at(self, row: int) -> _Comment | None:
        if row in self._comments:
            return self._comments[row]
        found = self._comment_at(row) if 0 <= row < self.n else None
        self._comments[row] = found
        return found

    def _comment_at(self, row: int) -> _Comment | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _style(self, row: int, multirow: bool) -> str:
        head = self.parts[row].strip()
        if multirow or any(head.startswith(opener) for opener, _ in self.block_comments):
            return "block"
        return _line_marker_style(head, self.line_markers) or head[:2]

    def group_at(self, row: int) -> _Group | None:
        """The comment group holding *row*: adjacent same-style line comments, or one block."""
        if row in self._groups:
            return self._groups[row]
        comment = self.comment_at(row)
        group: _Group | None = None
        if comment is not None:
            members = [comment]
            if comment.style != "block":
                up = comment.start - 1
                while up >= 0 and comment.start - up <= _MAX_GROUP:
                    other = self._neighbour(up, comment)
                    if other is None:
                        break
                    members.append(other)
                    up -= 1
                members.reverse()
                down = comment.last + 1
                while down < self.n and down - comment.last <= _MAX_GROUP:
                    other = self._neighbour(down, comment)
                    if other is None:
                        break
                    members.append(other)
                    down += 1
            truncated = (
                comment.start - members[0].start >= _MAX_GROUP
                or members[-1].last - comment.last >= _MAX_GROUP
            )
            group = _Group(
                members[0].start, members[-1].last, tuple(members), comment.indent, truncated
            )
            for member in members:
                for member_row in range(member.start, member.last + 1):
                    self._groups[member_row] = group
        self._groups[row] = group
        return group

    def _neighbour(self, row: int, like: _Comment) -> _Comment | None:
        """*row* as a line comment continuing *like*'s group, else None.

        Checked on the text alone (cheap, for long comment runs): a line next to
        a real comment line that starts with the same marker cannot be inside a
        string. ``#[`` lines (PHP/Rust attributes) are checked with the tree.
        """
        found: _Comment | None
        if row in self._comments:
            found = self._comments[row]
        else:
            head = self.parts[row].strip()
            if not head or head.startswith("#["):
                found = self.comment_at(row)
            elif _line_marker_style(head, self.line_markers) != like.style or any(
                head.startswith(opener) for opener, _ in self.block_comments
            ):
                return None
            else:
                found = _Comment(row, row, like.style, self.width(row))
                self._comments[row] = found
        if found is None or found.style != like.style or found.indent != like.indent:
            return None
        return found

    def instruction(self, group: _Group, prefixes: Sequence[str]) -> _Instruction:
        if group.is_block:
            raw = "\n".join(
                self.parts[r].rstrip("\r") for r in range(group.start, group.last + 1)
            ).strip()
            prefixed = instruction_from_comment(
                raw, prefixes, line_comments=self.line_markers, block_comments=self.block_comments
            )
            lines = (group.start, group.last + 1)
            if prefixed is not None:
                return _Instruction(prefixed or None, lines, True)
            whole = strip_comment_markers(raw, self.line_markers, self.block_comments)
            return _Instruction(whole or None, lines, False)
        words = [
            strip_line_marker(self.parts[r].strip(), self.line_markers)
            for r in range(group.start, group.last + 1)
        ]
        for index, word in enumerate(words):
            rest = match_prefix(word, prefixes)
            if rest is not None:
                text = join_instruction([rest, *words[index + 1 :]])
                return _Instruction(text or None, (group.start + index, group.last + 1), True)
        whole = join_instruction(words)
        return _Instruction(whole or None, (group.start, group.last + 1), False)

    # -- code below a comment
    def block_at(self, row: int) -> _Block | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def resolve(self, group: _Group) -> _Target | None:
        """What a comment group applies to: the code right below it, or None
        when nothing follows at its level (EOF, dedent, closing brace/``end``)."""
        row = group.last + 1
        first: int | None = None
        for _ in range(_MAX_SCAN):
            nxt = self.next_nonblank(row)
            if nxt is None or self.width(nxt) < group.indent:
                return None
            between = self.group_at(nxt)
            if between is not None:  # a doc comment between instruction and code
                first = nxt if first is None else first
                row = between.last + 1
                continue
            block = self.block_at(nxt)
            if block is None or not block.named:
                return None
            if block.attachment:
                first = block.start if first is None else first
                row = block.last + 1
                continue
            start = block.start if first is None else first
            node_type = _core_type(block.node) if block.node is not None else None
            return _Target(start, block.last + 1, block.node, node_type)
        return None

    def instruction_above(self, top: int, row: int, prefixes: Sequence[str]) -> _Found | None:
        """A prefixed instruction comment above line *top* whose target holds *row*."""
        k = top - 1
        groups = 0
        while k >= 0 and top - k < _MAX_SCAN:
            if self.blank(k):
                k -= 1
                continue
            group = self.group_at(k)
            if group is None:
                return None
            instr = self.instruction(group, prefixes)
            if instr.prefixed:
                target = self.resolve(group)
                if target is not None and target.start <= row < target.end:
                    return _Found("edit", instr, target)
                return None
            groups += 1
            if groups >= 4:
                return None
            k = group.start - 1
        return None

    def from_cursor(self, row: int, prefixes: Sequence[str]) -> _Found | None:  # pragma: no cover
        raise NotImplementedError


def _core_type(node: Node) -> str:
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


class _TreeDoc(_Doc):
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

    def _comment_at(self, row: int) -> _Comment | None:
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
        last = _last_row(node)
        if last == erow and self.parts[erow].encode("utf-8")[ecol:].strip():
            return None  # code after the comment on its last line
        style = self._style(srow, last > srow)
        return _Comment(srow, last, style, self.width(srow))

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
                or parent.type in _BODY_TYPES
                or parent.start_point != start
            ):
                return node
            node = parent

    def block_at(self, row: int) -> _Block | None:
        node = self.node_at_line(row)
        if node is None:
            return None
        return _Block(
            node.start_point[0],
            _last_row(node),
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
                if parent is None or parent.type in _BODY_TYPES:
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
            if parent is None or parent == self.root or parent.type in _BODY_TYPES:
                return node
            if parent.type in spec.wrapper_node_types:
                node = parent
                continue
            if parent.type in spec.definition_node_types or parent.type in spec.class_node_types:
                return node
            if parent.start_point[0] == node.start_point[0] and _last_row(parent) == _last_row(
                node
            ):
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
                or _last_row(above) != top - 1
            ):
                break
            top = int(above.start_point[0])
        return top

    def from_cursor(self, row: int, prefixes: Sequence[str]) -> _Found | None:
        """Instruction above an enclosing node, else the enclosing definition."""
        point = self.line_point(row) if not self.blank(row) else (row, 0)
        if self.spec.attachment_node_types and not self.blank(row):
            point = self._past_attachments(row, point)
        node = self.root.named_descendant_for_point_range(point, point)
        best: dict[str, _Target] = {}
        while node is not None and node != self.root:
            kind = node.type
            definition = self.definition_node(node)
            parent = node.parent
            if definition is not None:
                role = "def"
            elif kind in self.spec.block_node_types:
                role = "block"
            elif parent is not None and (parent == self.root or parent.type in _BODY_TYPES):
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
                        target = _Target(top, _last_row(lifted) + 1, lifted, _core_type(lifted))
                        best[role] = target
                node = lifted.parent
                continue
            node = parent
        for role in ("def", "block", "stmt"):
            if role in best:
                return _Found("edit", None, best[role])
        return None

    def _past_attachments(self, row: int, point: tuple[int, int]) -> tuple[int, int]:
        """On a decorator/attribute line, point at the definition it belongs to."""
        for _ in range(_MAX_SCAN):
            line_node = self.node_at_line(row)
            if line_node is None or line_node.type not in self.spec.attachment_node_types:
                return point
            nxt = self.next_nonblank(_last_row(line_node) + 1)
            if nxt is None or self.comment_at(nxt) is not None:
                return point
            row = nxt
            point = self.line_point(row)
        return point

    # -- context
    def context_items(
        self, target: _Target, anchor: Node | None, generate_at: tuple[int, int] | None
    ) -> list[tuple[int, int]]:
        """Row ranges of imports, enclosing class headers and the enclosing signature.

        *generate_at* is ``(comment row, comment indent width)`` in generate mode:
        enclosing scopes must hold the comment and be indented less than it.
        """
        start = target.start
        inner_row = generate_at[0] if generate_at else max(start, target.end - 1)
        items: list[tuple[int, int]] = []
        spec = self.spec
        pattern = _import_re(spec.import_pattern) if spec.import_pattern else None
        gap = 0

        def is_import(child: Node) -> bool:
            if child.type in spec.import_node_types:
                return True
            return bool(pattern and pattern.match(self.parts[child.start_point[0]]))

        cursor = self.root.walk()
        visited = 0
        if cursor.goto_first_child():
            while gap < _IMPORT_SCAN_GAP and visited < _IMPORT_SCAN_MAX:
                visited += 1
                child = cursor.node
                if child is not None and child.is_named:
                    first = int(child.start_point[0])
                    if first >= start:
                        break
                    last = _last_row(child)
                    if is_import(child):
                        if last < start:
                            items.append((first, last + 1))
                        gap = 0
                    elif child.type in spec.import_container_types:
                        for inner in child.named_children:
                            if inner.start_point[0] < start and is_import(inner):
                                items.append((int(inner.start_point[0]), _last_row(inner) + 1))
                    elif child.type not in spec.comment_node_types:
                        gap += 1
                if not cursor.goto_next_sibling():
                    break

        node = anchor
        seen_function = False
        while node is not None and node != self.root:
            kind = node.type
            is_class = kind in spec.class_node_types
            is_function = (
                not is_class
                and kind in spec.definition_node_types
                and kind not in spec.wrapper_node_types
            )
            if (is_class or (is_function and not seen_function)) and node.start_point[0] < start:
                header = self._header_rows(node)
                contains = _last_row(node) >= inner_row
                indented = generate_at is None or self.width(header[0]) < generate_at[1]
                if header[0] < start and contains and indented:
                    items.append((header[0], min(header[1], start)))
                    seen_function = seen_function or is_function
            node = node.parent
        items.sort()
        return items

    def _header_rows(self, node: Node) -> tuple[int, int]:
        """Rows of a class/function header: from its keyword line through the ``{``
        line (or up to the first body line for indentation-based languages)."""
        first = int(node.start_point[0])
        for child in node.children:
            if child.type in _HEADER_SKIP or child.type in self.spec.comment_node_types:
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
                if child.type in _BODY_TYPES:
                    body = child
                    break
        if body is None:
            return first, first + 1
        brow, bcol = body.start_point
        if self.parts[brow].encode("utf-8")[bcol : bcol + 1] == b"{":
            return first, max(brow + 1, first + 1)
        # No brace: the header ends with the last non-comment child before the body.
        last = first
        for child in node.children:
            if child.start_byte >= body.start_byte:
                break
            if child.type not in self.spec.comment_node_types:
                last = max(last, _last_row(child))
        return first, last + 1

    def anchor_for(self, start: int, end: int) -> Node | None:
        """Smallest named node spanning lines ``[start, end)``."""
        last = max(start, end - 1)
        first_point = self.line_point(start) if not self.blank(start) else (start, 0)
        end_point = (last, len(self.parts[last].rstrip().encode("utf-8")))
        return self.root.named_descendant_for_point_range(first_point, end_point)


class _LineDoc(_Doc):
    """Fallback without a tree: comments by marker, targets by paragraph/indentation."""

    _blocks: dict[int, tuple[int, int]] | None = None

    def _block_rows(self) -> dict[int, tuple[int, int]]:
        """Rows of standalone block comments, found in one pass over the document
        (so a row in the middle of a block comment is known without scanning back)."""
        if self._blocks is None:
            blocks: dict[int, tuple[int, int]] = {}
            row = 0
            while row < self.n:
                head = self.parts[row].lstrip()
                pair = next((p for p in self.block_comments if head.startswith(p[0])), None)
                if pair is None:
                    row += 1
                    continue
                opener, closer = pair
                rest = head[len(opener) :]
                last = row
                while closer not in rest and last + 1 < self.n:
                    last += 1
                    rest = self.parts[last]
                for inner in range(row, last + 1):
                    blocks[inner] = (row, last)
                row = last + 1
            self._blocks = blocks
        return self._blocks

    def _comment_at(self, row: int) -> _Comment | None:
        head = self.parts[row].strip()
        if not head:
            return None
        if self.block_comments:
            span = self._block_rows().get(row)
            if span is not None:
                return _Comment(span[0], span[1], "block", self.width(span[0]))
        style = _line_marker_style(head, self.line_markers)
        if style is not None:
            return _Comment(row, row, style, self.width(row))
        return None

    def closer(self, row: int) -> bool:
        return bool(_CLOSER_RE.match(self.parts[row].strip()))

    def block_at(self, row: int) -> _Block | None:
        if self.closer(row):
            return _Block(row, row, False, False, None)
        return _Block(row, self.paragraph_end(row), True, False, None)

    def paragraph_end(self, row: int) -> int:
        """Last row of the paragraph starting at *row*: following non-blank lines, and
        across blank lines while the code stays indented deeper (a block body)."""
        base = self.width(row)
        last = row
        saw_blank = False
        k = row + 1
        while k < self.n:
            if self.blank(k):
                saw_blank = True
                k += 1
                continue
            width = self.width(k)
            if width < base:
                break
            if width == base and not self.closer(k) and saw_blank:
                break
            last = k
            saw_blank = False
            k += 1
        return last

    def from_cursor(self, row: int, prefixes: Sequence[str]) -> _Found | None:
        if self.blank(row):
            return None
        k = row - 1
        groups = 0
        while k >= 0 and row - k < _MAX_SCAN and groups < 5:
            group = self.group_at(k)
            if group is None:
                k -= 1
                continue
            instr = self.instruction(group, prefixes)
            if instr.prefixed:
                target = self.resolve(group)
                if target is not None and target.start <= row < target.end:
                    return _Found("edit", instr, target)
                break
            groups += 1
            k = group.start - 1
        start = row
        while start > 0 and not self.blank(start - 1) and self.comment_at(start - 1) is None:
            start -= 1
        end = max(self.paragraph_end(start), row) + 1
        return _Found("edit", None, _Target(start, end, None, None))


# --------------------------------------------------------------------------- public API


def _clamp(doc: _Doc, pos: Position) -> Position:
    row, col = pos
    if row < 0:
        return (0, 0)
    if row >= doc.n:
        return (doc.n - 1, len(doc.parts[-1]))
    return (row, max(0, min(col, len(doc.parts[row]))))


def _from_group(doc: _Doc, group: _Group, prefixes: Sequence[str]) -> tuple[_Found, bool]:
    """Result for a cursor on a comment group; the flag says it was decisive
    (an instruction or generate mode) rather than an ordinary comment."""
    instr = doc.instruction(group, prefixes)
    target = doc.resolve(group)
    if target is None:
        insert = group.last + 1
        return _Found("generate", instr, _Target(insert, insert, None, None)), True
    return _Found("edit", instr if instr.prefixed else None, target), instr.prefixed


def _from_selection(doc: _Doc, start: int, end: int, prefixes: Sequence[str]) -> _Found:
    group = doc.group_at(start)
    if group is not None:
        instr = doc.instruction(group, prefixes)
        body = group.last + 1
        rest_blank = all(doc.blank(r) for r in range(body, end))
        if body >= end or rest_blank:
            return _Found("generate", instr, _Target(body, body, None, None))
        if instr.prefixed:
            return _Found("edit", instr, _Target(body, end, None, None))
    found_instr: _Instruction | None = None
    if start > 0:
        above = doc.group_at(start - 1)
        if above is not None and above.last == start - 1:
            instr = doc.instruction(above, prefixes)
            if instr.prefixed:
                found_instr = instr
    return _Found("edit", found_instr, _Target(start, end, None, None))


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
    doc: _Doc
    if tree is not None and spec is not None:
        doc = _TreeDoc(parts, tree, spec)
    elif spec is not None:
        doc = _LineDoc(parts, spec.line_comments, spec.block_comments)
    else:
        doc = _LineDoc(parts, GUESSED_LINE_COMMENTS, GUESSED_BLOCK_COMMENTS)

    (srow, scol), (erow, ecol) = sorted((_clamp(doc, start), _clamp(doc, end)))
    found: _Found | None
    if (srow, scol) != (erow, ecol):
        last = erow if ecol > 0 or erow == srow else erow - 1
        found = _from_selection(doc, srow, last + 1, prefixes)
    else:
        found = _from_cursor(doc, srow, prefixes)

    if found is None:
        if instruction is None:
            return None
        found = _Found("generate", None, _Target(srow, srow, None, None))

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
    if context_budget_tokens > 0 and isinstance(doc, _TreeDoc):
        context = _context(doc, found, context_budget_tokens, count_tokens)

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


def _from_cursor(doc: _Doc, row: int, prefixes: Sequence[str]) -> _Found | None:
    group = doc.group_at(row)
    if group is None and row > 0 and doc.blank(row):
        above = doc.group_at(row - 1)
        if above is not None and above.last == row - 1:
            group = above
    ordinary: _Found | None = None
    if group is not None and not group.truncated:
        found, decisive = _from_group(doc, group, prefixes)
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
        if result is None or not isinstance(doc, _TreeDoc):
            return ordinary
        if node is not None and (
            doc.definition_node(node) is not None or node.type in doc.spec.block_node_types
        ):
            return ordinary
    return result


def _context(doc: _TreeDoc, found: _Found, budget: int, count_tokens: Callable[[str], int]) -> str:
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
    items = doc.context_items(target, anchor, generate_at)
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
