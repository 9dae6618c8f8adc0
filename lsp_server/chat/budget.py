"""Fit a conversation into the model's window, and say what did not fit.

The window is shared by the new question (always whole), the attached code and the earlier
turns, with room left for the answer. The attached code may take the room the history
does not need, and at least half the window; beyond that it is trimmed to a window of
lines centred on the selection. Then the earliest turns are dropped, a question with its
answer at a time; then the code is trimmed further, or left out. Every cut is listed in
`dropped`, so the user is told.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lsp_server.chat.context import Chip
from lsp_server.prompts.chat import USER, ChatTurn, ContextBlock, context_text

# tokens of (turns, attached code) as the model will read them
Cost = Callable[[Sequence[ChatTurn], Sequence[ContextBlock]], int]
Window = tuple[int, int]


class ChatTooLongError(ValueError):
    """The question alone does not fit the model's window."""


@dataclass
class Fitted:
    turns: tuple[ChatTurn, ...]
    blocks: tuple[ContextBlock, ...]
    prompt_tokens: int
    # What was cut, JSON-ready: {kind: "message", index, role} or
    # {kind: "context", uri, reason: "trimmed" (with the lines kept) | "dropped"}.
    dropped: list[dict[str, Any]] = field(default_factory=list)
    # Per chip (in order): tokens it takes in the prompt, 0 when left out.
    chip_tokens: list[int] = field(default_factory=list)


def fit_chat(turns: Sequence[ChatTurn], chips: Sequence[Chip], cost: Cost,
             count: Callable[[str], int], limit: int) -> Fitted:
    """The turns and code to send so that `cost(...) <= limit` (tokens for the prompt)."""
    question = tuple(turns[-1:])
    base = cost(question, ())
    if base > limit:
        raise ChatTooLongError(
            f"the question is {base} tokens with the prompt around it; the model's window "
            f"leaves {limit} for it: shorten the question")
    trimmer = _Trimmer(chips, count)
    start = 0
    total = cost(turns, trimmer.blocks())
    if total > limit:
        history = cost(turns, ()) - base
        trimmer.trim_to(max(limit // 2, limit - base - history), limit - base)
        # Drop the earliest turns (a question with its answer), keeping the new question.
        while start < len(turns) - 1 and cost(turns[start:], trimmer.blocks()) > limit:
            start += 1
            while start < len(turns) - 1 and turns[start].role != USER:
                start += 1
        # Only the question and the code are left: the code gives way.
        for _ in range(8):
            total = cost(turns[start:], trimmer.blocks())
            if total <= limit:
                break
            trimmer.trim_to(sum(trimmer.costs) - (total - limit), limit - base)
        else:
            trimmer.drop_all()
        total = cost(turns[start:], trimmer.blocks())
    dropped: list[dict[str, Any]] = [
        {"kind": "message", "index": index, "role": turns[index].role} for index in range(start)
    ]
    dropped += trimmer.report()
    return Fitted(tuple(turns[start:]), tuple(trimmer.blocks()), total, dropped,
                  list(trimmer.costs))


class _Trimmer:
    """Each chip's shown window of lines (None: all, "dropped": none) and its token cost."""

    def __init__(self, chips: Sequence[Chip], count: Callable[[str], int]) -> None:
        self.chips = list(chips)
        self.count = count
        self.windows: list[Window | str | None] = [None] * len(self.chips)
        self.costs = [self._measure(chip.block()) for chip in self.chips]

    def _measure(self, block: ContextBlock) -> int:
        return self.count(context_text([block]))

    def blocks(self) -> list[ContextBlock]:
        return [chip.block(w) for chip, w in zip(self.chips, self.windows, strict=True)
                if not isinstance(w, str)]

    def drop_all(self) -> None:
        self.windows = ["dropped"] * len(self.chips)
        self.costs = [0] * len(self.chips)

    def trim_to(self, budget: int, ceiling: int) -> None:
        """Shrink the largest chips until all of them cost at most min(budget, ceiling)."""
        budget = max(0, min(budget, ceiling))
        while sum(self.costs) > budget:
            index = max(range(len(self.costs)), key=self.costs.__getitem__)
            target = self.costs[index] - (sum(self.costs) - budget)
            window = self._largest_window(self.chips[index], target)
            if window is None:
                self.windows[index], self.costs[index] = "dropped", 0
            else:
                self.windows[index] = window
                self.costs[index] = self._measure(self.chips[index].block(window))

    def _largest_window(self, chip: Chip, target: int) -> Window | None:
        """The most lines around the chip's focus that cost at most `target` tokens."""
        low, high = 0, len(chip.lines) - 1  # `low` lines fit (0: none); all lines do not
        while low < high:
            mid = (low + high + 1) // 2
            if self._measure(chip.block(centred(chip, mid))) <= target:
                low = mid
            else:
                high = mid - 1
        return centred(chip, low) if low else None

    def report(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chip, window in zip(self.chips, self.windows, strict=True):
            if window == "dropped":
                out.append({"kind": "context", "uri": chip.uri, "reason": "dropped"})
            elif isinstance(window, tuple):
                out.append({"kind": "context", "uri": chip.uri, "reason": "trimmed",
                            "lines": {"first": window[0] + 1, "last": window[1] + 1}})
        return out


def centred(chip: Chip, size: int) -> Window:
    """`size` document lines of the chip, centred on its focus, inside its span."""
    low, high = chip.span
    first, last = chip.focus
    start = max(low, min((first + last) // 2 - size // 2, high - size + 1))
    return start, min(high, start + size - 1)
