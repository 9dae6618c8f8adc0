"""Give model output the document's indentation.

Models often return an edited method dedented to column 0, with 2-space indentation in
a 4-space file, or with spaces in a tab-indented file. Indentation is syntax in Python
and house style everywhere else, so the answer is re-based onto the target's own indent
and re-expressed in the document's indent unit before it is diffed. Two shapes need
care: a first line written without the indentation the later lines keep (the model
"continued" the indentation it saw), and answers already in the document's unit, whose
relative indentation (continuation lines, odd alignments) must move as it is.
"""

from __future__ import annotations

import re
from collections import Counter

DEFAULT_UNIT = "    "
# Indentation steps considered as candidate units; larger jumps are continuation lines.
_UNIT_RANGE = range(2, 9)
# Column width given to a tab when measuring tab-indented code.
_TAB_WIDTH = 4
# A line that opens a block: what follows it is indented one level deeper.
# What closes a block a line opens, where a closing line marks the block's level.
_CLOSERS = {"{": "}", "(": ")", "[": "]", "do": "end", "then": "end", "begin": "end"}
_OPENS_BLOCK = re.compile(r"(?:[:{(\[\\]|=>|->|\b(?:do|then|begin))[ \t]*$")


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _space_unit(lines: list[str]) -> int | None:
    """Most common increase of indentation between consecutive non-blank lines."""
    steps = _space_steps(lines)
    if not steps:
        return None
    best = max(steps.values())
    return min(step for step, count in steps.items() if count == best)


def _space_steps(lines: list[str]) -> Counter[int]:
    """How often each increase of indentation (in _UNIT_RANGE) occurs between lines."""
    steps: Counter[int] = Counter()
    previous = 0
    for line in lines:
        if not line.strip():
            continue
        indent = _leading(line)
        if "\t" in indent:
            continue
        if len(indent) - previous in _UNIT_RANGE:
            steps[len(indent) - previous] += 1
        previous = len(indent)
    return steps


def _uses_tabs(lines: list[str]) -> bool:
    tabs = sum(1 for line in lines if line.strip() and line.startswith("\t"))
    spaces = sum(1 for line in lines if line.strip() and line.startswith(" "))
    return tabs > spaces


def detect_indent_unit(text: str) -> str:
    """The document's indent unit: "\\t", or N spaces (4 when the text has no evidence)."""
    lines = text.replace("\r\n", "\n").split("\n")
    if _uses_tabs(lines):
        return "\t"
    width = _space_unit(lines)
    return " " * width if width else DEFAULT_UNIT


def reindent(code: str, base_indent: str, indent_unit: str) -> str:
    """`code` with its least-indented lines at `base_indent` and each nesting level one
    `indent_unit`.

    A first line indented less than `base_indent` while the later lines are at or past it
    (and not one level under a block the first line opens) was written without the
    indentation the rest keeps: it is put at `base_indent` first. Code already in the
    document's style (same indent character; for spaces, the document's unit among its
    most common steps) is shifted as it is, so its relative indentation stays exact.
    Otherwise the code's own unit is measured (tabs, or the most common step between
    lines) and re-expressed in `indent_unit`; a line more than one unit deeper than the
    line above (an aligned continuation) keeps its offset from that line, and spaces left
    over after whole levels are kept as spaces. Blank lines come out empty. Lines
    inside multi-line strings are shifted like code, which is what a docstring needs.
    """
    lines = code.replace("\r\n", "\n").split("\n")
    if not any(line.strip() for line in lines):
        return ""
    lines = _restore_first_line_indent(lines, base_indent)
    tabs = _uses_tabs(lines)
    if _in_document_style(lines, tabs, indent_unit):
        shifted = _shift(lines, base_indent)
        if shifted is not None:
            return shifted
    if tabs:
        unit_width = _TAB_WIDTH
    else:
        fallback = len(indent_unit) if indent_unit.strip(" ") == "" and indent_unit else 4
        unit_width = _space_unit(lines) or fallback
    widths = [_columns(_leading(line), unit_width) for line in lines if line.strip()]
    least = min(widths)
    out: list[str] = []
    above: tuple[int, str] | None = None  # the last line's width and its new indentation
    for line in lines:
        if not line.strip():
            out.append("")
            continue
        indent = _leading(line)
        width = _columns(indent, unit_width)
        if above is not None and width - above[0] > unit_width:
            # A continuation line aligned under the line above: keep its offset from it.
            new_indent = above[1] + _as_indent(width - above[0], indent_unit)
        else:
            levels, extra = divmod(width - least, unit_width)
            new_indent = base_indent + indent_unit * levels + " " * extra
        out.append(new_indent + line[len(indent) :])
        above = (width, new_indent)
    return "\n".join(out)


def _as_indent(columns: int, indent_unit: str) -> str:
    """`columns` of indentation in the document's style (tabs of _TAB_WIDTH, then spaces)."""
    if indent_unit == "\t":
        tabs, spaces = divmod(columns, _TAB_WIDTH)
        return "\t" * tabs + " " * spaces
    return " " * columns


def _columns(indent: str, tab_width: int = _TAB_WIDTH) -> int:
    return sum(tab_width if char == "\t" else 1 for char in indent)


def _restore_first_line_indent(lines: list[str], base_indent: str) -> list[str]:
    """`lines` with a first line that lost the indentation the later lines keep put back
    at `base_indent` (in the later lines' indent character)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) < 2:
        return lines
    first, rest = filled[0], filled[1:]
    base = _columns(base_indent)
    head = _columns(_leading(lines[first]))
    floor = min(_columns(_leading(lines[i])) for i in rest)
    if head >= base or floor < base:
        return lines
    opener = _OPENS_BLOCK.search(lines[first].rstrip())
    last = lines[rest[-1]]
    closer = _CLOSERS.get(opener.group(0).strip()) if opener else None
    closes_at_base = bool(closer) and _columns(_leading(last)) == base and last.lstrip(
        " \t").startswith(closer or "")
    if floor == base and opener and not closes_at_base:
        # The later lines sit at `base` under a line that opens a block: the whole answer
        # is dedented (`def f():` at column 0, its body one level in), not its first line.
        # (A block closed at `base`, `}` or `end`, says the opener belonged there.)
        return lines
    tab_style = any("\t" in _leading(lines[i]) for i in rest)
    indent = ("\t" * (base // _TAB_WIDTH) + " " * (base % _TAB_WIDTH)) if tab_style else " " * base
    out = list(lines)
    out[first] = indent + lines[first].lstrip(" \t")
    return out


def _in_document_style(lines: list[str], tabs: bool, indent_unit: str) -> bool:
    """Whether the code is indented like the document: same character and, for spaces,
    the document's unit among the code's most common steps (or no steps at all)."""
    unit_is_tab = indent_unit == "\t"
    if tabs != unit_is_tab:
        return False
    if tabs:  # tabs, perhaps then spaces that align a continuation line
        return not any(line.startswith(" ") for line in lines if line.strip())
    steps = _space_steps(lines)
    if not steps:
        return True
    return steps.get(len(indent_unit), 0) == max(steps.values())


def _shift(lines: list[str], base_indent: str) -> str | None:
    """The lines moved so the least-indented ones sit at `base_indent`, relative
    indentation untouched; None when their indents do not share that prefix."""
    filled = [_leading(line) for line in lines if line.strip()]
    least = min(filled, key=len)
    if not all(indent.startswith(least) for indent in filled):
        return None
    return "\n".join(base_indent + line[len(least) :] if line.strip() else "" for line in lines)
