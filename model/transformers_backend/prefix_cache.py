"""Prompt-prefix reuse (the default path, like llama.cpp's).

The KV cache of the last request (prompt + answer) is kept, and the next prompt only
evaluates the tokens after the longest common prefix, so completions as the user types
cost a few tokens each. The cache is a plain `DynamicCache` of full-attention layers,
also for sliding-window models (StarCoder2: the window is applied by the attention mask,
which uses absolute positions): a window-sized cache drops old keys and cannot be cropped
back once the window is reached, while a full one can always be cropped to any prefix, at
the price of holding up to the context length instead of the window (StarCoder2-15B at
8192 tokens: 0.6 GB in bf16). The prompt is pre-filled in batches with a cancel check
between them. Greedy output is the same as without reuse. The fast path's static cache
is not reused (every request evaluates its whole prompt): rewinding a static cache under
CUDA graphs cannot be verified without a GPU here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from model.base import GenerationStats

# Attention layer kinds a full-length DynamicCache serves correctly (see above).
_REUSABLE_LAYERS = {"full_attention", "sliding_attention"}


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def supports_prefix_reuse(model: Any) -> bool:
    """True when a full-length DynamicCache can be kept and cropped for `model`."""
    if getattr(model, "_is_stateful", False):  # recurrent state: no rewinding
        return False
    supports = getattr(model, "_supports_default_dynamic_cache", None)
    if callable(supports) and not supports():
        return False
    config = model.config
    get_text = getattr(config, "get_text_config", None)
    text = get_text(decoder=True) if callable(get_text) else config
    types = getattr(text, "layer_types", None)
    return types is None or set(types) <= _REUSABLE_LAYERS


def cache_keyword(model: Any) -> str:
    """The keyword a model's forward() and generate() take the KV cache by.

    transformers 5.x renamed `past_key_values` to `cache` (the old name warns on every
    call and goes in 6.0); the releases before that know only the old name. Read from
    the class, so a wrapped or compiled instance `forward` does not hide it.
    """
    try:
        parameters = inspect.signature(type(model).forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - an unusual wrapped forward
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"


def crop(kv: Any, keep: int) -> None:
    """Drop every cached position from `keep` on."""
    length = kv.get_seq_length()
    if length > keep:
        kv.crop(keep - length)  # a negative count: tokens to remove


class PrefixCache:
    """The kept KV cache and the token ids in it (always ``len(ids) ==
    kv.get_seq_length()``); used on the backend's worker thread only."""

    def __init__(self) -> None:
        self.kv: Any = None
        self.ids: list[int] = []

    def drop(self) -> None:
        """Forget it (also what a failed request does: a half-written cache is not
        trusted)."""
        self.kv = None
        self.ids = []

    def prefill(
        self,
        model: Any,
        ids: list[int],
        batch: int,
        stopped: Callable[[], bool],
        stats: GenerationStats | None,
    ) -> Any:
        """Bring the cache to ids[:-1] (worker thread, inference mode).

        Keeps the longest common prefix with the previous request (always leaving the
        last prompt token for the caller, which needs one new token to produce logits),
        then evaluates the rest in batches of `batch` tokens, checking `stopped` between
        them. The cache and `ids` stay consistent after every batch, so a cancelled
        request leaves a usable prefix. Returns the cache, or None when stopped.
        """
        import torch
        from transformers import DynamicCache

        keep = min(common_prefix(self.ids, ids), len(ids) - 1)
        if self.kv is None or keep == 0:
            self.drop()  # free the old tensors before the new ones grow
            self.kv, keep = DynamicCache(), 0  # full layers (see the module docstring)
        else:
            crop(self.kv, keep)
            self.ids = self.ids[:keep]
        kv = self.kv
        end = len(ids) - 1
        if stats is not None:
            stats.prompt_tokens_evaluated = 0
        decoder = model.base_model  # no vocabulary projection for the prompt
        keyword = cache_keyword(decoder)
        step = max(1, batch)
        for start in range(keep, end, step):
            if stopped():
                return None
            stop = min(start + step, end)
            tokens = torch.tensor([ids[start:stop]], dtype=torch.long, device=model.device)
            decoder(input_ids=tokens, use_cache=True, **{keyword: kv})
            self.ids = ids[:stop]
            if stats is not None:
                stats.prompt_tokens_evaluated = stop - keep
        if stopped():
            return None
        if stats is not None:
            stats.prompt_tokens_evaluated = len(ids) - keep  # the caller runs the last one
        return kv

    def hold(self, tokens: list[int]) -> None:
        """After a request that produced `tokens` (prompt + answer): the cache holds all
        but the last of them (drop anything evaluated past an end-of-sequence token),
        and `ids` says so."""
        crop(self.kv, len(tokens) - 1)
        self.ids = tokens[: self.kv.get_seq_length()]
