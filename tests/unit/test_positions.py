"""Client position units <-> code points, including astral characters, clamped."""

from __future__ import annotations

import pytest

from lsp_server.positions import UTF8, UTF16, UTF32, from_code_points, split_lines, to_code_points

LINE = "a😀b€c"  # 😀 is 2 UTF-16 units / 4 UTF-8 bytes; € is 1 / 3


@pytest.mark.parametrize(
    ("encoding", "column", "index"),
    [
        (UTF16, 0, 0), (UTF16, 1, 1), (UTF16, 3, 2), (UTF16, 4, 3), (UTF16, 5, 4),
        (UTF16, 2, 1),  # inside the surrogate pair: snaps to the character start
        (UTF8, 5, 2), (UTF8, 9, 4), (UTF32, 3, 3),
        (UTF16, 99, 5), (UTF16, -3, 0),  # clamped
    ],
)
def test_to_code_points(encoding: str, column: int, index: int) -> None:
    assert to_code_points(LINE, column, encoding) == index


@pytest.mark.parametrize(("encoding", "index", "column"),
                         [(UTF16, 2, 3), (UTF16, 5, 6), (UTF8, 4, 9), (UTF32, 4, 4)])
def test_from_code_points(encoding: str, index: int, column: int) -> None:
    assert from_code_points(LINE, index, encoding) == column
    assert to_code_points(LINE, column, encoding) == index


def test_split_lines_handles_crlf_and_final_newline() -> None:
    assert split_lines("a\r\nb\n") == ["a", "b", ""]
    assert split_lines("") == [""]
