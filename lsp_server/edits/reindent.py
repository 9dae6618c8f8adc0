"""Give model output the document's indentation.

Models often return an edited method dedented to column 0, with 2-space indentation in
a 4-space file, or with spaces in a tab-indented file. Indentation is syntax in Python
and house style everywhere else, so the answer is re-based onto the target's own indent
and re-expressed in the document's indent unit before it is diffed.
"""

from __future__ import annotations

from collections import Counter

DEFAULT_UNIT = "    "
# Indentation steps considered as candidate units; larger jumps are continuation lines.
_UNIT_RANGE = range(2, 9)
# Column width given to a tab when measuring tab-indented code.
_TAB_WIDTH = 4


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _space_unit(lines: list[str]) -> int | None:
    """Most common increase of indentation between consecutive non-blank lines."""
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
    if not steps:
        return None
    best = max(steps.values())
    return min(step for step, count in steps.items() if count == best)


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

    The code's own unit is measured from the code (tabs, or the most common step between
    lines); spaces left over after whole levels (aligned continuation lines) are kept as
    spaces. Blank lines come out empty. Lines inside multi-line strings are shifted like
    code, which is what a docstring needs.
    """
    lines = code.replace("\r\n", "\n").split("\n")
    if not any(line.strip() for line in lines):
        return ""
    if _uses_tabs(lines):
        unit_width = _TAB_WIDTH
    else:
        fallback = len(indent_unit) if indent_unit.strip(" ") == "" and indent_unit else 4
        unit_width = _space_unit(lines) or fallback

    def columns(indent: str) -> int:
        return sum(unit_width if char == "\t" else 1 for char in indent)

    widths = [columns(_leading(line)) for line in lines if line.strip()]
    least = min(widths)
    out: list[str] = []
    for line in lines:
        if not line.strip():
            out.append("")
            continue
        indent = _leading(line)
        levels, extra = divmod(columns(indent) - least, unit_width)
        out.append(base_indent + indent_unit * levels + " " * extra + line[len(indent) :])
    return "\n".join(out)
