"""Code fences in a model's answer: which lines open a block, close it, or only mention one.

CommonMark's rules, narrowed to what answers hold: a fence line has at most three spaces of
indentation, three or more backticks and an info string without backticks, so inline code
in a sentence (```x``` or `cmd+click`) is text. Two shapes go beyond CommonMark because
models write them: a closing fence glued to the last code line (`}```), and documents that
themselves hold fenced blocks (Markdown, reStructuredText) nested inside the answer's outer
fence, sometimes untagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(`{3,})[ \t]*([^`]*?)[ \t]*$")
# Code, then a run of backticks ending the line: a closing fence glued to the code.
_GLUED = re.compile(r"^(.*?\S)[ \t]*(`{3,})[ \t]*$")
_TRIPLE = re.compile(r"`{3,}")
# An info string's first word that is a file name, not a language (`example.py`, `src/a.ts`).
_FILE_NAME = re.compile(r"^[\w.-]*[./][\w./-]*$")

# Fence tags of documents whose text may itself contain fenced blocks.
DOCUMENT_TAGS = frozenset({
    "md", "markdown", "gfm", "mdx", "rmd", "qmd", "rst", "rest", "restructuredtext",
    "asciidoc", "adoc", "text", "txt", "plaintext",
})
# Other names models give a language than the one in the language table.
TAG_ALIASES = {
    "py": "python", "python3": "python", "js": "javascript", "node": "javascript",
    "jsx": "javascript", "typescript": "ts", "golang": "go", "rs": "rust", "c++": "cpp",
    "cxx": "cpp", "cc": "cpp", "hpp": "cpp", "h": "c", "cs": "csharp", "c#": "csharp",
    "rb": "ruby", "sh": "bash", "shell": "bash", "zsh": "bash", "console": "bash",
    "markdown": "md", "gfm": "md",
}


@dataclass(frozen=True)
class Fence:
    """A fence line: its backtick count and its info string ("" for a bare fence)."""

    ticks: int
    info: str

    @property
    def bare(self) -> bool:
        return not self.info

    @property
    def tag(self) -> str:
        """The language named by the info string, canonical and lower case; "" when the
        fence names none or only a file (```` ```markdown README.md ````, ```` ```py:a.py ````)."""
        return canonical_tag(self.info)


@dataclass(frozen=True)
class Close:
    """Where the fence opened before the scanned lines closes."""

    index: int  # the closing line's index; len(lines) when the block is never closed
    glued: str | None = None  # the code before a closing fence glued to it, kept


def canonical_tag(info: str) -> str:
    """The language an info string names ("" for none), with aliases resolved."""
    word = info.strip().split(None, 1)[0] if info.strip() else ""
    word = word.split(":", 1)[0].strip("{}.").lower()  # ```python:src/a.py, ```{.python}
    if not word or _FILE_NAME.match(word):
        return ""
    return TAG_ALIASES.get(word, word)


def same_language(tag: str, fence: str) -> bool:
    """Whether a block tagged `tag` is in the language whose fence is `fence`."""
    return canonical_tag(tag) == canonical_tag(fence)


def parse_fence(line: str) -> Fence | None:
    """The fence on `line`, or None when the line is not a fence line."""
    match = _FENCE.match(line)
    return Fence(len(match.group(1)), match.group(2)) if match else None


def glued_close(line: str) -> tuple[str, int] | None:
    """(code, backticks) when `line` is code with a closing fence glued to its end.

    Inline code is not taken for a fence: the code part must hold no other run of three
    backticks (```` echo ```x``` ```` is one line of text) and must not be blank.
    """
    if parse_fence(line) is not None:
        return None
    match = _GLUED.match(line)
    if match is None or _TRIPLE.search(match.group(1)):
        return None
    return match.group(1), len(match.group(2))


def holds_fences(text: str) -> bool:
    """Whether `text` has fence lines of its own (a document with fenced blocks)."""
    return any(parse_fence(line) is not None for line in text.split("\n"))


def is_document_tag(tags: Iterable[str]) -> bool:
    return any(canonical_tag(tag) in DOCUMENT_TAGS for tag in tags if tag)


def find_close(lines: Sequence[str], ticks: int, *, document: bool) -> Close:
    """Where the block whose opening fence (of `ticks` backticks) came just before `lines`
    closes.

    Inside it, a tagged fence opens an inner block that the next bare fence closes. In
    code, the first bare fence (or glued close) of at least `ticks` backticks closes the
    block. In a document bare fences also open untagged inner blocks, so they pair up:
    an odd number of them means the last one is the close; an even number means the
    inner blocks are all paired and the close, if any, is glued to a line after them.
    """
    inner: int | None = None  # backticks of the inner block open now
    bare: list[int] = []  # bare fences outside inner blocks (document mode)
    glued: list[tuple[int, str]] = []  # glued closes outside inner blocks (document mode)
    for index, line in enumerate(lines):
        fence = parse_fence(line)
        if inner is not None:
            if _closes(line, fence, inner):
                inner = None
            continue
        if fence is not None:
            if not fence.bare or fence.ticks < ticks:
                inner = fence.ticks
            elif document:
                bare.append(index)
            else:
                return Close(index)
            continue
        end = glued_close(line)
        if end is not None and end[1] >= ticks:
            if not document:
                return Close(index, end[0])
            glued.append((index, end[0]))
    if len(bare) % 2:
        return Close(bare[-1])
    after = bare[-1] if bare else -1
    for index, code in glued:
        if index > after:
            return Close(index, code)
    return Close(len(lines))


def _closes(line: str, fence: Fence | None, ticks: int) -> bool:
    """Whether `line` closes a block opened with `ticks` backticks."""
    if fence is not None:
        return fence.bare and fence.ticks >= ticks
    end = glued_close(line)
    return end is not None and end[1] >= ticks


def block_lines(lines: Sequence[str], close: Close) -> list[str]:
    """The lines before `close`, with the code of a glued close."""
    body = list(lines[: close.index])
    if close.glued is not None:
        body.append(close.glued)
    return body
