"""A time limit on a generation that stops the model exactly as a cancel does.

Engines watch one `threading.Event` between tokens (and between prompt batches); a
`Deadline` is that event for a request with a time limit: it reads as set once the caller
cancels or once the time is up, so every backend stops at the same points either way, with
no timer thread per request.
"""

from __future__ import annotations

import threading
import time


class Deadline(threading.Event):
    """Set when `cancel` is set, when `set()` is called, or `seconds` after creation."""

    def __init__(self, cancel: threading.Event, seconds: float) -> None:
        super().__init__()
        self._cancel = cancel
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        """The time is up (whether or not the caller also cancelled)."""
        return time.monotonic() >= self._at

    def is_set(self) -> bool:
        return super().is_set() or self._cancel.is_set() or self.expired

    def wait(self, timeout: float | None = None) -> bool:
        """Waits as Event.wait does, also waking for the caller's cancel and the time."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = self._at - time.monotonic()
            if end is not None:
                left = min(left, end - time.monotonic())
                if left <= 0:
                    return False
            super().wait(min(max(left, 0.0), 0.05))
        return True
