"""Comment text helpers: strip comment markers, recognise instruction prefixes.

An *instruction* is a comment whose text starts with one of the configured
prefixes (``starcoder:``, ``sc:``, ``TODO:``, ``FIXME:``, ``@starcoder`` by
default; case-insensitive). Every prefix, ``TODO:``/``FIXME:`` included, is
removed and the words that follow are the instruction, verbatim:
``# TODO: handle empty input`` → ``"handle empty input"``. The words are not
rewritten (no capitalisation) so what the model sees is what the user wrote.

Ordinary comments are not instructions; whether a prefix-less comment still
counts (comment-only "generate" mode) is decided by the extractor, which passes
``require_prefix=False``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "DEFAULT_PREFIXES",
    "GUESSED_BLOCK_COMMENTS",
    "GUESSED_LINE_COMMENTS",
    "instruction_from_comment",
    "join_instruction",
    "match_prefix",
    "strip_comment_markers",
    "strip_line_marker",
]

DEFAULT_PREFIXES: tuple[str, ...] = ("starcoder:", "sc:", "TODO:", "FIXME:", "@starcoder")
# Used when the language is unknown: the common markers.
GUESSED_LINE_COMMENTS: tuple[str, ...] = ("//", "--", "#", ";")
GUESSED_BLOCK_COMMENTS: tuple[tuple[str, str], ...] = (("/*", "*/"),)

_SEPARATORS = " \t:,;-\u2013\u2014"


def _tidy(lines: list[str]) -> str:
    """Drop leading/trailing empty lines and collapse runs of empty lines."""
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def strip_line_marker(line: str, markers: Sequence[str]) -> str:
    """*line* (already stripped) without its line-comment marker; markers longest first."""
    for marker in markers:
        if line.startswith(marker):
            rest = line[len(marker) :]
            # Doc/banner variants: ///, //!, ##, ---, #!, #####...
            rest = rest.lstrip(marker[-1])
            if rest.startswith("!"):
                rest = rest[1:]
            return rest.strip()
    return line


def strip_comment_markers(
    text: str,
    line_comments: Sequence[str] = GUESSED_LINE_COMMENTS,
    block_comments: Sequence[tuple[str, str]] = GUESSED_BLOCK_COMMENTS,
) -> str:
    """The words of a comment: markers, ``*`` gutters and edge blank lines removed.

    *text* is one block comment or one or more line comments (one per line).
    Lines are stripped and joined with ``\\n``.
    """
    body = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    line_markers = sorted(line_comments, key=len, reverse=True)
    for opener, closer in sorted(block_comments, key=lambda pair: len(pair[0]), reverse=True):
        if not body.startswith(opener):
            continue
        inner = body[len(opener) :]
        if closer and inner.endswith(closer):
            inner = inner[: -len(closer)]
            if opener.startswith("--") and inner.endswith("--"):
                inner = inner[:-2]  # Lua's "--]]" closing idiom
        gutter = "*" in opener
        if gutter:
            inner = inner.lstrip("*!")  # /** and /*! doc openers
        out: list[str] = []
        for index, raw in enumerate(inner.split("\n")):
            line = raw.strip()
            if gutter and index and line.startswith("*"):
                line = line[1:].strip()
            out.append(line)
        return _tidy(out)
    return _tidy([strip_line_marker(line.strip(), line_markers) for line in body.split("\n")])


@lru_cache(maxsize=32)
def _prefix_re(prefixes: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = []
    for prefix in sorted({p.strip() for p in prefixes if p.strip()}, key=len, reverse=True):
        # A prefix ending in a word character must end a word: "@starcoderx" is no match.
        boundary = r"(?![\w])" if re.match(r"\w", prefix[-1]) else ""
        alternatives.append(re.escape(prefix) + boundary)
    if not alternatives:
        return None
    return re.compile("(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


def match_prefix(line: str, prefixes: Sequence[str] = DEFAULT_PREFIXES) -> str | None:
    """The rest of *line* after an instruction prefix, or None if it has none.

    Case-insensitive; a prefix ending in a letter (``@starcoder``) must end a
    word, and separators after it (``:``, ``,``, ``-``) are dropped.
    """
    pattern = _prefix_re(tuple(prefixes))
    match = pattern.match(line) if pattern is not None else None
    if match is None:
        return None
    return line[match.end() :].lstrip(_SEPARATORS).strip()


def join_instruction(lines: Sequence[str]) -> str:
    """Join instruction lines, keeping the author's line structure."""
    return _tidy([line.strip() for line in lines])


def instruction_from_comment(
    text: str,
    prefixes: Sequence[str] = DEFAULT_PREFIXES,
    *,
    line_comments: Sequence[str] = GUESSED_LINE_COMMENTS,
    block_comments: Sequence[tuple[str, str]] = GUESSED_BLOCK_COMMENTS,
    require_prefix: bool = True,
) -> str | None:
    """The instruction in a comment, without markers and prefix.

    The first line that starts with a prefix begins the instruction; the lines
    after it continue it (joined with newlines). Returns None when no line has a
    prefix (unless ``require_prefix`` is False: then the whole comment text, or
    None when it is empty), and ``""`` for a bare prefix such as ``# sc:``.
    """
    body = strip_comment_markers(text, line_comments, block_comments)
    lines = body.split("\n") if body else []
    for index, line in enumerate(lines):
        rest = match_prefix(line, prefixes)
        if rest is not None:
            return join_instruction([rest, *lines[index + 1 :]])
    if require_prefix:
        return None
    return body or None
