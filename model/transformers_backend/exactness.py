"""The load-time probe of speculative passes on this model and device: torch picks
kernels by batch size (gemv vs gemm), so the widest pass whose rows are computed as
one-row passes compute them is found rather than assumed, and each width is timed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from model.pass_costs import PROBE_TEXT, ProbeResult, probe_passes
from model.transformers_backend.prefix_cache import cache_keyword, crop

log = logging.getLogger(__name__)


def probe(model: Any, encode: Callable[[str], list[int]]) -> ProbeResult | None:
    """Widest exact width and pass costs (worker thread); None when the probe failed."""
    import torch
    from transformers import DynamicCache

    device = model.device
    keyword = cache_keyword(model)
    cache: list[Any] = []  # the probe's own cache, replaced by each restart

    def rows(tokens: list[int]) -> Any:
        step = torch.tensor([tokens], dtype=torch.long, device=device)
        return model(input_ids=step, use_cache=True, **{keyword: cache[0]}).logits[0]

    def restart(head: list[int]) -> None:
        cache[:] = [DynamicCache()]
        rows(head)

    try:
        with torch.inference_mode():
            return probe_passes(encode(PROBE_TEXT * 4), restart=restart, rows=rows,
                                crop=lambda n_past: crop(cache[0], n_past))
    except Exception as err:  # a failed probe must not fail the load
        log.warning("speculative pass probe failed: %s", err)
        return None
