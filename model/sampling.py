"""Sampled answers to one prompt, one at a time, for callers that stop at the first good
one (validation's candidate loop).

Each sample is an ordinary `generate()` with temperature > 0 and its own seed, so the
same prompt is not evaluated again: llama.cpp keeps the longest common prefix of the
previous request in its KV cache, and the transformers backend does the same with its
prefix cache (only the last prompt token is run again). A backend that can batch samples
(`generate_many`: an OpenAI-compatible server honouring `n`) is asked for all of them in
one request instead; if it answers with a single choice, it ignores `n` and the rest are
asked for one at a time.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable

from model.base import Backend, GenerationRequest, GenerationStats


class Sampler:
    """Up to `count` samples of `request` (its temperature must be > 0), seeds
    `seed`, `seed + 1`, ..."""

    def __init__(self, backend: Backend, request: GenerationRequest, *, count: int,
                 seed: int = 0) -> None:
        if request.temperature <= 0:
            raise ValueError("sampling needs a temperature above 0")
        self.backend = backend
        self.request = request
        self.count = count
        self.seed = seed
        self.taken = 0
        self._batched: deque[str] = deque()
        self._batch_tried = False

    def _request(self, seed: int) -> GenerationRequest:
        return dataclasses.replace(self.request, seed=seed, draft_source=None)

    def next(self, cancel: threading.Event, stats: GenerationStats | None = None,
             on_text: Callable[[str], None] | None = None) -> str:
        """The next sample's text ("" once `count` were taken). `on_text` sees the text
        so far while it streams (not for batched samples, which arrive whole)."""
        if self.taken >= self.count:
            return ""
        seed = self.seed + self.taken
        self.taken += 1
        if self._batched:
            return self._batched.popleft()
        many = getattr(self.backend, "generate_many", None)
        remaining = self.count - self.taken + 1
        if many is not None and not self._batch_tried and remaining > 1:
            self._batch_tried = True
            texts: list[str] = many(self._request(seed), remaining, cancel, stats)
            if texts:
                self._batched.extend(texts[1:remaining])
                return texts[0]
        pieces: list[str] = []
        for piece in self.backend.generate(self._request(seed), cancel, stats):
            pieces.append(piece)
            if on_text is not None:
                on_text("".join(pieces))
        return "".join(pieces)
