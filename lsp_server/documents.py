"""Open documents: text, version, and one tree-sitter tree each, kept up to date
incrementally.

We keep our own store (rather than pygls' workspace) because incremental tree-sitter
needs the byte offsets of each change *before* it is applied, and because rebasing an
edit onto a document the user changed during generation needs the list of changes made
since a given version.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsp_server.edits.rebase import Change
from lsp_server.extraction.languages import LanguageSpec, language_for, parse
from lsp_server.positions import UTF16, split_lines, to_code_points

if TYPE_CHECKING:
    from tree_sitter import Tree

log = logging.getLogger(__name__)

# Above this size a document is handled line-based (no tree-sitter): parsing 10 MB on
# every keystroke would stall the server, and no edit target needs a tree that big.
MAX_PARSE_BYTES = 2_000_000
# Changes remembered per document for rebasing edits computed on older versions.
MAX_HISTORY = 500


@dataclass
class Document:
    uri: str
    language_id: str
    version: int
    text: str
    spec: LanguageSpec | None = None
    _tree: Tree | None = None
    _tree_dirty: bool = True
    _lines: list[str] | None = None
    _line_starts: list[int] | None = None
    # (version after the change, change in code points on the text before it)
    history: deque[tuple[int, Change]] = field(default_factory=lambda: deque(maxlen=MAX_HISTORY))
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def lines(self) -> list[str]:
        """Lines without EOLs (cached per version)."""
        if self._lines is None:
            self._lines = split_lines(self.text)
        return self._lines

    @property
    def tree(self) -> Tree | None:
        """The syntax tree, re-parsed incrementally on first use after changes."""
        with self.lock:
            if self.spec is None or len(self.text) > MAX_PARSE_BYTES:
                return None
            if self._tree_dirty or self._tree is None:
                try:
                    self._tree = parse(self.spec, self.text.encode("utf-8"), self._tree)
                except Exception:  # a grammar bug must not take the server down
                    log.exception("tree-sitter failed on %s; using line-based mode", self.uri)
                    self._tree = None
                self._tree_dirty = False
            return self._tree

    @property
    def line_starts(self) -> list[int]:
        """Code-point offset where each line starts (cached per version)."""
        if self._line_starts is None:
            starts = [0]
            find = self.text.find
            at = find("\n")
            while at != -1:
                starts.append(at + 1)
                at = find("\n", at + 1)
            self._line_starts = starts
        return self._line_starts

    def offset_at(self, line: int, character: int) -> int:
        """Code-point offset of a (line, code-point column) position, clamped."""
        lines = self.lines
        if line < 0:
            return 0
        if line >= len(lines):
            return len(self.text)
        return self.line_starts[line] + min(max(character, 0), len(lines[line]))

    def client_to_points(self, line: int, character: int, encoding: str) -> tuple[int, int]:
        """Clamp a client position into the document and convert it to code points."""
        lines = self.lines
        if line < 0:
            return 0, 0
        if line >= len(lines):
            return len(lines) - 1, len(lines[-1])
        return line, to_code_points(lines[line], character, encoding)

    def apply_change(
        self, version: int, rng: tuple[tuple[int, int], tuple[int, int]] | None, text: str,
        encoding: str = UTF16,
    ) -> None:
        """Apply one content change (rng None: full replacement) and record it."""
        with self.lock:
            if rng is None:
                start, end = (0, 0), (len(self.lines), 0)
                change = Change(start=start, end=(1 << 30, 0), text=text)
                self.text = text
                self._tree = None
            else:
                start = self.client_to_points(*rng[0], encoding)
                end = self.client_to_points(*rng[1], encoding)
                if end < start:
                    start, end = end, start
                change = Change(start=start, end=end, text=text)
                start_off = self.offset_at(*start)
                end_off = self.offset_at(*end)
                old_text = self.text
                self.text = old_text[:start_off] + text + old_text[end_off:]
                if self._tree is not None:
                    self._edit_tree(old_text, start_off, end_off, text)
            self.version = version
            self._lines = None
            self._line_starts = None
            self._tree_dirty = True
            self.history.append((version, change))

    def _edit_tree(self, old_text: str, start: int, end: int, new: str) -> None:
        """Tell tree-sitter which bytes changed, so the next parse is incremental."""
        assert self._tree is not None

        def point(text: str, offset: int) -> tuple[int, int]:
            row = text.count("\n", 0, offset)
            line_start = text.rfind("\n", 0, offset) + 1
            return row, len(text[line_start:offset].encode("utf-8"))

        start_byte = len(old_text[:start].encode("utf-8"))
        old_end_byte = start_byte + len(old_text[start:end].encode("utf-8"))
        new_end_byte = start_byte + len(new.encode("utf-8"))
        new_text_prefix = old_text[:start] + new
        self._tree.edit(
            start_byte=start_byte,
            old_end_byte=old_end_byte,
            new_end_byte=new_end_byte,
            start_point=point(old_text, start),
            old_end_point=point(old_text, end),
            new_end_point=point(new_text_prefix, len(new_text_prefix)),
        )

    def changes_since(self, version: int) -> list[Change] | None:
        """Changes made after `version`, oldest first; None if history no longer reaches."""
        with self.lock:
            if version == self.version:
                return []
            changes = [change for v, change in self.history if v > version]
            if not self.history or self.history[0][0] > version + 1:
                return None
            return changes


class DocumentStore:
    """Open documents by URI. Thread-safe: generation threads read while the event loop
    applies changes."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        doc = Document(uri=uri, language_id=language_id or "", version=version, text=text)
        doc.spec = language_for(language_id, uri)
        with self._lock:
            self._docs[uri] = doc
        return doc

    def get(self, uri: str) -> Document | None:
        with self._lock:
            return self._docs.get(uri)

    def close(self, uri: str) -> None:
        with self._lock:
            self._docs.pop(uri, None)

    def all(self) -> list[Document]:
        with self._lock:
            return list(self._docs.values())


def change_range(change: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Range of an lsprotocol content change event, None for a full-text change."""
    rng = getattr(change, "range", None)
    if rng is None:
        return None
    return (rng.start.line, rng.start.character), (rng.end.line, rng.end.character)
