"""Open documents: text, version, and one tree-sitter tree each, kept up to date
incrementally.

We keep our own store (rather than pygls' workspace) because incremental tree-sitter
needs the byte offsets of each change *before* it is applied, and because rebasing an
edit onto a document the user changed during generation needs the list of changes made
since a given version.
"""

from __future__ import annotations

import logging
import re
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
_LONE_CR = re.compile(r"\r(?!\n)")


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
    # Our own change counter: rebasing must not trust client versions (a buggy client
    # that repeats a version would make a stale edit look current).
    revision: int = 0
    revisions: deque[tuple[int, Change]] = field(
        default_factory=lambda: deque(maxlen=MAX_HISTORY))
    # A lone "\r" ends a line for the client (LSP) but not for us, so positions after it
    # may differ: once one has been seen (until a full resync), edits are refused.
    lone_cr: bool = False
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
                except UnicodeEncodeError:  # lone surrogates: no UTF-8 for tree-sitter
                    log.info("%s is not valid Unicode; using line-based mode", self.uri)
                    self._tree = None
                except Exception:  # a grammar bug must not take the server down
                    log.exception("tree-sitter failed on %s; using line-based mode", self.uri)
                    self._tree = None
                self._tree_dirty = False
            return self._tree

    @property
    def line_starts(self) -> list[int]:
        """Code-point offset where each line starts (kept up to date by apply_change)."""
        if self._line_starts is None:
            starts = [0]
            find = self.text.find
            at = find("\n")
            while at != -1:
                starts.append(at + 1)
                at = find("\n", at + 1)
            self._line_starts = starts
        return self._line_starts

    def line_text(self, line: int) -> str:
        """One line without its EOL, without splitting the whole text (10 MB files)."""
        starts = self.line_starts
        end = starts[line + 1] - 1 if line + 1 < len(starts) else len(self.text)
        text = self.text[starts[line]:end]
        return text[:-1] if text.endswith("\r") else text

    def offset_at(self, line: int, character: int) -> int:
        """Code-point offset of a (line, code-point column) position, clamped."""
        starts = self.line_starts
        if line < 0:
            return 0
        if line >= len(starts):
            return len(self.text)
        return starts[line] + min(max(character, 0), len(self.line_text(line)))

    def client_to_points(self, line: int, character: int, encoding: str) -> tuple[int, int]:
        """Clamp a client position into the document and convert it to code points."""
        count = len(self.line_starts)
        if line < 0:
            return 0, 0
        if line >= count:
            return count - 1, len(self.line_text(count - 1))
        return line, to_code_points(self.line_text(line), character, encoding)

    def apply_change(
        self, version: int, rng: tuple[tuple[int, int], tuple[int, int]] | None, text: str,
        encoding: str = UTF16,
    ) -> None:
        """Apply one content change (rng None: full replacement) and record it.

        Costs O(size) string work but no re-split of the document, so typing in a 10 MB
        file stays cheap; a failure to update the syntax tree only drops the tree.
        """
        with self.lock:
            starts: list[int] | None = None
            if rng is None:
                # A full replacement overlaps every edit, so rebase never reads its text:
                # keep none (history would otherwise hold up to MAX_HISTORY whole copies).
                change = Change(start=(0, 0), end=(1 << 30, 0), text="")
                self.text = text
                self._tree = None
                self.lone_cr = has_lone_cr(text)
            else:
                start = self.client_to_points(*rng[0], encoding)
                end = self.client_to_points(*rng[1], encoding)
                if end < start:
                    start, end = end, start
                change = Change(start=start, end=end, text=text)
                start_off = self.offset_at(*start)
                end_off = self.offset_at(*end)
                old_text = self.text
                new_text = old_text[:start_off] + text + old_text[end_off:]
                if self._tree is not None:
                    try:
                        self._edit_tree(old_text, start_off, end_off, text)
                    except Exception:  # e.g. lone surrogates cannot be encoded
                        log.debug("incremental tree edit failed; reparsing", exc_info=True)
                        self._tree = None
                starts = _shift_starts(self.line_starts, start[0], end[0], start_off,
                                       end_off, text)
                self.text = new_text
                if not self.lone_cr and "\r" in new_text[max(0, start_off - 1):
                                                         start_off + len(text) + 1]:
                    self.lone_cr = _creates_lone_cr(new_text, start_off, len(text))
            self.version = version
            self.revision += 1
            self._lines = None
            self._line_starts = starts
            self._tree_dirty = True
            self.revisions.append((self.revision, change))

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

    def changes_since_revision(self, revision: int) -> list[Change] | None:
        """Changes made after our `revision`, oldest first; None if history is too short."""
        with self.lock:
            if revision == self.revision:
                return []
            if not self.revisions or self.revisions[0][0] > revision + 1:
                return None
            return [change for r, change in self.revisions if r > revision]


def has_lone_cr(text: str) -> bool:
    """True if `text` has a "\r" not followed by "\n" (an old Mac line end)."""
    return "\r" in text and _LONE_CR.search(text) is not None


def _creates_lone_cr(text: str, start: int, inserted: int) -> bool:
    """Whether a change that put `inserted` characters at `start` left a lone "\r" in
    `text`: only the character before the change or the inserted ones can be new ones."""
    for at in range(max(0, start - 1), start + inserted):
        if text[at] == "\r" and text[at + 1:at + 2] != "\n":
            return True
    return False


def _shift_starts(starts: list[int], first: int, last: int, start_off: int, end_off: int,
                  new: str) -> list[int]:
    """Line starts after lines first..last ([start_off, end_off)) took `new`."""
    added = [start_off + i + 1 for i, ch in enumerate(new) if ch == "\n"] if "\n" in new else []
    delta = len(new) - (end_off - start_off)
    tail = starts[last + 1:]
    if delta:
        tail = [s + delta for s in tail]
    return [*starts[:first + 1], *added, *tail]


class DocumentStore:
    """Open documents by URI. Thread-safe: generation threads read while the event loop
    applies changes."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        doc = Document(uri=uri, language_id=language_id or "", version=version, text=text)
        doc.spec = language_for(language_id, uri)
        doc.lone_cr = has_lone_cr(text)
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
