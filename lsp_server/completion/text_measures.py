"""Measures of the text around the cursor shared by the prompt window, the multi-line
decision and trimming: line bounds, indentation width, bracket balance. Plain string
arithmetic, cheap enough for every keystroke."""

from __future__ import annotations

_CLOSERS = set(")]}>\"'`;:, \t")
_PAIRS = {")": "(", "]": "[", "}": "{"}


def closers_only(rest: str) -> bool:
    """True for text after the cursor that is only closing brackets, quotes and
    punctuation (what an editor's auto-pairing leaves there)."""
    return all(ch in _CLOSERS for ch in rest)


def line_bounds(text: str, offset: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return start, len(text) if end == -1 else end


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def indent_width(line: str, tab: int = 4) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += tab
        else:
            break
    return width


def imbalance(text: str) -> int:
    """Unmatched brackets and unclosed quotes, per line for quotes (a rough measure to
    compare candidates, not a parser)."""
    stack: list[str] = []
    bad = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote or (ch == "\n" and quote != "`"):
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in _PAIRS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
            else:
                bad += 1
    return bad + len(stack) + (1 if quote else 0)
