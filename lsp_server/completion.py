"""Inline completion, the pure part: the fill-in-the-middle prompt and the clean-up of
what the model wrote. No LSP and no model here: everything is a function of text (and a
tree-sitter tree), so the rules are unit-tested as tables.

Prompt layout and why (llama.cpp keeps the longest common *token prefix* of consecutive
prompts in its KV cache; the transformers backend does the same with a prefix cache):

* StarCoder2's repository form, in the order it was trained on (bigcode Megatron-LM
  applies FIM to each `<file_sep>` fragment, so the file path sits *inside* the FIM
  prefix)::

      <repo_name>R<file_sep>other.py\\n…<file_sep><fim_prefix>path\\nPREFIX<fim_suffix>SUFFIX<fim_middle>

  Other open files come first: they do not change while the user types here.
* PSM is the default. Typing changes the end of PREFIX, so what follows it (SUFFIX and
  `<fim_middle>`) is evaluated again on every request; the suffix window is therefore
  kept small relative to the prompt (`SUFFIX_SHARE`). SPM (`<fim_prefix><fim_suffix>S
  <fim_middle>P`, also trained: Megatron-LM's fim_spm_rate defaults to 0.5) puts the
  volatile prefix last and re-evaluates almost nothing while typing, but any change
  after the cursor (moving to another line, editing below) re-evaluates the whole file
  part, where PSM only re-evaluates its small suffix; SPM is available as `order=SPM`
  and measured in bench/fim.py.
* The prefix window starts at a line boundary snapped to a grid of `prefix_chars / 4`
  characters, so it moves in large, rare steps instead of on every keystroke.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from lsp_server.extraction.languages import LanguageSpec, parse
from lsp_server.prompts import fim_prompt
from lsp_server.prompts import templates as t

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Node, Tree

log = logging.getLogger(__name__)

# The document's tree, or a function that gets it only when a rule needs it (most
# keystrokes need none, and a tree after an edit costs a re-parse).
TreeSource = Union["Tree", Callable[[], "Tree | None"], None]

PSM, SPM = "psm", "spm"
DEFAULT_ORDER = PSM
# In PSM the suffix is re-evaluated on every request: keep it at most this share of
# the text before it (and never above FimBudget.suffix_chars).
SUFFIX_SHARE = 0.06
# ...but a few lines of suffix are always given (small files have a small prefix).
SUFFIX_FLOOR_CHARS = 160
# The rest of the cursor line is always kept (closing brackets matter), up to this.
MAX_REST_CHARS = 240
# Without the document's tree, trimming parses the whole text only up to this size.
MAX_PARSE_CHARS = 300_000

# Model special tokens: text in a document that spells one must not become the token.
_SPECIAL_RE = re.compile(
    r"<(fim_prefix|fim_suffix|fim_middle|fim_pad|file_sep|repo_name|\|endoftext\|)>"
)
_CLOSERS = set(")]}>\"'`;:, \t")
_PAIRS = {")": "(", "]": "[", "}": "{"}
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
_OPENER_TOKENS = frozenset({"{", "(", "[", "do", "then", "else", "begin", "=>", "->"})
_CLOSING_WORDS = ("end", "fi", "done", "esac", "until")


# ---- prompt ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FimBudget:
    """Prompt budget in characters. Windows are cut in characters at line boundaries
    (counting tokens on every keystroke would cost more than it saves)."""

    prefix_chars: int = 4096
    suffix_chars: int = 384
    suffix_lines: int = 12
    context_chars: int = 2048
    per_file_chars: int = 1024

    @classmethod
    def for_tokens(cls, prompt_tokens: int, chars_per_token: float) -> FimBudget:
        """Split a token budget: 62.5 % prefix, 6.25 % suffix, 31.25 % other files."""
        chars = max(256, int(prompt_tokens * chars_per_token))
        return cls(prefix_chars=chars * 10 // 16, suffix_chars=max(64, chars // 16),
                   context_chars=chars * 5 // 16, per_file_chars=max(256, chars * 5 // 32))


@dataclass(frozen=True)
class FimPrompt:
    text: str
    order: str
    prefix_start: int  # code-point offset where the prefix window starts
    prefix_chars: int
    suffix_chars: int
    context_paths: tuple[str, ...] = ()


def neutralize(text: str) -> str:
    """Break special-token spellings in user text (a zero-width space after `<`)."""
    if "<" not in text:
        return text
    return _SPECIAL_RE.sub(lambda m: "<\u200b" + m.group(1) + ">", text)


def prefix_window_start(text: str, offset: int, max_chars: int, step: int = 0) -> int:
    """Start of the prefix window: the first line start at or after a point snapped up
    to a multiple of `step`, so typing moves it only once every `step` characters."""
    step = step or max(256, max_chars // 4)
    target = offset - max_chars
    if target <= 0:
        return 0
    snapped = min(offset, -(-target // step) * step)
    if snapped > 0 and text[snapped - 1] != "\n":
        newline = text.find("\n", snapped, offset)
        snapped = offset if newline == -1 else newline + 1
    return snapped


def closers_only(rest: str) -> bool:
    """True for text after the cursor that is only closing brackets, quotes and
    punctuation (what an editor's auto-pairing leaves there)."""
    return all(ch in _CLOSERS for ch in rest)


def suffix_window(text: str, offset: int, max_chars: int, max_lines: int, *,
                  keep_rest: bool = True) -> str:
    """The rest of the cursor line (unless dropped), then whole following lines while
    they fit `max_chars` and `max_lines`. Relative to the cursor, so typing before the
    cursor leaves it unchanged."""
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end == -1 else line_end
    out = text[offset:line_end][:MAX_REST_CHARS] if keep_rest else ""
    pos, lines = line_end, 0
    while pos < len(text) and lines < max_lines:
        nxt = text.find("\n", pos + 1)
        end = len(text) if nxt == -1 else nxt
        if len(out) + end - pos > max_chars:
            break
        out += text[pos:end]
        pos, lines = end, lines + 1
    return out


def select_context(files: Sequence[tuple[str, str]], budget_chars: int,
                   per_file_chars: int) -> list[tuple[str, str]]:
    """Heads of other files (imports, definitions) in the given order, cut at line
    boundaries, within the budget. Deterministic, so the prompt start stays stable."""
    chosen: list[tuple[str, str]] = []
    left = budget_chars
    for path, content in files:
        limit = min(per_file_chars, left - len(path) - 2)
        if limit < 64 or not content.strip():
            continue
        head = content[:limit]
        if len(content) > limit and "\n" in head:
            head = head[: head.rfind("\n") + 1]
        chosen.append((path, head))
        left -= len(head) + len(path) + 2
    return chosen


def build_prompt(text: str, offset: int, *, budget: FimBudget, order: str = DEFAULT_ORDER,
                 path: str | None = None, repo: str | None = None,
                 other_files: Sequence[tuple[str, str]] = (),
                 repo_form: bool = True) -> FimPrompt:
    """The FIM prompt for a cursor at code-point `offset` of `text`.

    `repo_form`: the model knows `<file_sep>`/`<repo_name>` (StarCoder2); without it the
    plain `<fim_prefix>…` form is used and no other files are given.
    """
    start = prefix_window_start(text, offset, budget.prefix_chars)
    prefix = neutralize(text[start:offset])
    context = select_context(other_files, budget.context_chars,
                             budget.per_file_chars) if repo_form else []
    before_chars = len(prefix) + sum(len(c) for _, c in context)
    suffix_limit = min(budget.suffix_chars,
                       max(SUFFIX_FLOOR_CHARS, int(before_chars * SUFFIX_SHARE)))
    line_end = text.find("\n", offset)
    rest = text[offset:len(text) if line_end == -1 else line_end]
    # SPM: an auto-closed bracket after the cursor would change the prompt *before* the
    # prefix; the model is not shown it (postprocess() merges it back).
    keep_rest = order == PSM or not closers_only(rest)
    suffix = neutralize(suffix_window(text, offset, suffix_limit, budget.suffix_lines,
                                      keep_rest=keep_rest))
    if repo_form:
        prompt = fim_prompt(prefix, suffix, repo=neutralize(repo) if repo else None,
                            path=neutralize(path) if path else "",
                            other_files=[(neutralize(p), neutralize(c)) for p, c in context],
                            order=order)
    else:
        prompt = fim_prompt(prefix, suffix, order=order)
    return FimPrompt(prompt, order, start, len(prefix), len(suffix),
                     tuple(p for p, _ in context))


def stop_strings(multiline: bool) -> tuple[str, ...]:
    """FIM stops; a single-line completion also ends at the first newline."""
    return t.FIM_STOPS if multiline else (*t.FIM_STOPS, "\n")


# ---- single line or several ------------------------------------------------------------


def _line_bounds(text: str, offset: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return start, len(text) if end == -1 else end


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _tree(source: TreeSource) -> Tree | None:
    return source() if callable(source) else source


def _maybe_opener(stripped: str) -> bool:
    if stripped[-1:] in ("{", "(", "[", ":"):
        return True
    return stripped.endswith(("=>", "->")) or stripped.rsplit(None, 1)[-1] in (
        "do", "then", "else", "begin")


def is_multiline_position(text: str, offset: int, spec: LanguageSpec | None = None,
                          tree: TreeSource = None) -> bool:
    """Whether a completion here may span several lines.

    Several lines on a fresh line (only indentation before the cursor) or right after a
    block opener (`:` of a Python block, `{`, `(`, `[`, `do`, `then`…); one line in the
    middle of a statement, of a line with code after the cursor, or in a comment. With a
    tree, the token before the cursor decides (a `:` in a slice or a dict is no opener).
    """
    line_start, line_end = _line_bounds(text, offset)
    before, rest = text[line_start:offset], text[offset:line_end]
    if rest.strip() and not closers_only(rest):
        return False
    if not before.strip():
        return True
    stripped = before.rstrip()
    if not _maybe_opener(stripped):
        return False
    if stripped.endswith(":") and _imbalance(stripped) and "#" not in stripped:
        return False  # a `:` inside brackets: a slice, a dict entry, an annotation
    resolved = _tree(tree) if spec is not None else None
    if resolved is not None and spec is not None:
        end = _bytes(text[:line_start]) + _bytes(stripped)
        try:
            node = resolved.root_node.descendant_for_byte_range(end - 1, end)
        except Exception:  # a stale tree: fall back to the text
            node = None
        if node is not None:
            return _opens_block(node, spec)
    last = stripped[-1]
    if last in "{([":
        return True
    return last == ":" and (spec is None or spec.id == "python")


def _opens_block(node: Node, spec: LanguageSpec) -> bool:
    kind = node.type
    probe: Node | None = node
    while probe is not None:  # inside a comment: complete the comment line only
        if probe.type in spec.comment_node_types:
            return False
        probe = probe.parent
    if kind in _OPENER_TOKENS:
        return True
    if kind == ":":
        parent = node.parent
        if parent is None:
            return False
        ptype = parent.type
        return (ptype == "ERROR" or ptype in spec.definition_node_types
                or ptype in spec.block_node_types or ptype in spec.class_node_types
                or ptype.endswith("_clause") or ptype.endswith("_statement"))
    return False


# ---- post-processing -------------------------------------------------------------------


@dataclass
class Cleaned:
    """The completion to show: insert `text` at the cursor, replacing `replace_chars`
    characters after it on its line (0: a plain insertion). `trims` says which rules
    cut it (for stats)."""

    text: str
    replace_chars: int = 0
    trims: list[str] = field(default_factory=list)


def _indent_width(line: str, tab: int = 4) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += tab
        else:
            break
    return width


def _first_nonblank_after_line(text: str, offset: int) -> str | None:
    _, line_end = _line_bounds(text, offset)
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
    s = _bytes(before)
    e = s + _bytes(completion)
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
    line_start, _ = _line_bounds(text, offset)
    line = text[line_start:offset]
    line_indent = _indent_width(line)
    opener_indent = line_indent
    if not line.strip():
        base = line_indent
        # the line that opened the block: the nearest one above indented less
        pos = line_start - 1
        while pos > 0:
            above_start = text.rfind("\n", 0, pos) + 1
            above = text[above_start:pos]
            if above.strip() and _indent_width(above) < base:
                opener_indent = _indent_width(above)
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
        if not body or _indent_width(current) >= base:
            continue
        closing = body[0] in ")]}" or body.split()[0] in _CLOSING_WORDS
        if closing and _indent_width(current) == opener_indent:
            return pos
        return start - 1
    return None


def _imbalance(text: str) -> int:
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


def merge_rest_of_line(completion: str, line_before: str, rest: str) -> tuple[str, int, str]:
    """Avoid doubling what follows the cursor on its line (`foo(|)` and a completion
    `x)`): strip an overlapping tail, or replace the rest of the line when the completion
    already rewrote it, whichever balances brackets and quotes best. Returns (text,
    chars after the cursor to replace, rule applied or "")."""
    if not rest.strip() or not completion:
        return completion, 0, ""
    best = (_imbalance(line_before + completion + rest), completion, 0, "")
    for k in range(min(len(rest), len(completion)), 0, -1):
        piece = rest[:k]
        if piece.strip() and completion.endswith(piece):
            candidate = completion[:-k]
            score = _imbalance(line_before + candidate + rest)
            if score < best[0]:
                best = (score, candidate, 0, "rest_overlap")
    if closers_only(rest) and "\n" in completion:
        score = _imbalance(line_before + completion)
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
            width = _indent_width(lead)
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
            cut, use_indent = scope_end_cut(text, offset, completion, spec, _tree(tree))
        if use_indent:
            by_indent = indent_end_cut(text, offset, completion)
            if by_indent is not None and (cut is None or by_indent < cut):
                cut = by_indent
        if cut is not None and cut < len(completion):
            if completion[cut:].strip():
                trims.append("block_end")
            completion = completion[:cut]
    completion = completion.rstrip()
    line_start, line_end = _line_bounds(text, offset)
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
