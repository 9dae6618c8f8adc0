"""Cancellation state of one completion request. Requests come with every keystroke and
only the newest matters, so each carries an event that the backend checks between tokens
and between prompt batches: a superseded or expired request stops *generating*."""

from __future__ import annotations

import threading


class Job:
    """One request's cancellation state. `stop` is what the backend watches."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.stop = threading.Event()
        self.superseded = False
        self.budget_hit = False
        self.phase = "debounce"  # then "loading", "generating"

    def supersede(self) -> None:
        self.superseded = True
        self.stop.set()

    def expire(self) -> None:
        self.budget_hit = True
        self.stop.set()
