"""The load-time check that speculative drafts are exact on this model, build and device,
rather than assumed: another GGUF type, a GPU or a new llama.cpp may round differently."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from model.llamacpp_backend.speculative_loop import DecodeRows
from model.speculative import PROBE_TEXT, wide_pass_matches

logger = logging.getLogger(__name__)


def rows_match_one_token_passes(
    llm: Any, tokenize: Callable[[str], list[int]], decode_rows: DecodeRows
) -> bool:
    """Evaluate a probe one token at a time and in one pass; compare the logits."""

    def restart(head: list[int]) -> None:
        llm.reset()
        llm.eval(head)

    try:
        return wide_pass_matches(
            tokenize(PROBE_TEXT), restart,
            lambda step: decode_rows(step, llm.n_tokens).copy(),
        )
    except Exception as err:  # a failed probe must not fail the load
        logger.warning("speculative exactness check failed: %s", err)
        return False
    finally:
        llm.reset()
