"""The fill-in-the-middle prompt for a cursor: which windows of the document (and of
other open files) it shows, in which order, and where generation stops.

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

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lsp_server.completion.text_measures import closers_only
from lsp_server.prompts import fim_prompt
from lsp_server.prompts import templates as t

PSM, SPM = "psm", "spm"
DEFAULT_ORDER = PSM
# In PSM the suffix is re-evaluated on every request: keep it at most this share of
# the text before it (and never above FimBudget.suffix_chars).
SUFFIX_SHARE = 0.06
# ...but a few lines of suffix are always given (small files have a small prefix).
SUFFIX_FLOOR_CHARS = 160
# The rest of the cursor line is always kept (closing brackets matter), up to this.
MAX_REST_CHARS = 240

# Model special tokens: text in a document that spells one must not become the token.
_SPECIAL_RE = re.compile(
    r"<(fim_prefix|fim_suffix|fim_middle|fim_pad|file_sep|repo_name|\|endoftext\|)>"
)


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
