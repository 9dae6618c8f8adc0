"""Speculative edit decoding on the dynamic-cache path (CPU, or CUDA with fast_decode off).

A greedy request that carries `draft_source` (an edit) runs this draft-and-verify loop
instead of generate(): prompt-lookup drafts from model/speculative.py, checked in one
forward pass over ``[last] + draft``, the rejected positions cropped from the
DynamicCache. Its tokens are plain greedy decoding's provided a row of a wide pass is
computed bit for bit as a one-token pass computes it, which depends on the kernels the
device picks: the backend's `exact_drafts` records a check of that at load
(exactness.py), and requests that ask for exact drafts (the default) draft only when it held.
The static-cache fast path decodes plainly, as a compiled step with verification passes
of varying width is future work.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

from model.base import GenerationStats
from model.pass_costs import PassCosts
from model.speculative import PromptLookup, verify_greedy
from model.transformers_backend.prefix_cache import PrefixCache, cache_keyword, crop
from model.transformers_backend.token_stream import Accepted


def speculative_ids(
    model: Any,
    prefix: PrefixCache,
    ids: list[int],
    *,
    budget: int,
    batch: int,
    lookup: PromptLookup,
    eos_ids: set[int],
    stopped: Callable[[], bool],
    sink: queue.Queue[Any],
    stats: GenerationStats | None,
    costs: PassCosts | None = None,
) -> None:
    """Greedy tokens, several per forward pass when the drafts are right (worker
    thread, inference mode, dynamic cache).

    After the prefix-reusing prefill, each pass runs ``[last] + draft`` over the cache,
    keeps the longest draft prefix the argmax agrees with plus the model's own token at
    the first disagreement (plain greedy decoding's tokens), and crops the rejected
    positions from the cache. `stopped` is checked between passes; at most `budget`
    tokens are produced and none after an end-of-sequence token. Afterwards the cache
    holds the prompt and all but the last generated token, and `prefix.ids` says so, as
    after generate().
    """
    import torch

    kv = prefix.prefill(model, ids, batch, stopped, stats)
    if kv is None:
        return  # cancelled while pre-filling
    device = model.device
    cache = {cache_keyword(model): kv}
    generated: list[int] = []
    try:
        step = torch.tensor([ids[-1:]], dtype=torch.long, device=device)
        out = model(input_ids=step, use_cache=True, logits_to_keep=1, **cache)
        last = int(out.logits[0, -1].argmax())
        generated.append(last)
        lookup.observe([last])
        sink.put(last)
        while len(generated) < budget and last not in eos_ids and not stopped():
            pos = kv.get_seq_length()
            room = budget - len(generated) - 1  # the pass's own token needs one
            draft = lookup.draft(room) if room > 0 else []
            step = torch.tensor([[last, *draft]], dtype=torch.long, device=device)
            began = time.perf_counter()
            out = model(input_ids=step, use_cache=True, **cache)
            result = verify_greedy(draft, out.logits[0].argmax(-1).tolist())
            if costs is not None:  # (the argmax synchronises a GPU: the pass is done)
                costs.observe(len(draft) + 1, time.perf_counter() - began)
            # Keep `last` and the accepted drafts; the pass's own token is evaluated by
            # the next pass.
            crop(kv, pos + len(result.tokens))
            lookup.update(result)
            if stats is not None:
                stats.drafted_tokens += result.drafted
            for index, token in enumerate(result.tokens):
                generated.append(token)
                sink.put(Accepted(token) if index < result.accepted else token)
                last = token
                if token in eos_ids:
                    break
    finally:
        prefix.hold(ids + generated)
