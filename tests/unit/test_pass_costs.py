"""Pass costs and the load-time probe, on fake engines whose behaviour is known."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from model.pass_costs import PassCosts, probe_passes, time_passes
from model.speculative import DraftConfig, DraftLength, PromptLookup


def test_relative_costs_interpolate_and_extrapolate() -> None:
    costs = PassCosts({1: 0.010, 2: 0.013, 4: 0.019}, max_width=4)
    assert costs.relative(1) == 1.0
    assert costs.relative(3) == pytest.approx(1.6)  # halfway between 2 and 4 rows
    assert costs.relative(6) == pytest.approx(2.5)  # the last slope, 0.3 per row
    only_one = PassCosts({1: 0.01}, max_width=1)
    assert only_one.relative(5) == pytest.approx(5.0)  # nothing known: linear
    with pytest.raises(ValueError):
        PassCosts({2: 0.01}, max_width=2)


def test_observed_passes_move_the_figures() -> None:
    costs = PassCosts({1: 0.010, 4: 0.020}, max_width=4)
    for _ in range(60):  # the machine got slower at 4 rows
        costs.observe(4, 0.040)
    assert costs.relative(4) == pytest.approx(4.0, rel=0.02)
    costs.observe(4, -1.0)  # nonsense is ignored
    assert costs.relative(4) == pytest.approx(4.0, rel=0.02)


def test_a_busy_spell_slows_every_width_alike() -> None:
    """Only one-row passes run while drafting does not pay; if another process then
    slows the machine, the wide passes' stale figures must not start to look cheap."""
    costs = PassCosts({1: 0.010, 2: 0.021, 4: 0.042}, max_width=4)
    for _ in range(60):  # one-row passes at half speed
        costs.observe(1, 0.020)
    assert costs.seconds(1) == pytest.approx(0.020, rel=0.02)
    assert costs.relative(2) == pytest.approx(2.1)
    assert costs.relative(4) == pytest.approx(4.2)
    assert DraftLength(DraftConfig(k_max=3, p_init=0.99), costs.relative).k == 0


def test_a_pass_that_does_not_pay_is_never_drafted() -> None:
    """Accepted 90 % of the time, but a 2-row pass costs as much as 2 one-row passes:
    plain steps give more tokens per unit of time."""
    config = DraftConfig(k_max=8, p_init=0.9)
    expensive = PassCosts({w: 0.01 * w for w in range(1, 10)}, max_width=9)
    assert DraftLength(config, expensive.relative).k == 0
    cheap = PassCosts({w: 0.01 * (1 + 0.1 * (w - 1)) for w in range(1, 10)}, max_width=9)
    assert DraftLength(config, cheap.relative).k == 8
    # Odd widths that cost more than the next even one are avoided by the figures alone.
    sgemm = {1: 1.0, 2: 1.36, 3: 2.26, 4: 1.92, 5: 2.86, 6: 2.52, 7: 3.47}
    tiles = PassCosts({w: c / 100 for w, c in sgemm.items()}, max_width=7)
    k = DraftLength(DraftConfig(k_max=6, p_init=0.9), tiles.relative).k
    assert (k + 1) % 2 == 0


def test_time_passes_interleaves_and_respects_the_budget() -> None:
    calls: list[int] = []

    def run_pass(width: int) -> None:
        calls.append(width)
        time.sleep(0.001 * width)

    costs = time_passes(run_pass, [2, 4], budget_s=10, rounds=3)
    assert calls == [1, 1, 2, 4, 1, 2, 4, 1, 2, 4]  # a warm-up, then interleaved rounds
    assert 3.0 < costs.relative(4) < 6.0
    calls.clear()
    time_passes(lambda w: (calls.append(w), time.sleep(0.05)), [2], budget_s=0.01, rounds=5)
    assert calls == [1, 1, 2]  # one round when a round does not fit the budget


class FakeEngine:
    """Logits that depend only on the token and its position, except that passes of
    `breaks_at` rows or more round the last bit differently (as a kernel switch does)."""

    def __init__(self, breaks_at: int | None) -> None:
        self.breaks_at = breaks_at
        self.cached: list[int] = []

    def restart(self, head: list[int]) -> None:
        self.cached = []
        self.rows(head)

    def crop(self, n_past: int) -> None:
        self.cached = self.cached[:n_past]

    def rows(self, step: list[int]) -> Any:
        start = len(self.cached)
        self.cached += step
        out = np.array([[float(t * 31 + (start + i) * 7)] for i, t in enumerate(step)],
                       dtype=np.float32)
        if self.breaks_at is not None and len(step) >= self.breaks_at:
            out = np.nextafter(out, np.float32(np.inf))
        return out


@pytest.mark.parametrize("breaks_at,widest", [(None, 16), (8, 7), (2, 1)])
def test_probe_finds_the_widest_exact_pass(breaks_at: int | None, widest: int) -> None:
    engine = FakeEngine(breaks_at)
    result = probe_passes(list(range(40)), restart=engine.restart, rows=engine.rows,
                          crop=engine.crop, budget_s=0.05)
    assert result.widest_exact == widest
    assert set(range(1, 17)) <= set(result.costs.measured)  # every probed width timed
    assert result.costs.max_width == 16


def _tiles() -> PassCosts:
    """Costs as measured on the AMD EPYC for Gemma 270M: a 6-row pass costs 3.58 rows,
    so drafting pays at the ~90 % acceptance of copies but not at the 0.7 prior."""
    return PassCosts({1: 1.0, 2: 2.01, 3: 3.53, 4: 2.80, 6: 3.58}, max_width=6)


def test_exploring_finds_that_drafts_pay_when_the_prior_says_they_do_not() -> None:
    length = DraftLength(DraftConfig(k_max=5, p_init=0.7), _tiles().relative)
    assert length.k == 0  # the prior alone would never draft
    tried = length.choose()  # a request's first choice may explore at once
    assert tried == 5  # the width that pays at a hopeful acceptance rate
    length.update(tried, 0)  # wrong: plain steps for a while
    steps = 0
    while length.choose() == 0:
        length.update(0, 0)
        steps += 1
        assert steps < 100
    assert steps >= 16
    tried = length.choose()
    length.update(tried, tried)  # the drafts were right
    assert length.k == 5 and length.choose() == 5  # now drafting on its own figures


def test_failed_explorations_back_off() -> None:
    length = DraftLength(DraftConfig(k_max=5, p_init=0.7), _tiles().relative)
    waits = []
    for _ in range(4):
        steps = 0
        while (k := length.choose()) == 0:
            length.update(0, 0)
            steps += 1
        waits.append(steps)
        length.update(k, 0)  # the draft was wrong at once
    assert waits[1] >= 2 * waits[0] - 1 and waits[2] >= 2 * waits[1] - 1, waits


def test_nothing_is_explored_where_no_width_can_pay() -> None:
    linear = PassCosts({w: 0.01 * w for w in range(1, 7)}, max_width=6)
    length = DraftLength(DraftConfig(k_max=5, p_init=0.7), linear.relative)
    for _ in range(2000):
        assert length.choose() == 0
        length.update(0, 0)


def test_exploring_drafts_only_where_the_text_is_being_copied() -> None:
    """An exploratory draft needs the longest n-gram to match (a copy in progress), not
    a lone token that also occurs somewhere else."""
    config = DraftConfig(k_max=5, p_init=0.7, max_ngram=4)
    source = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    weak = PromptLookup(source, [], config, _tiles().relative)
    strong = PromptLookup(source, [], config, _tiles().relative)
    weak.observe([99, 98, 97, 12])  # only "12" occurs in the source
    strong.observe([10, 11, 12, 13])  # the source's first four tokens, in order
    for lookup in (weak, strong):
        for _ in range(16):  # plain steps until exploring is due
            lookup.length.update(0, 0)
    assert weak.draft(8) == []
    assert strong.draft(8) == [14, 15, 16, 17, 18]
