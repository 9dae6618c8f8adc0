"""How the completion rules get the document's tree: lazily, since most keystrokes need
none and a tree after an edit costs a re-parse."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Tree

# The document's tree, or a function that gets it only when a rule needs it (most
# keystrokes need none, and a tree after an edit costs a re-parse).
TreeSource = Union["Tree", Callable[[], "Tree | None"], None]


def resolve_tree(source: TreeSource) -> Tree | None:
    return source() if callable(source) else source
