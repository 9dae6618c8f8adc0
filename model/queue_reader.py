"""Reading what an engine's worker thread puts on a queue, without outwaiting a cancel.

Backends whose engine runs on another thread (transformers' generate(), an HTTP stream)
pass results through a queue; the caller's thread must notice a cancel even while the
worker is stuck in one long step (a prompt being evaluated, a server that is silent).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

POLL_S = 0.05


class QueueReader:
    """Iterates over the items on `items` up to the `end` marker; stops waiting once
    `cancel` is set and nothing is queued (then `cancelled` is True)."""

    def __init__(self, items: queue.Queue[Any], cancel: threading.Event, end: object) -> None:
        self._items = items
        self._cancel = cancel
        self._end = end
        self.cancelled = False

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                item = self._items.get(timeout=POLL_S)
            except queue.Empty:
                if self._cancel.is_set():
                    self.cancelled = True
                    return
                continue
            if item is self._end:
                return
            yield item
