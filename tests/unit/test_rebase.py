"""Rebasing edits through the user's concurrent changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lsp_server.edits import Change, TextEditSpec, apply_edits, rebase

EDIT = TextEditSpec((2, 4), (2, 6), "NEW")
HUGE = (1 << 30, 0)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # After the edit: nothing moves.
        (Change((5, 0), (5, 3), "zzz"), EDIT),
        (Change((2, 7), (2, 7), "zzz"), EDIT),
        (Change((3, 0), (9, 0), ""), EDIT),
        # Before, on the same line: characters shift.
        (Change((2, 0), (2, 0), "abc"), TextEditSpec((2, 7), (2, 9), "NEW")),
        (Change((2, 1), (2, 3), ""), TextEditSpec((2, 2), (2, 4), "NEW")),
        # Multi-line insert before, on the same line: the edit moves down and its column is
        # counted from the inserted text's last line.
        (Change((2, 1), (2, 2), "x\nyz"), TextEditSpec((3, 4), (3, 6), "NEW")),
        (Change((2, 1), (2, 1), "x\r\n"), TextEditSpec((3, 3), (3, 5), "NEW")),
        # Lines inserted or deleted above: only lines shift.
        (Change((0, 0), (0, 0), "a\nb\n"), TextEditSpec((4, 4), (4, 6), "NEW")),
        (Change((0, 2), (1, 0), ""), TextEditSpec((1, 4), (1, 6), "NEW")),
        # A deletion that joins the edit's line onto the line above.
        (Change((1, 3), (2, 0), ""), TextEditSpec((1, 7), (1, 9), "NEW")),
        # Reversed range is normalised.
        (Change((2, 3), (2, 1), ""), TextEditSpec((2, 2), (2, 4), "NEW")),
        # Overlapping or touching: refused.
        (Change((2, 5), (2, 5), "x"), None),
        (Change((2, 4), (2, 4), "x"), None),
        (Change((2, 6), (2, 8), "x"), None),
        (Change((2, 0), (2, 4), ""), None),
        (Change((1, 0), (3, 0), "x"), None),
        (Change((0, 0), HUGE, "whole new text"), None),
    ],
)
def test_single_change(change: Change, expected: TextEditSpec | None) -> None:
    result = rebase([EDIT], [change])
    assert result == (None if expected is None else [expected])


def test_no_changes_and_no_edits() -> None:
    assert rebase([EDIT], []) == [EDIT]
    assert rebase([], [Change((0, 0), HUGE, "x")]) == []


def test_changes_apply_in_order_and_between_edits() -> None:
    document = "one\ntwo\nthree\nfour\n"
    edits = [TextEditSpec((0, 0), (0, 3), "ONE"), TextEditSpec((3, 0), (3, 4), "FOUR")]
    changes = [
        Change((1, 0), (1, 0), "new line\n"),  # text is now one/new line/two/three/four
        Change((3, 5), (3, 5), "!"),  # after "three"
    ]
    current = document
    for change in changes:
        current = apply_edits(current, [TextEditSpec(change.start, change.end, change.text)])
    moved = rebase(edits, changes)
    assert moved == [TextEditSpec((0, 0), (0, 3), "ONE"), TextEditSpec((4, 0), (4, 4), "FOUR")]
    assert apply_edits(current, moved) == "ONE\nnew line\ntwo\nthree!\nFOUR\n"


def test_a_later_change_reaching_a_moved_edit_is_refused() -> None:
    edits = [TextEditSpec((1, 0), (1, 3), "X")]
    changes = [Change((0, 0), (0, 0), "\n"), Change((2, 1), (2, 1), "y")]
    assert rebase(edits, changes) is None


# ---- property: concurrent edits and changes commute ----------------------------------------


def position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


TEXT = st.text(alphabet="ab😀\n", max_size=30)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, str, bool]], list[int]]:
    """A document, disjoint non-touching spans (each an edit or a change, on the original
    text) and the order in which the user's changes happen."""
    document = draw(TEXT)
    count = draw(st.integers(0, 6))
    cuts = sorted(
        draw(st.lists(st.integers(0, len(document)), min_size=2 * count, max_size=2 * count))
    )
    spans: list[tuple[int, int, str, bool]] = []
    previous_end = -1
    for i in range(count):
        start, end = cuts[2 * i], cuts[2 * i + 1]
        if start <= previous_end:  # touching or overlapping: skip this one
            continue
        spans.append((start, end, draw(TEXT), draw(st.booleans())))
        previous_end = end
    changes = [i for i, span in enumerate(spans) if not span[3]]
    order = draw(st.permutations(changes))
    return document, spans, list(order)


@settings(max_examples=400, deadline=None)
@given(scenario())
def test_rebased_edits_commute_with_changes(
    case: tuple[str, list[tuple[int, int, str, bool]], list[int]],
) -> None:
    document, spans, order = case
    # Expected: every span replaced at once on the original text.
    expected = document
    for start, end, text, _ in sorted(spans, reverse=True):
        expected = expected[:start] + text + expected[end:]

    edits = [
        TextEditSpec(position(document, s), position(document, e), text)
        for s, e, text, is_edit in spans
        if is_edit
    ]
    # The user's changes, one by one, each in the coordinates of the text before it.
    current = document
    applied: list[int] = []
    changes: list[Change] = []
    for index in order:
        start, end, text, _ = spans[index]
        delta = sum(
            len(spans[j][2]) - (spans[j][1] - spans[j][0]) for j in applied if spans[j][0] < start
        )
        s, e = start + delta, end + delta
        changes.append(Change(position(current, s), position(current, e), text))
        current = current[:s] + text + current[e:]
        applied.append(index)

    moved = rebase(edits, changes)
    assert moved is not None
    assert apply_edits(current, moved) == expected


@settings(max_examples=200, deadline=None)
@given(TEXT, st.data())
def test_overlapping_or_touching_change_is_refused(document: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(document)))
    end = data.draw(st.integers(start, len(document)))
    edit = TextEditSpec(position(document, start), position(document, end), "E")
    # Any change range that shares at least one position with [start, end].
    c_start = data.draw(st.integers(0, end))
    c_end = data.draw(st.integers(max(c_start, start), len(document)))
    change = Change(position(document, c_start), position(document, c_end), data.draw(TEXT))
    assert rebase([edit], [change]) is None
