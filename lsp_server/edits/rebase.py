"""Move edits computed on an old document version onto the current one.

Generation takes seconds and the user keeps typing. Edits elsewhere in the file are
harmless: we shift our edit positions through each change. A change that overlaps or
touches an edit's range means the user worked on the code being rewritten; applying our
edit would silently discard their work, so we refuse (return None) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lsp_server.edits.diff import Position, TextEditSpec


@dataclass(frozen=True)
class Change:
    """One incremental content change: the range [start, end) of the text as it was just
    before the change (code points) is replaced by `text`. A full-document replacement is
    start (0, 0) and a huge end, which overlaps every edit."""

    start: Position
    end: Position
    text: str


def rebase(edits: Sequence[TextEditSpec], changes: Sequence[Change]) -> list[TextEditSpec] | None:
    """`edits` shifted through `changes` (oldest first), or None when a change overlaps or
    touches any edit (same position counts: the user typed right where we would write)."""
    current = list(edits)
    for change in changes:
        start, end = sorted((change.start, change.end))
        moved: list[TextEditSpec] = []
        for edit in current:
            if start <= edit.end and edit.start <= end:
                return None
            if start > edit.end:  # change after the edit: nothing moves
                moved.append(edit)
            else:
                moved.append(
                    TextEditSpec(
                        _shift(edit.start, start, end, change.text),
                        _shift(edit.end, start, end, change.text),
                        edit.new_text,
                    )
                )
        current = moved
    return current


def _shift(position: Position, start: Position, end: Position, text: str) -> Position:
    """Where `position` (at or after `end`) lands once [start, end) becomes `text`."""
    line, char = position
    newlines = text.count("\n")
    tail = len(text) - (text.rfind("\n") + 1)  # characters after the inserted text's last EOL
    if line == end[0]:
        column = (start[1] if newlines == 0 else 0) + tail + (char - end[1])
        return start[0] + newlines, column
    return line - (end[0] - start[0]) + newlines, char
