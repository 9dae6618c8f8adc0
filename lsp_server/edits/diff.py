"""Replace whole target lines with new code as the smallest set of line edits.

Sending only the changed hunks (instead of one edit over the whole target) keeps the
user's cursor, folds, breakpoints and undo history stable on the lines the model did not
change, and makes a review diff show what really changed. Lines are split on "\\n" (a
"\\r" before it is part of the line ending), as in `lsp_server.positions.split_lines`.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

Position = tuple[int, int]  # (line, code-point column), both 0-based


@dataclass(frozen=True)
class TextEditSpec:
    """Replace the text between `start` and `end` (code-point positions) with `new_text`."""

    start: Position
    end: Position
    new_text: str


def split_keepends(text: str) -> list[tuple[str, str]]:
    """(content, ending) per line; the last line always has ending "" (LSP's view, so a
    text ending in a newline has a last empty line)."""
    lines: list[tuple[str, str]] = []
    for raw in text.split("\n")[:-1]:
        if raw.endswith("\r"):
            lines.append((raw[:-1], "\r\n"))
        else:
            lines.append((raw, "\n"))
    lines.append((text[text.rfind("\n") + 1 :], ""))
    return lines


def detect_eol(text: str) -> str:
    """The document's line ending: CRLF when most of its line breaks are CRLF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def drop_repeated_signature(code: str, line_above: str | None, base_indent: str | None) -> str:
    """Drop the first line of `code` when it repeats `line_above`.

    For a body-only target, `line_above` is the enclosing signature, and the body after it
    sits one level deeper than the signature however the model (or `reindent`) indented
    it, so what remains is re-based onto `base_indent` (the target's own indent). With
    `base_indent` None (an insertion, where the echoed line is usually the instruction
    comment at the code's own level) the rest keeps its indentation.
    """
    if line_above is None or not line_above.strip():
        return code
    lines = code.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != line_above.strip():
        return code
    rest = lines[first + 1 :]
    indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in rest if line.strip()]
    if not indents:
        return ""
    common = min(indents, key=len)
    if base_indent is None or not all(indent.startswith(common) for indent in indents):
        return "\n".join(rest)  # insertion, or mixed tabs and spaces: keep indentation
    return "\n".join(base_indent + line[len(common) :] if line.strip() else "" for line in rest)


def replacement_edits(
    document: str,
    target_lines: tuple[int, int],
    new_code: str,
    *,
    line_above: str | None = None,
) -> list[TextEditSpec]:
    """Edits that replace lines [start, end) of `document` with `new_code`.

    start == end inserts `new_code` as new lines before line `start` (generate mode; at
    or past the last line it appends). The new lines take the document's line ending;
    the document's final newline, present or absent, stays as it was (an empty document
    gets one). Only changed lines are touched: one edit per differing hunk, sorted and
    non-overlapping. An empty or whitespace-only `new_code` yields no edits, so a failed
    generation can never delete code. `line_above`: see `drop_repeated_signature`.
    """
    lines = split_keepends(document)
    # Lines that hold text; a last empty line after a final newline is not one.
    n_real = len(lines) - 1 if lines[-1][0] == "" else len(lines)
    start, end = target_lines
    if start < 0 or end < start:
        raise ValueError(f"bad target lines {target_lines!r}")
    start, end = min(start, n_real), min(end, n_real)
    eol = detect_eol(document)
    new_code = new_code.replace("\r\n", "\n")
    base = next((_indent_of(c) for c, _ in lines[start:end] if c.strip()), None)
    new_code = drop_repeated_signature(new_code, line_above, base)
    if not new_code.strip():
        return []
    new = new_code.split("\n")
    while new and not new[-1].strip():
        new.pop()
    new = [line if line.strip() else "" for line in new]

    if start == end:
        return [_insertion(lines, n_real, start, new, eol)]

    old = lines[start:end]
    # Key the last line apart so it only matches the last new line: it carries the
    # block's final line ending (absent at the end of a file without a final newline).
    last = len(old) - 1
    old_keys = [(content, i == last) for i, (content, _) in enumerate(old)]
    new_keys = [(content, j == len(new) - 1) for j, content in enumerate(new)]
    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    edits: list[TextEditSpec] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        text = "".join(new[j] + (old[last][1] if j == len(new) - 1 else eol) for j in range(j1, j2))
        if i1 == i2:
            edits.append(TextEditSpec((start + i1, 0), (start + i1, 0), text))
            continue
        # The last line of a file without a final newline ends at its last character.
        end_pos = (start + i2, 0) if old[i2 - 1][1] else (start + i2 - 1, len(old[i2 - 1][0]))
        edits.append(TextEditSpec((start + i1, 0), end_pos, text))
    return edits


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _insertion(
    lines: list[tuple[str, str]], n_real: int, at: int, new: list[str], eol: str
) -> TextEditSpec:
    if at < n_real or n_real == 0 or lines[n_real - 1][1]:
        # Before an existing line, into an empty document, or after a final newline.
        return TextEditSpec((at, 0), (at, 0), "".join(line + eol for line in new))
    # After the last line of a file without a final newline: keep it without one.
    last = n_real - 1
    position = (last, len(lines[last][0]))
    return TextEditSpec(position, position, eol + eol.join(new))


def apply_edits(document: str, edits: Sequence[TextEditSpec]) -> str:
    """Apply non-overlapping edits given on `document`. Positions past a line's end clamp
    to it, and lines past the end clamp to the end (LSP's rules)."""
    starts = [0]
    at = document.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = document.find("\n", at + 1)

    def offset(position: Position) -> int:
        line, char = position
        if line >= len(starts):
            return len(document)
        line_end = starts[line + 1] - 1 if line + 1 < len(starts) else len(document)
        if line_end > starts[line] and document[line_end - 1] == "\r" and line + 1 < len(starts):
            line_end -= 1
        return starts[line] + max(0, min(char, line_end - starts[line]))

    spans = sorted(
        ((offset(e.start), offset(e.end), e.new_text) for e in edits), key=lambda s: s[:2]
    )
    for (_, prev_end, _), (next_start, _, _) in itertools.pairwise(spans):
        if next_start < prev_end:
            raise ValueError("overlapping edits")
    out: list[str] = []
    cursor = 0
    for begin, finish, text in spans:
        out.append(document[cursor:begin])
        out.append(text)
        cursor = max(cursor, finish)
    out.append(document[cursor:])
    return "".join(out)
