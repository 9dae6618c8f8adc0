"""What a verification pass of w rows costs on this machine, relative to a one-row pass.

Speculative decoding pays off only when a wide pass costs less than the tokens it is
expected to give, and that cost depends on the CPU (kernels, tile sizes, cache), the model
and the thread count: a constant measured on one machine misleads on another (a 2-core
AMD EPYC ran 6-row passes at a price the Intel figure did not predict, and one task went
slower than plain decoding). So the backend times passes of each width it may use when
the model loads, and keeps timing the passes a generation runs: the draft policy always
chooses by this machine's own, current figures.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from model.speculative import rows_match

# How much one observed pass moves a width's running figure.
_SMOOTHING = 0.1


class PassCosts:
    """Seconds per pass by width, kept as running figures; `relative(w)` is the cost of
    a w-row pass in one-row passes (1.0 for w = 1).

    Widths never measured are estimated along the straight line through the nearest
    measured ones (or the last slope past the widest measured), so a policy can ask
    about any width; `max_width` is the widest the load-time probe timed.
    """

    def __init__(self, seconds: dict[int, float], max_width: int) -> None:
        if 1 not in seconds or seconds[1] <= 0:
            raise ValueError("a one-row pass must be measured")
        self._seconds = {w: s for w, s in seconds.items() if s > 0 and w >= 1}
        self.max_width = max_width

    @property
    def measured(self) -> dict[int, float]:
        return dict(sorted(self._seconds.items()))

    def seconds(self, width: int) -> float:
        if width in self._seconds:
            return self._seconds[width]
        widths = sorted(self._seconds)
        below = [w for w in widths if w < width]
        above = [w for w in widths if w > width]
        if below and above:
            lo, hi = below[-1], above[0]
            share = (width - lo) / (hi - lo)
            return self._seconds[lo] + share * (self._seconds[hi] - self._seconds[lo])
        if len(widths) == 1:
            return self._seconds[widths[0]] * width  # nothing better known: linear
        lo, hi = (widths[-2], widths[-1]) if below else (widths[0], widths[1])
        slope = (self._seconds[hi] - self._seconds[lo]) / (hi - lo)
        anchor = hi if below else lo
        return max(self._seconds[anchor] + slope * (width - anchor), 1e-9)

    def relative(self, width: int) -> float:
        return self.seconds(width) / self._seconds[1]

    def observe(self, width: int, seconds: float) -> None:
        """A pass of `width` rows just took `seconds`: fold it into the running figure.

        A one-row pass measures the machine's current speed, which moves every width
        alike (another process taking a core slows them all): the other widths' figures
        are scaled with it, so their costs relative to one row stay as measured and a
        busy spell cannot make wide passes look cheap. A wider pass refines its own
        width's figure."""
        if seconds <= 0 or width < 1:
            return
        old = self._seconds.get(width)
        new = seconds if old is None else (1 - _SMOOTHING) * old + _SMOOTHING * seconds
        if width == 1 and old:
            scale = new / old
            self._seconds = {w: s * scale for w, s in self._seconds.items()}
        self._seconds[width] = new

    def describe(self) -> str:
        return ", ".join(f"{w} rows {self.relative(w):.2f}" for w in sorted(self._seconds))


def time_passes(
    run_pass: Callable[[int], None],
    widths: Sequence[int],
    *,
    budget_s: float,
    rounds: int = 3,
) -> PassCosts:
    """Time `run_pass(width)` for each width, in interleaved rounds, within `budget_s`.

    Rounds go over the widths in turn, so a change in the machine's speed meanwhile
    falls on every width alike; the median of each width's times is kept. When a round
    would not fit in what is left of the budget, the rounds stop (a large model on a
    small CPU gets one round: its passes take long enough to measure once). A first
    untimed pass warms the caches.
    """
    widths = sorted({1, *widths})
    run_pass(1)
    times: dict[int, list[float]] = {w: [] for w in widths}
    started = time.perf_counter()
    for round_index in range(max(1, rounds)):
        elapsed = time.perf_counter() - started
        if round_index and elapsed / round_index > budget_s - elapsed:
            break
        for width in widths:
            begin = time.perf_counter()
            run_pass(width)
            times[width].append(time.perf_counter() - begin)
    return PassCosts({w: statistics.median(t) for w, t in times.items() if t},
                     max_width=max(widths))


# A piece of code (what edits copy) for the load-time probe, repeated as needed.
PROBE_TEXT = "def area(width, height):\n    return width * height  # rectangle\n"
# Widths checked and timed whatever the machine: the narrowest useful set.
MIN_PROBE_ROWS = 6
# One-row pass time (s) under which wider passes are probed too, and how wide.
_WIDER_PROBES = ((0.02, 16), (0.1, 8))


@dataclass(frozen=True)
class ProbeResult:
    """The widest pass computed row for row as one-row passes compute it (1: none is),
    and what passes of each probed width cost here (exact or not)."""

    widest_exact: int
    costs: PassCosts


def probe_passes(
    tokens: Sequence[int],
    *,
    restart: Callable[[list[int]], None],
    rows: Callable[[list[int]], Any],
    crop: Callable[[int], None],
    budget_s: float = 0.4,
) -> ProbeResult:
    """The backends' load-time probe, engine-agnostic: which widths are exact, and costs.

    `restart(head)` evaluates `head` from an empty cache; `rows(step)` evaluates `step`
    after what is cached and returns its logits, one row per token (a copy the next call
    does not overwrite); `crop(n)` drops every cached position from n on. The tail after
    `head` is decoded one token at a time, then windows at its end are decoded again as
    one pass each, widest last (each after cropping the cache back to the window's
    start), and every row must equal the one-row pass's bit for bit. Engines pick kernels
    by batch size, so exactness can stop at some width (ggml's tiled K-quant kernels take
    over at 8 rows); the widest width before the first mismatch is kept. Each pass is
    timed as it runs; remaining budget buys more timing rounds of the exact widths.
    """
    started = time.perf_counter()
    tokens = list(tokens)
    if len(tokens) < MIN_PROBE_ROWS + 2:
        raise ValueError("the probe needs more tokens")
    restart(tokens[: len(tokens) - MIN_PROBE_ROWS])  # warm-up, and the head's cost
    crop(len(tokens) - MIN_PROBE_ROWS)
    begin = time.perf_counter()
    rows(tokens[-MIN_PROBE_ROWS:][:1])
    one_row = time.perf_counter() - begin
    widest_probe = next((w for limit, w in _WIDER_PROBES if one_row < limit), MIN_PROBE_ROWS)
    widest_probe = min(widest_probe, len(tokens) - 2)
    head = tokens[: len(tokens) - widest_probe]
    tail = tokens[len(tokens) - widest_probe :]
    restart(head)
    single: list[Any] = []
    times: dict[int, list[float]] = {1: []}
    for token in tail:
        begin = time.perf_counter()
        single.append(rows([token])[-1])
        times[1].append(time.perf_counter() - begin)
    widest, exact = 1, True
    for width in range(2, widest_probe + 1):
        start = len(head) + widest_probe - width
        crop(start)
        begin = time.perf_counter()
        wide = rows(tail[widest_probe - width :])
        times[width] = [time.perf_counter() - begin]
        expected = single[widest_probe - width :]
        exact = exact and all(rows_match(row, wide[i]) for i, row in enumerate(expected))
        if exact:
            widest = width
    crop(len(head))
    left = budget_s - (time.perf_counter() - started)
    if left > 0:

        def run_pass(width: int) -> None:
            crop(len(head))
            rows(tail[:width])

        extra = time_passes(run_pass, range(1, widest_probe + 1), budget_s=left, rounds=2)
        for width, seconds in extra.measured.items():
            times.setdefault(width, []).append(seconds)
        crop(len(head))
    costs = PassCosts({w: statistics.median(t) for w, t in times.items()},
                      max_width=widest_probe)
    return ProbeResult(widest, costs)
