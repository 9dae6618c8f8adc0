"""The document as a completion worker sees it: copied under the document's lock so the
worker thread never reads a text that didChange is editing, with the other open files
for the repository-form prompt."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsp_server.completion.tree_source import TreeSource

if TYPE_CHECKING:
    from lsprotocol import types
    from tree_sitter import Tree

    from lsp_server.documents import Document
    from lsp_server.extraction.languages import LanguageSpec
    from lsp_server.server import StarcoderServer

MAX_OTHER_FILES = 8


@dataclass
class Snapshot:
    """The document as the worker sees it (taken under the document's lock)."""

    version: int
    text: str
    offset: int
    line: int
    column: int
    line_text: str
    spec: LanguageSpec | None
    tree: TreeSource
    path: str | None
    repo: str | None
    others: list[tuple[str, str]]


class LazyTree:
    """The document's tree at the snapshot's version, parsed only if a rule asks for it
    (None once the document has moved on: the rules then parse the snapshot text)."""

    def __init__(self, doc: Document, version: int) -> None:
        self._doc, self._version = doc, version
        self._tree: Tree | None = None
        self._done = False

    def __call__(self) -> Tree | None:
        if not self._done:
            self._done = True
            with self._doc.lock:
                if self._doc.version == self._version:
                    tree = self._doc.tree
                    # didChange edits the tree in place: keep our own copy
                    self._tree = tree.copy() if tree is not None else None
        return self._tree


def take_snapshot(ls: StarcoderServer, doc: Document, position: types.Position) -> Snapshot:
    encoding = ls.encoding
    with doc.lock:
        version, text = doc.version, doc.text
        line, column = doc.client_to_points(position.line, position.character, encoding)
        offset = doc.offset_at(line, column)
        spec = doc.spec
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_text = text[line_start:len(text) if line_end == -1 else line_end].rstrip("\r")
    path, repo = workspace_paths(ls, doc.uri)
    others: list[tuple[int, str, str]] = []
    for other in ls.documents.all():
        if other.uri == doc.uri:
            continue
        same = spec is not None and other.spec is not None and other.spec.id == spec.id
        others.append((0 if same else 1, workspace_paths(ls, other.uri)[0] or other.uri,
                       other.text))
    others.sort(key=lambda item: (item[0], item[1]))
    return Snapshot(version, text, offset, line, column, line_text, spec,
                    LazyTree(doc, version), path, repo,
                    [(p, c) for _, p, c in others[:MAX_OTHER_FILES]])


def workspace_paths(ls: StarcoderServer, uri: str) -> tuple[str | None, str | None]:
    """Path relative to the workspace root (the repository form's file name) and the
    root's folder name (its repository name)."""
    from pygls.uris import to_fs_path

    fs_path = to_fs_path(uri)
    if not fs_path:
        return None, None
    try:
        root = ls.workspace.root_path
    except RuntimeError:
        root = None
    try:
        inside = bool(root) and os.path.commonpath([root, fs_path]) == os.path.normpath(
            root)
    except ValueError:  # another drive, or a relative path
        inside = False
    if root and inside:
        return (os.path.relpath(fs_path, root).replace(os.sep, "/"),
                os.path.basename(os.path.normpath(root)) or None)
    return os.path.basename(fs_path), None
