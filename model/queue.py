"""One generation at a time, a bounded number waiting, the rest refused.

A model serves one stream at a time; queueing without bound would turn a burst of
requests into minutes of unresponsiveness, so excess requests fail fast with BusyError.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from model.errors import BusyError


class CancelledWhileWaiting(Exception):
    """Raised by slot() when a queued request was cancelled before it ran."""


class GenerationQueue:
    def __init__(self, max_waiting: int = 4) -> None:
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._run = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @contextmanager
    def slot(self, cancel: threading.Event | None = None) -> Iterator[None]:
        """Hold the model for one generation; raises BusyError when the queue is full.

        A waiting request whose `cancel` is set gives up its place instead of running.
        """
        with self._lock:
            if self._waiting >= self.max_waiting + 1:  # +1: the running one
                raise BusyError(
                    f"the model is busy ({self._waiting} requests ahead); try again shortly"
                )
            self._waiting += 1
        try:
            while not self._run.acquire(timeout=0.05):
                if cancel is not None and cancel.is_set():
                    raise CancelledWhileWaiting()
            try:
                yield
            finally:
                self._run.release()
        finally:
            with self._lock:
                self._waiting -= 1


