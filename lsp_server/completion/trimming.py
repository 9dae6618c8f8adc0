"""Trimming what the model wrote into what the editor shows: the rules of postprocess()
(whole lines, single line, code already there, block end by syntax or indentation, the
rest of the cursor line, indentation style), each a function of text and tree."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsp_server.completion.text_measures import (
    closers_only,
    imbalance,
    indent_width,
    line_bounds,
    utf8_length,
)
from lsp_server.completion.tree_source import TreeSource, resolve_tree
from lsp_server.extraction.languages import LanguageSpec, parse

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Node, Tree

log = logging.getLogger(__name__)

# Without the document's tree, trimming parses the whole text only up to this size.
MAX_PARSE_CHARS = 300_000
# Block-like nodes beyond the spec's definition/block/class kinds: bodies and literal
# containers whose end is where a completion started inside them must stop.
_GENERIC_SCOPES = frozenset({
    "block", "statement_block", "compound_statement", "declaration_list",
    "field_declaration_list", "class_body", "interface_body", "enum_body",
    "enum_variant_list", "body_statement", "do_group", "do_block", "switch_body",
    "switch_block", "constructor_body", "object", "dictionary", "list", "set", "tuple",
    "array", "argument_list", "arguments", "table_constructor", "hash", "initializer_list",
    "list_comprehension", "dictionary_comprehension", "object_type", "match_block",
    "use_list", "field_initializer_list", "template_string", "jsx_element",
})
_CLOSING_WORDS = ("end", "fi", "done", "esac", "until")


@dataclass
class Cleaned:
    """The completion to show: insert `text` at the cursor, replacing `replace_chars`
    characters after it on its line (0: a plain insertion). `trims` says which rules
    cut it (for stats)."""

    text: str
    replace_chars: int = 0
    trims: list[str] = field(default_factory=list)


def _first_nonblank_after_line(text: str, offset: int) -> str | None:
    _, line_end = line_bounds(text, offset)
    pos = line_end
    while pos < len(text):
        nxt = text.find("\n", pos + 1)
        end = len(text) if nxt == -1 else nxt
        line = text[pos + 1:end].rstrip("\r")
        if line.strip():
            return line
        pos = end
    return None


def cut_at_existing_line(completion: str, text: str, offset: int) -> str:
    """Cut where the completion starts repeating the next non-blank line after the cursor
    line (same indentation and text): that code is already there."""
    target = _first_nonblank_after_line(text, offset)
    if target is None:
        return completion
    target = target.rstrip()
    lines = completion.split("\n")
    for index in range(1, len(lines)):
        if lines[index].rstrip() == target:
            return "\n".join(lines[:index])
    return completion


def _is_scope(node: Node, spec: LanguageSpec) -> bool:
    kind = node.type
    return (kind in _GENERIC_SCOPES or kind in spec.block_node_types
            or kind in spec.definition_node_types or kind in spec.class_node_types
            or kind.endswith("_body") or kind.endswith("_block"))


def _top_level_window(text: str, offset: int, tree: Tree) -> tuple[str, int]:
    """The top-level statements around the cursor (from the document's own tree): the
    last one starting before it through the first one ending after it. Parsing only this
    keeps trimming at a few hundred microseconds in large files, and top-level
    statements parse the same on their own."""
    data = text.encode("utf-8")
    s = len(text[:offset].encode("utf-8"))
    start, end = 0, len(data)
    for child in tree.root_node.children:
        if child.start_byte < s:
            start = child.start_byte
        if child.end_byte > s:
            end = max(child.end_byte, s)
            break
    if start == 0 and end == len(data):
        return text, offset
    head = data[start:s].decode("utf-8", "ignore")
    return head + data[s:end].decode("utf-8", "ignore"), len(head)


def scope_end_cut(text: str, offset: int, completion: str, spec: LanguageSpec,
                  tree: Tree | None = None) -> tuple[int | None, bool]:
    """Where the completion leaves the syntactic block the cursor is in.

    Parses document-with-completion (with `tree`, the document's own tree, only the
    top-level statements around the cursor) and finds the innermost block-like node that
    starts before the cursor and extends past it. If that node ends inside the completion,
    the completion is cut at the end of that line. At top level, the completion keeps the
    one statement or definition it writes. Returns (index in `completion` or None,
    whether an ERROR node surrounds the cursor: then the caller also applies the
    indentation rule).
    """
    if tree is not None:
        text, offset = _top_level_window(text, offset, tree)
    elif len(text) > MAX_PARSE_CHARS:
        return None, True
    before, after = text[:offset], text[offset:]
    data = (before + completion + after).encode("utf-8")
    s = utf8_length(before)
    e = s + utf8_length(completion)
    try:
        new_tree = parse(spec, data)
    except Exception:  # a grammar failure must not break completion
        log.debug("tree-sitter failed while trimming a completion", exc_info=True)
        return None, True
    root = new_tree.root_node
    node: Node | None = root.descendant_for_byte_range(s, s)
    scope: Node | None = None
    in_error = False
    while node is not None and node.parent is not None:
        if node.type == "ERROR":
            in_error = True
        elif node.start_byte < s < node.end_byte and _is_scope(node, spec):
            scope = node
            break
        node = node.parent
    if scope is not None:
        end = scope.end_byte
    else:
        in_error = in_error or root.has_error
        first = next((c for c in root.children if c.end_byte > s), None)
        if first is None or first.start_byte >= e:
            return None, in_error
        end = first.end_byte
    if end >= e:
        return None, in_error
    cut = len(data[s:end].decode("utf-8", "ignore"))
    newline = completion.find("\n", cut)
    return (len(completion) if newline == -1 else newline), in_error


def indent_end_cut(text: str, offset: int, completion: str) -> int | None:
    """Language-neutral block end: the first later line indented less than the block the
    cursor writes in. A closing line (`}`, `end`…) back at the opener's indentation is
    kept (it closes what the completion opened) and the cut comes after it."""
    line_start, _ = line_bounds(text, offset)
    line = text[line_start:offset]
    line_indent = indent_width(line)
    opener_indent = line_indent
    if not line.strip():
        base = line_indent
        # the line that opened the block: the nearest one above indented less
        pos = line_start - 1
        while pos > 0:
            above_start = text.rfind("\n", 0, pos) + 1
            above = text[above_start:pos]
            if above.strip() and indent_width(above) < base:
                opener_indent = indent_width(above)
                break
            pos = above_start - 1
        else:
            opener_indent = 0
    elif line.rstrip()[-1:] in "{([:" or line.rstrip().endswith((" do", " then")):
        base = line_indent + 1
    else:
        base = line_indent
    lines = completion.split("\n")
    pos = len(lines[0])
    for current in lines[1:]:
        start = pos + 1
        pos = start + len(current)
        body = current.strip()
        if not body or indent_width(current) >= base:
            continue
        closing = body[0] in ")]}" or body.split()[0] in _CLOSING_WORDS
        if closing and indent_width(current) == opener_indent:
            return pos
        return start - 1
    return None


def merge_rest_of_line(completion: str, line_before: str, rest: str) -> tuple[str, int, str]:
    """Avoid doubling what follows the cursor on its line (`foo(|)` and a completion
    `x)`): strip an overlapping tail, or replace the rest of the line when the completion
    already rewrote it, whichever balances brackets and quotes best. Returns (text,
    chars after the cursor to replace, rule applied or "")."""
    if not rest.strip() or not completion:
        return completion, 0, ""
    best = (imbalance(line_before + completion + rest), completion, 0, "")
    for k in range(min(len(rest), len(completion)), 0, -1):
        piece = rest[:k]
        if piece.strip() and completion.endswith(piece):
            candidate = completion[:-k]
            score = imbalance(line_before + candidate + rest)
            if score < best[0]:
                best = (score, candidate, 0, "rest_overlap")
    if closers_only(rest) and "\n" in completion:
        score = imbalance(line_before + completion)
        if score < best[0]:
            best = (score, completion, len(rest), "rest_replaced")
    return best[1], best[2], best[3]


def normalize_indent(completion: str, unit: str, *, first_line_is_indent: bool) -> str:
    """Re-express leading whitespace in the document's unit: tabs in a space-indented
    file become spaces and the other way round. Only the style changes, never depth."""
    lines = completion.split("\n")
    for index, line in enumerate(lines):
        if index == 0 and not first_line_is_indent:
            continue
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        if not lead:
            continue
        if unit == "\t" and " " in lead:
            width = indent_width(lead)
            new = "\t" * (width // 4) + " " * (width % 4)
        elif unit != "\t" and "\t" in lead:
            new = lead.replace("\t", " " * max(1, len(unit)))
        else:
            continue
        lines[index] = new + line[len(lead):]
    return "\n".join(lines)


def whole_lines(completion: str) -> str:
    """Drop an unfinished last line (generation was stopped mid-line)."""
    newline = completion.rfind("\n")
    return "" if newline == -1 else completion[:newline]


def postprocess(raw: str, *, text: str, offset: int, multiline: bool,
                spec: LanguageSpec | None = None, tree: TreeSource = None,
                indent_unit: str | Callable[[], str] = "    ", stopped_early: bool = False,
                length_limited: bool = False) -> Cleaned:
    """Turn the model's middle into what the editor shows.

    `stopped_early`: the time budget (or a cancel) ended generation, so only whole lines
    are kept. `length_limited`: max tokens ended it; an unfinished last line is dropped
    when there is at least one whole line before it.
    """
    result = Cleaned(raw.replace("\r\n", "\n"))
    trims = result.trims
    completion = result.text
    if stopped_early:
        completion = whole_lines(completion)
        trims.append("budget")
    elif length_limited and "\n" in completion.rstrip("\n"):
        completion = whole_lines(completion)
        trims.append("length")
    if not multiline:
        if "\n" in completion:
            completion = completion.split("\n", 1)[0]
            trims.append("single_line")
    else:
        shorter = cut_at_existing_line(completion, text, offset)
        if shorter != completion:
            completion = shorter
            trims.append("existing_line")
        cut: int | None = None
        several = "\n" in completion.rstrip()
        use_indent = spec is None and several
        if spec is not None and several:
            cut, use_indent = scope_end_cut(text, offset, completion, spec, resolve_tree(tree))
        if use_indent:
            by_indent = indent_end_cut(text, offset, completion)
            if by_indent is not None and (cut is None or by_indent < cut):
                cut = by_indent
        if cut is not None and cut < len(completion):
            if completion[cut:].strip():
                trims.append("block_end")
            completion = completion[:cut]
    completion = completion.rstrip()
    line_start, line_end = line_bounds(text, offset)
    completion, replace, rule = merge_rest_of_line(completion, text[line_start:offset],
                                                   text[offset:line_end])
    if rule:
        trims.append(rule)
    first_is_indent = not text[line_start:offset].strip()
    if "\n" in completion or (first_is_indent and completion[:1] in " \t"):
        unit = indent_unit() if callable(indent_unit) else indent_unit
        completion = normalize_indent(completion, unit, first_line_is_indent=first_is_indent)
    if not completion.strip():
        completion, replace = "", 0
    result.text, result.replace_chars = completion, replace
    return result
