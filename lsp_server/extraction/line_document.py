"""The document view without a tree: comments by marker, targets by paragraph/indentation.

Used for unknown languages (comment markers guessed) and when no tree is available.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .source_lines import MAX_SCAN, SourceLines
from .spans import CodeBlock, Comment, Found, Target, line_marker_style

_CLOSER_RE = re.compile(r"^(?:[})\]]|(?:end|fi|done|esac)\b)")


class LineDocument(SourceLines):
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

    def _comment_at(self, row: int) -> Comment | None:
        head = self.parts[row].strip()
        if not head:
            return None
        if self.block_comments:
            span = self._block_rows().get(row)
            if span is not None:
                return Comment(span[0], span[1], "block", self.width(span[0]))
        style = line_marker_style(head, self.line_markers)
        if style is not None:
            return Comment(row, row, style, self.width(row))
        return None

    def closer(self, row: int) -> bool:
        return bool(_CLOSER_RE.match(self.parts[row].strip()))

    def block_at(self, row: int) -> CodeBlock | None:
        if self.closer(row):
            return CodeBlock(row, row, False, False, None)
        return CodeBlock(row, self.paragraph_end(row), True, False, None)

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

    def from_cursor(self, row: int, prefixes: Sequence[str]) -> Found | None:
        if self.blank(row):
            return None
        k = row - 1
        groups = 0
        while k >= 0 and row - k < MAX_SCAN and groups < 5:
            group = self.group_at(k)
            if group is None:
                k -= 1
                continue
            instr = self.instruction(group, prefixes)
            if instr.prefixed:
                target = self.resolve(group)
                if target is not None and target.start <= row < target.end:
                    return Found("edit", instr, target)
                break
            groups += 1
            k = group.start - 1
        start = row
        while start > 0 and not self.blank(start - 1) and self.comment_at(start - 1) is None:
            start -= 1
        end = max(self.paragraph_end(start), row) + 1
        return Found("edit", None, Target(start, end, None, None))
