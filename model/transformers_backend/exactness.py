"""The load-time check that speculative drafts are exact on this model and device: torch
picks kernels by batch size (gemv vs gemm), so it is checked rather than assumed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from model.speculative import PROBE_TEXT, wide_pass_matches
from model.transformers_backend.prefix_cache import cache_keyword

log = logging.getLogger(__name__)


def rows_match_one_token_passes(model: Any, encode: Callable[[str], list[int]]) -> bool:
    """Evaluate a probe one token at a time and in one pass; compare the logits
    (worker thread). What drafting relies on, checked on this model and device."""
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
            return wide_pass_matches(encode(PROBE_TEXT), restart, rows)
    except Exception as err:  # a failed probe must not fail the load
        log.warning("speculative exactness check failed: %s", err)
        return False
