"""The document store: incremental changes (UTF-16 ranges) give the same text and the
same syntax tree as a full reparse; history lets edits be rebased."""

from __future__ import annotations

import random

from lsp_server.documents import DocumentStore
from lsp_server.positions import UTF16

SOURCE = "import os\n\n\ndef f(x):\n    return x  # ünïcode 😀\n\n\nclass A:\n    pass\n"


def _utf16_col(line: str, index: int) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in line[:index])


def test_incremental_changes_match_a_full_reparse() -> None:
    rng = random.Random(7)
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, SOURCE)
    assert doc.tree is not None
    text = SOURCE
    for version in range(2, 202):
        lines = text.split("\n")
        l1 = rng.randrange(len(lines))
        l2 = min(len(lines) - 1, l1 + rng.randrange(3))
        c1 = rng.randrange(len(lines[l1]) + 1)
        low = c1 if l2 == l1 else 0
        c2 = rng.randrange(low, len(lines[l2]) + 1)
        new = rng.choice(["", "x", "\n", "def g():\n    pass\n", "😀", "é", "  ", "(", ")"])
        start = sum(len(s) + 1 for s in lines[:l1]) + c1
        end = sum(len(s) + 1 for s in lines[:l2]) + c2
        text = text[:start] + new + text[end:]
        rng_utf16 = ((l1, _utf16_col(lines[l1], c1)), (l2, _utf16_col(lines[l2], c2)))
        doc.apply_change(version, rng_utf16, new, UTF16)
        assert doc.text == text
        if version % 20 == 0:  # check the incrementally kept tree against a fresh parse
            incremental = doc.tree
            fresh = DocumentStore().open("file:///b.py", "python", 1, text).tree
            assert incremental is not None and fresh is not None
            assert str(incremental.root_node) == str(fresh.root_node)
    assert doc.version == 201


def test_out_of_range_changes_are_clamped() -> None:
    doc = DocumentStore().open("file:///a.py", "python", 1, "ab\ncd\n")
    doc.apply_change(2, ((99, 99), (120, 0)), "X", UTF16)
    assert doc.text == "ab\ncd\nX"
    doc.apply_change(3, ((-1, -5), (0, 1)), "", UTF16)
    assert doc.text == "b\ncd\nX"


def test_full_replacement_and_history() -> None:
    doc = DocumentStore().open("file:///a.py", "python", 1, "a\n")
    doc.apply_change(2, ((0, 0), (0, 0)), "b", UTF16)
    assert len(doc.changes_since_revision(0) or []) == 1
    assert doc.changes_since_revision(1) == []
    doc.apply_change(3, None, "whole new text\n", UTF16)
    assert doc.text == "whole new text\n"
    changes = doc.changes_since_revision(1)
    assert changes is not None and changes[0].end[0] > 1000  # overlaps everything


def test_unknown_language_has_no_tree_and_huge_documents_skip_parsing() -> None:
    store = DocumentStore()
    assert store.open("file:///a.xyz", "plaintext", 1, "hello").tree is None
    big = "x = 1\n" * 400_000  # 2.4 MB: above the parse limit
    assert store.open("file:///big.py", "python", 1, big).tree is None
