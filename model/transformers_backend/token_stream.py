"""From the worker thread's token ids to text the caller can stream.

generate() and the speculative loop run on the backend's worker thread and put token ids
on a queue; the caller's thread turns them into text as it becomes complete.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

# Put on the queue after the last token (also when generation raised).
END = object()


class Accepted(int):
    """A token id queued by the speculative loop that was an accepted draft token (the
    consumer counts it in stats.accepted_draft_tokens only if it uses it)."""


class IncrementalDecoder:
    """Token ids → text as it becomes complete (no half UTF-8 characters).

    Decodes a small window of recent tokens and emits what grew, holding back text that
    ends in U+FFFD (a byte-level token that splits a multi-byte character).
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def _decode(self, ids: list[int]) -> str:
        text: str = self._tokenizer.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return text

    def add(self, token: int) -> str:
        self._ids.append(token)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :]


def streamer_and_criteria(
    tokens: queue.Queue[Any], cancel: threading.Event, halt: threading.Event
) -> tuple[Any, Any]:
    """A streamer that queues token ids, and a StoppingCriteria reading the events."""
    import torch
    from transformers import StoppingCriteria
    from transformers.generation.streamers import BaseStreamer

    class QueueStreamer(BaseStreamer):  # type: ignore[misc]
        prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate() first sends the prompt ids
                self.prompt_seen = True
                return
            for token in value.reshape(-1).tolist():
                tokens.put(int(token))

        def end(self) -> None:
            pass  # the worker puts END itself, also when generate() raises

    class EventStop(StoppingCriteria):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            stop = cancel.is_set() or halt.is_set()
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool,
                              device=input_ids.device)

    return QueueStreamer(), EventStop()
