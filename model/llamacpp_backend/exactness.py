"""The load-time probe of speculative passes on this model, build and device: the widest
pass computed row for row as one-row passes compute it (another GGUF type, a GPU or a new
llama.cpp may round differently, and ggml's CPU kernels change with the batch size), and
what each width costs here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from model.llamacpp_backend.speculative_loop import DecodeRows
from model.pass_costs import PROBE_TEXT, ProbeResult, probe_passes

logger = logging.getLogger(__name__)


def probe(llm: Any, tokenize: Callable[[str], list[int]], decode_rows: DecodeRows
          ) -> ProbeResult | None:
    """Widest exact width and pass costs; None when the probe itself failed."""

    def restart(head: list[int]) -> None:
        llm.reset()
        llm.eval(head)

    def crop(n_past: int) -> None:
        if n_past < llm.n_tokens:
            llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm.n_tokens = n_past

    try:
        tokens = tokenize(PROBE_TEXT * 4)
        return probe_passes(
            tokens, restart=restart, crop=crop,
            rows=lambda step: decode_rows(step, llm.n_tokens).copy(),
        )
    except Exception as err:  # a failed probe must not fail the load
        logger.warning("speculative pass probe failed: %s", err)
        return None
    finally:
        llm.reset()
