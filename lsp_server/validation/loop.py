"""The candidate loop: the greedy answer first, then samples, stopping at the first
candidate that passes every test; if none does, one self-repair round with the best
failing one. Knows nothing of processes or models: `produce` makes and checks a
candidate (the stage supplies it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from lsp_server.validation.report import Attempt

# The seed pipeline's sampling temperature (SelfCodeAlign).
SAMPLE_TEMPERATURE = 0.7

# produce(kind, number, repair_of) -> the checked candidate; kind is "greedy", "sample"
# or "repair" (then repair_of is the candidate to repair).
Produce = Callable[[str, int, Attempt | None], Attempt]


class LoopCancelled(Exception):
    pass


@dataclass
class LoopResult:
    chosen: Attempt
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.chosen.verdict.passed


def best_of(attempts: list[Attempt]) -> Attempt:
    """Most tests passed; on a tie the earlier one (the greedy answer before samples)."""
    return max(attempts, key=lambda a: (a.verdict.passed_count, -a.number))


def run_candidates(produce: Produce, count: int, *, repair: bool = True,
                   cancel: threading.Event | None = None,
                   on_attempt: Callable[[Attempt, list[Attempt]], None] | None = None
                   ) -> LoopResult:
    """Up to `count` candidates (greedy + count - 1 samples), then maybe one repair."""
    attempts: list[Attempt] = []

    def add(attempt: Attempt) -> Attempt:
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt, attempts)
        return attempt

    for number in range(1, max(1, count) + 1):
        if cancel is not None and cancel.is_set():
            raise LoopCancelled
        attempt = add(produce("greedy" if number == 1 else "sample", number, None))
        if attempt.verdict.passed:
            return LoopResult(attempt, attempts)
    best = best_of(attempts)
    if repair and best.code.strip():
        if cancel is not None and cancel.is_set():
            raise LoopCancelled
        repaired = add(produce("repair", len(attempts) + 1, best))
        if repaired.verdict.passed or repaired.verdict.passed_count > best.verdict.passed_count:
            best = repaired
    return LoopResult(best, attempts)
