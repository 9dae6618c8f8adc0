"""Command/request params: validated, with clear messages for bad input."""

from __future__ import annotations

from collections import namedtuple

import pytest

from lsp_server.protocol import EditArgs, ParamsError, plain


def test_parse_full_and_minimal() -> None:
    args = EditArgs.parse([{"uri": "file:///a.py", "instruction": "  add hints ",
                            "range": {"start": {"line": 3, "character": 1},
                                      "end": {"line": 1, "character": 0}}}])
    assert args.instruction == "add hints"
    assert args.start is not None and args.end is not None
    assert (args.start.line, args.end.line) == (1, 3)  # reversed range is normalised
    assert EditArgs.parse({"uri": "file:///a.py"}).start is None


def test_namedtuple_params_from_pygls() -> None:
    obj = namedtuple("Object", ["uri", "instruction"])("file:///a.py", "x")
    assert plain(obj) == {"uri": "file:///a.py", "instruction": "x"}
    assert EditArgs.parse(obj).instruction == "x"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "expected an object"),
        ([], "one argument"),
        ([{"uri": 1}], "uri"),
        ({"uri": ""}, "uri"),
        ({"uri": "u", "instruction": 3}, "instruction"),
        ({"uri": "u", "range": "x"}, "range"),
        ({"uri": "u", "range": {"start": {"line": "a", "character": 0},
                                "end": {"line": 0, "character": 0}}}, "line"),
        ({"uri": "u", "range": {"start": {"line": 0, "character": True},
                                "end": {"line": 0, "character": 0}}}, "character"),
    ],
)
def test_bad_params(raw: object, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        EditArgs.parse(raw)


def test_negative_positions_are_clamped() -> None:
    args = EditArgs.parse({"uri": "u", "range": {"start": {"line": -4, "character": -1},
                                                 "end": {"line": 2, "character": 0}}})
    assert args.start is not None and (args.start.line, args.start.character) == (0, 0)


def test_rebase_flag() -> None:
    assert EditArgs.parse({"uri": "u"}).rebase is True
    assert EditArgs.parse({"uri": "u", "rebase": False}).rebase is False
    with pytest.raises(ParamsError, match="rebase"):
        EditArgs.parse({"uri": "u", "rebase": "no"})


def test_answer_and_rebase_together() -> None:
    """Chat's Apply under the inline review sends both."""
    args = EditArgs.parse([{"uri": "u", "answer": "x = 1", "rebase": False}])
    assert (args.answer, args.rebase) == ("x = 1", False)
