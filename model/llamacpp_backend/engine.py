"""What the backend adds to llama-cpp-python's ``Llama``: it counts the tokens it
evaluates, stops between evaluation batches when cancelled, and decodes a several-token
pass with the logits of every row (for speculative verification)."""

from __future__ import annotations

import threading
from typing import Any


class Cancelled(Exception):
    """The cancel event was seen between two evaluation batches."""


def counting_llama_class(llama_cpp: Any) -> Any:
    """A Llama subclass that counts evaluated tokens and can stop between batches.

    Counting what eval() receives is the exact number of tokens llama-cpp-python had to
    run after it reused the longest common prefix with the previous call's KV cache.
    """

    class CountingLlama(llama_cpp.Llama):  # type: ignore[misc, name-defined]
        tokens_evaluated = 0
        cancel_event: threading.Event | None = None

        def eval(self, tokens: Any) -> None:
            tokens = list(tokens)
            step = max(1, self.n_batch)
            for start in range(0, len(tokens), step):
                if self.cancel_event is not None and self.cancel_event.is_set():
                    raise Cancelled
                chunk = tokens[start : start + step]
                super().eval(chunk)
                self.tokens_evaluated += len(chunk)

    return CountingLlama


def decode_rows(llm: Any, llama_cpp: Any, step: list[int], n_past: int) -> Any:
    """One forward pass over `step` at positions n_past...; the logits of every row
    (a view into llama.cpp's buffer, valid until the next pass).

    `llm.input_ids`/`n_tokens` are kept in step with the cache, so the next request's
    prefix reuse works either way.
    """
    import numpy as np  # a dependency of llama-cpp-python, so present here

    raw = llm._batch.batch
    raw.n_tokens = len(step)
    for i, token in enumerate(step):
        raw.token[i] = token
        raw.pos[i] = n_past + i
        raw.seq_id[i][0] = 0
        raw.n_seq_id[i] = 1
        raw.logits[i] = True
    llm._ctx.decode(llm._batch)
    llm.input_ids[n_past : n_past + len(step)] = step
    llm.n_tokens = n_past + len(step)
    return np.ctypeslib.as_array(
        llama_cpp.llama_get_logits(llm._ctx.ctx), shape=(len(step), llm.n_vocab())
    )
