"""Client position units (UTF-16 by default, or UTF-8/UTF-32 when negotiated) to Python
code points and back.

Everything inside the server works in code points; conversion happens only at the
protocol edge. ASCII lines (nearly all code) take a fast path. Out-of-range positions
are clamped, never raised: a stale or hostile client must not crash the server.
"""

from __future__ import annotations

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _units(char: str, encoding: str) -> int:
    code = ord(char)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if encoding == UTF8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def to_code_points(line: str, column: int, encoding: str = UTF16) -> int:
    """Client column on `line` (without its EOL) to a code-point index, clamped."""
    if column <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(column, len(line))
    units = 0
    for index, char in enumerate(line):
        if units >= column:
            return index
        units += _units(char, encoding)
        if units > column:  # column points inside a surrogate pair / multibyte char
            return index
    return len(line)


def from_code_points(line: str, index: int, encoding: str = UTF16) -> int:
    """Code-point index on `line` to a client column."""
    index = max(0, min(index, len(line)))
    if encoding == UTF32 or line.isascii():
        return index
    return sum(_units(char, encoding) for char in line[:index])


def split_lines(text: str) -> list[str]:
    """Lines without their EOL; a final EOL yields a last empty line (LSP's view)."""
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]

