"""Keep a prompt inside the model's context window.

The selected code is never cut (a truncated function cannot be rewritten correctly), so
only the reference context shrinks; when even the code alone does not fit, the user gets
an actionable message instead of a silently truncated prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class PromptTooLongError(ValueError):
    """The selected code alone does not fit the model's context."""

    def __init__(self, code_tokens: int, limit: int) -> None:
        self.code_tokens = code_tokens
        self.limit = limit
        super().__init__(
            f"the selected code is {code_tokens} tokens, more than the model's context of "
            f"{limit} allows; select less code"
        )


@dataclass(frozen=True)
class BudgetParts:
    """What a prompt is made of, split by what may be cut.

    `render(context)` must return the full prompt text for a given context (typically
    `lambda ctx: build_edit_prompt(info, ..., context=ctx).text`), so the count is exact
    for the model's real template.
    """

    code: str
    context: str
    render: Callable[[str], str]


def fit_to_budget(
    parts: BudgetParts,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    *,
    context_length: int | None = None,
) -> str:
    """Return the context to use: all of it, or its longest head of whole lines, or "".

    `max_tokens` is the room for the prompt (context length minus the tokens reserved for
    the answer). The head is kept because context is ordered most-important-first
    (imports, then the enclosing class header). Raises PromptTooLongError when the prompt
    without any context is already too long; `context_length` (default `max_tokens`) is
    the number quoted in its message.
    """
    if count_tokens(parts.render(parts.context)) <= max_tokens:
        return parts.context
    if count_tokens(parts.render("")) > max_tokens:
        raise PromptTooLongError(
            count_tokens(parts.code), context_length if context_length is not None else max_tokens
        )
    lines = parts.context.split("\n")
    low, high = 0, len(lines) - 1  # invariant: keeping `low` lines fits; all lines do not
    while low < high:
        mid = (low + high + 1) // 2
        if count_tokens(parts.render("\n".join(lines[:mid]))) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return "\n".join(lines[:low])
