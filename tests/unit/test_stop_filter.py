"""StopStringFilter: stop strings are cut even when they straddle streamed pieces."""

from __future__ import annotations

import pytest

from model.base import StopStringFilter

# (stops, pieces, expected released chunks per feed, expected flush, stopped)
CASES = [
    pytest.param((), ["ab", "cd"], ["ab", "cd"], "", False, id="no-stops"),
    pytest.param(("END",), ["hello ", "world"], ["hello ", "world"], "", False, id="no-match"),
    pytest.param(("END",), ["abcEND", "more"], ["abc", ""], "", True, id="stop-in-one-piece"),
    pytest.param(("END",), ["abcE", "N", "Dxyz"], ["abc", "", ""], "", True, id="split-3-ways"),
    pytest.param(("END",), ["ab", "E", "x"], ["ab", "", "Ex"], "", False, id="prefix-released"),
    pytest.param(("END",), ["abEN"], ["ab"], "EN", False, id="prefix-held-then-flushed"),
    pytest.param(("```",), ["x`", "`", "`y"], ["x", "", ""], "", True, id="backticks"),
    pytest.param(("\n\n", "###"), ["a\n", "#", "#", "#"], ["a", "\n", "", ""], "", True,
                 id="two-stops-second-wins"),
    pytest.param(("###", "\n\n"), ["a\n", "\nb###"], ["a", ""], "", True,
                 id="two-stops-first-wins"),
    pytest.param(("ab", "b"), ["xab"], ["x"], "", True, id="earliest-stop-cuts"),
    pytest.param(("ab",), ["", "a", "", "b"], ["", "", "", ""], "", True, id="empty-pieces"),
    pytest.param(("", "Z"), ["aZ"], ["a"], "", True, id="empty-stop-ignored"),
    pytest.param(("aab",), ["a", "a", "a", "b"], ["", "", "a", ""], "", True,
                 id="overlapping-prefix"),
]  # fmt: skip


@pytest.mark.parametrize(("stops", "pieces", "released", "flushed", "stopped"), CASES)
def test_stop_filter(
    stops: tuple[str, ...],
    pieces: list[str],
    released: list[str],
    flushed: str,
    stopped: bool,
) -> None:
    stop_filter = StopStringFilter(stops)
    assert [stop_filter.feed(piece) for piece in pieces] == released
    assert stop_filter.flush() == flushed
    assert stop_filter.stopped is stopped


@pytest.mark.parametrize(
    "text", ["abc", "ab```cd", "line\n\nnext", "x" * 50 + "STOP" + "y", "ST", "SSTOP"]
)
def test_any_split_gives_the_same_text(text: str) -> None:
    """However the text is cut into pieces, the output is the text before the first stop."""
    stops = ("STOP", "```", "\n\n")
    cuts = [text.find(s) for s in stops if s in text]
    expected = text[: min(cuts)] if cuts else text
    for size in range(1, len(text) + 1):
        stop_filter = StopStringFilter(stops)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        out = "".join(stop_filter.feed(p) for p in pieces) + stop_filter.flush()
        assert out == expected, size
