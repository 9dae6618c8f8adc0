"""Line access and comment groups shared by the tree-based and the line-based documents.

Cost: comments are looked up line by line and cached per call (one document per
:func:`~lsp_server.extraction.extract.extract` call), so a cursor on a long file
only looks at the lines around it; scans are bounded by :data:`MAX_SCAN`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .comments import (
    instruction_from_comment,
    join_instruction,
    match_prefix,
    strip_comment_markers,
    strip_line_marker,
)
from .spans import (
    CodeBlock,
    Comment,
    CommentGroup,
    Found,
    Instruction,
    Target,
    core_type,
    indent_width,
    line_marker_style,
)

MAX_SCAN = 400  # bound on line-by-line scans (blank runs, comments between comment and code)
_MAX_GROUP = 200  # a comment group grows at most this many lines each way from the cursor


class SourceLines:
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
        self._comments: dict[int, Comment | None] = {}
        self._groups: dict[int, CommentGroup | None] = {}

    # -- lines
    def blank(self, row: int) -> bool:
        return not self.parts[row].strip()

    def indent(self, row: int) -> str:
        line = self.parts[row].rstrip("\r")
        return line[: len(line) - len(line.lstrip())]

    def width(self, row: int) -> int:
        return indent_width(self.indent(row))

    def text(self, start: int, end: int) -> str:
        """Lines ``[start, end)`` with their endings."""
        end = min(end, self.n)
        if start >= end:
            return ""
        chunk = "\n".join(self.parts[start:end])
        return chunk + "\n" if end < self.n else chunk

    def next_nonblank(self, row: int) -> int | None:
        limit = min(self.n, row + MAX_SCAN)
        while row < limit:
            if not self.blank(row):
                return row
            row += 1
        return None

    # -- comments
    def comment_at(self, row: int) -> Comment | None:
        if row in self._comments:
            return self._comments[row]
        found = self._comment_at(row) if 0 <= row < self.n else None
        self._comments[row] = found
        return found

    def _comment_at(self, row: int) -> Comment | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _style(self, row: int, multirow: bool) -> str:
        head = self.parts[row].strip()
        if multirow or any(head.startswith(opener) for opener, _ in self.block_comments):
            return "block"
        return line_marker_style(head, self.line_markers) or head[:2]

    def group_at(self, row: int) -> CommentGroup | None:
        """The comment group holding *row*: adjacent same-style line comments, or one block."""
        if row in self._groups:
            return self._groups[row]
        comment = self.comment_at(row)
        group: CommentGroup | None = None
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
            group = CommentGroup(
                members[0].start, members[-1].last, tuple(members), comment.indent, truncated
            )
            for member in members:
                for member_row in range(member.start, member.last + 1):
                    self._groups[member_row] = group
        self._groups[row] = group
        return group

    def _neighbour(self, row: int, like: Comment) -> Comment | None:
        """*row* as a line comment continuing *like*'s group, else None.

        Checked on the text alone (cheap, for long comment runs): a line next to
        a real comment line that starts with the same marker cannot be inside a
        string. ``#[`` lines (PHP/Rust attributes) are checked with the tree.
        """
        found: Comment | None
        if row in self._comments:
            found = self._comments[row]
        else:
            head = self.parts[row].strip()
            if not head or head.startswith("#["):
                found = self.comment_at(row)
            elif line_marker_style(head, self.line_markers) != like.style or any(
                head.startswith(opener) for opener, _ in self.block_comments
            ):
                return None
            else:
                found = Comment(row, row, like.style, self.width(row))
                self._comments[row] = found
        if found is None or found.style != like.style or found.indent != like.indent:
            return None
        return found

    def instruction(self, group: CommentGroup, prefixes: Sequence[str]) -> Instruction:
        if group.is_block:
            raw = "\n".join(
                self.parts[r].rstrip("\r") for r in range(group.start, group.last + 1)
            ).strip()
            prefixed = instruction_from_comment(
                raw, prefixes, line_comments=self.line_markers, block_comments=self.block_comments
            )
            lines = (group.start, group.last + 1)
            if prefixed is not None:
                return Instruction(prefixed or None, lines, True)
            whole = strip_comment_markers(raw, self.line_markers, self.block_comments)
            return Instruction(whole or None, lines, False)
        words = [
            strip_line_marker(self.parts[r].strip(), self.line_markers)
            for r in range(group.start, group.last + 1)
        ]
        for index, word in enumerate(words):
            rest = match_prefix(word, prefixes)
            if rest is not None:
                text = join_instruction([rest, *words[index + 1 :]])
                return Instruction(text or None, (group.start + index, group.last + 1), True)
        whole = join_instruction(words)
        return Instruction(whole or None, (group.start, group.last + 1), False)

    # -- code below a comment
    def block_at(self, row: int) -> CodeBlock | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def resolve(self, group: CommentGroup) -> Target | None:
        """What a comment group applies to: the code right below it, or None
        when nothing follows at its level (EOF, dedent, closing brace/``end``)."""
        row = group.last + 1
        first: int | None = None
        for _ in range(MAX_SCAN):
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
            node_type = core_type(block.node) if block.node is not None else None
            return Target(start, block.last + 1, block.node, node_type)
        return None

    def instruction_above(self, top: int, row: int, prefixes: Sequence[str]) -> Found | None:
        """A prefixed instruction comment above line *top* whose target holds *row*."""
        k = top - 1
        groups = 0
        while k >= 0 and top - k < MAX_SCAN:
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
                    return Found("edit", instr, target)
                return None
            groups += 1
            if groups >= 4:
                return None
            k = group.start - 1
        return None

    def from_cursor(self, row: int, prefixes: Sequence[str]) -> Found | None:  # pragma: no cover
        raise NotImplementedError
