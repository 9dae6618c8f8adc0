"""Tell English around an answer's code from the code: a preamble before it ("Here is the
updated function:", "Sure!" and a blank line), prose paragraphs after it.

Deliberately conservative: leaving a stray prose line in is visible and easy to undo,
deleting a line of code is not. A line that the original code already holds is never
taken for prose, whatever it looks like (Markdown documents are prose).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

# A line of English prose: a capitalised word, then at least three more words, and none of
# the punctuation that marks code. Lowercase code keywords and ALL-CAPS SQL never match.
_PROSE_LINE = re.compile(r"^[A-Z][a-z'’]*,?(?:[ \t]+\S+){3,}[ \t]*$")
_CODE_MARKS = re.compile(r"[;{}=]|^\s|[ \t]->|=>|::")
# A preamble line: prose ending with a colon ("Here is the updated function:").
_COLON_PREAMBLE = re.compile(r"^[A-Z][A-Za-z'’]*[!,.]?(?:[ \t]+[\w'’`.,()-]+){1,}[ \t]*:[ \t]*$")
# How answers open before their code (Continue's, Cody's and Aider's suites see the same).
_OPENERS = re.compile(
    r"^(?:here(?:'s|’s|\s+is|\s+are)|sure\b|certainly\b|of\s+course\b|okay\b|ok\b|alright\b"
    r"|absolutely\b|below\s+is|the\s+following\b|this\s+is\s+the\b|i(?:'ve|’ve|\s+have|'ll"
    r"|’ll|\s+will|\s+added|\s+updated|\s+changed|\s+rewrote|\s+fixed|\s+made)\b"
    r"|the\s+(?:updated|corrected|rewritten|fixed|modified|refactored|new)\b"
    r"|the\s+code\s+should\b|to\s+fill\b)",
    re.IGNORECASE,
)
# Longest line still taken for a short preamble sentence, in words.
_PREAMBLE_MAX_WORDS = 30
# A line that only names a file ("example.py", "`src/a.ts`:", "**main.go**").
_FILE_LINE = re.compile(r"^[`*#\s]*[\w./-]*\w\.\w+[`*:\s]*$")


def is_prose(line: str) -> bool:
    """A full English sentence with no code punctuation (trailing explanations)."""
    return bool(_PROSE_LINE.match(line)) and not _CODE_MARKS.search(line)


def is_preamble(line: str, following: str | None) -> bool:
    """Whether `line` is a short English opener before the code.

    It starts like one ("Here is", "Sure", "I've updated") and ends a sentence or is
    followed by a blank line, or it is a prose line ending in a colon. Inline backticks
    are fine (``Here's the updated `area` function:``); code punctuation is not.
    """
    text = line.strip()
    if not text or _CODE_MARKS.search(line) or len(text.split()) > _PREAMBLE_MAX_WORDS:
        return False
    if _OPENERS.match(text):
        return text[-1] in ":!.," or following is None or not following.strip()
    return bool(_COLON_PREAMBLE.match(text)) and bool(
        re.match(r"^(?:Here|Sure|Certainly|Below|The|This|Okay|OK|Of course|I)\b", text)
    )


def is_file_line(line: str) -> bool:
    """A line that only names a file, as models write it before a fenced block."""
    return bool(_FILE_LINE.match(line))


def strip_preamble(lines: list[str], known: Collection[str] = ()) -> list[str]:
    """`lines` without the English opener lines before the code (at most two), unless
    they are lines of the original code (`known`) or nothing would remain."""
    for _ in range(2):
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is None or lines[first].strip() in known:
            return lines
        following = lines[first + 1] if first + 1 < len(lines) else None
        rest = lines[first + 1 :]
        if not is_preamble(lines[first], following) or not any(line.strip() for line in rest):
            return lines
        lines = rest
    return lines


def strip_trailing_prose(lines: Sequence[str], known: Collection[str] = ()) -> list[str]:
    """`lines` without trailing paragraphs (after a blank line) made only of prose lines
    that the original code does not hold; never the whole answer."""
    out = list(lines)
    while True:
        while out and not out[-1].strip():
            out.pop()
        blanks = [i for i, line in enumerate(out) if not line.strip()]
        if not blanks:
            return out  # no blank line: never strip the whole answer
        paragraph = out[blanks[-1] + 1 :]
        if not paragraph or not all(is_prose(line) and line.strip() not in known
                                    for line in paragraph):
            return out
        del out[blanks[-1] :]
