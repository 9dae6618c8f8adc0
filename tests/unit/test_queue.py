"""The generation queue: one runs, a bounded number wait, the rest are refused."""

from __future__ import annotations

import threading
import time

import pytest

from model.errors import BusyError
from model.queue import CancelledWhileWaiting, GenerationQueue


def test_one_at_a_time_and_refuses_when_full() -> None:
    queue = GenerationQueue(max_waiting=1)
    running = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def hold(name: str) -> None:
        with queue.slot():
            order.append(name)
            running.set()
            release.wait(5)

    first = threading.Thread(target=hold, args=("first",))
    first.start()
    running.wait(5)
    second = threading.Thread(target=hold, args=("second",))
    second.start()
    for _ in range(100):
        if queue.waiting == 2:
            break
        time.sleep(0.01)
    with pytest.raises(BusyError, match="busy"), queue.slot():
        pass
    release.set()
    first.join(5)
    second.join(5)
    assert order == ["first", "second"]
    assert queue.waiting == 0


def test_cancelled_while_waiting_gives_up_its_place() -> None:
    queue = GenerationQueue(max_waiting=2)
    cancel = threading.Event()
    with queue.slot():
        cancel.set()
        with pytest.raises(CancelledWhileWaiting), queue.slot(cancel):
            pass
    assert queue.waiting == 0
