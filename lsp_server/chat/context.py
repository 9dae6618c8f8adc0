"""The code attached to a conversation (context chips), read from the open documents.

Only what the editor sent is used, never a file from disk: a chip whose document is not
open is reported back instead of read. A chip is a whole file or the lines of a
selection; the budget may later show only a window of its lines, centred on the selection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from lsp_server.chat.params import ContextRef
from lsp_server.documents import DocumentStore
from lsp_server.prompts.chat import ContextBlock


@dataclass(frozen=True)
class Chip:
    uri: str
    path: str  # shown to the model and the user
    fence: str
    lines: tuple[str, ...]  # the lines it may show (the selection's, or the whole file)
    first: int  # 0-based document line of lines[0]
    whole_file: bool
    # The lines the user pointed at, 0-based inclusive (a window is centred on them).
    focus: tuple[int, int]

    def block(self, window: tuple[int, int] | None = None) -> ContextBlock:
        """The chip's code, all of it or the document lines `window` (0-based, inclusive)."""
        if window is None:
            start, end = self.first, self.first + len(self.lines) - 1
        else:
            start, end = window
        code = "\n".join(self.lines[start - self.first:end - self.first + 1])
        shown_all = window is None or (start, end) == (self.first,
                                                       self.first + len(self.lines) - 1)
        if self.whole_file and shown_all:
            return ContextBlock(self.path, self.fence, code)
        return ContextBlock(self.path, self.fence, code, start + 1, end + 1)

    @property
    def span(self) -> tuple[int, int]:
        """Document lines it covers, 0-based inclusive."""
        return self.first, self.first + len(self.lines) - 1


def display_path(uri: str, roots: Iterable[str]) -> str:
    """The document's path relative to the workspace folder holding it, else its full path
    (or, for an unsaved buffer, its name)."""
    parsed = urlparse(uri)
    path = unquote(parsed.path) or uri
    for root in roots:
        root_path = unquote(urlparse(root).path).rstrip("/")
        if root_path and path.startswith(root_path + "/"):
            return path[len(root_path) + 1:]
    return path if parsed.scheme == "file" else PurePosixPath(path).name or path


def resolve_chips(refs: Sequence[ContextRef], documents: DocumentStore, roots: Sequence[str]
                  ) -> tuple[list[Chip], list[str]]:
    """The chips of `refs`, and the URIs that are not open (left out, reported)."""
    chips: list[Chip] = []
    missing: list[str] = []
    for ref in refs:
        doc = documents.get(ref.uri)
        if doc is None:
            missing.append(ref.uri)
            continue
        with doc.lock:
            lines = [line.rstrip("\r") for line in doc.lines]
            spec = doc.spec
        if lines and lines[-1] == "" and len(lines) > 1:
            lines.pop()  # the empty "line" after a final newline
        last = max(0, len(lines) - 1)
        fence = spec.fence if spec else ""
        path = display_path(ref.uri, roots)
        if ref.start is None or ref.end is None:
            chips.append(Chip(ref.uri, path, fence, tuple(lines), 0, True, (0, 0)))
            continue
        first = min(ref.start.line, last)
        end = ref.end.line
        if ref.end.character == 0 and end > ref.start.line:
            end -= 1  # a selection of whole lines ends at the start of the next
        end = max(first, min(end, last))
        chips.append(Chip(ref.uri, path, fence, tuple(lines[first:end + 1]), first, False,
                          (first, end)))
    return _focus_files_on_selections(chips), missing


def _focus_files_on_selections(chips: list[Chip]) -> list[Chip]:
    """A whole-file chip is trimmed around the selection attached from the same file."""
    selections = {c.uri: c.focus for c in chips if not c.whole_file}
    return [Chip(c.uri, c.path, c.fence, c.lines, c.first, True, selections[c.uri])
            if c.whole_file and c.uri in selections else c for c in chips]
