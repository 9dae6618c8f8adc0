"""Speculative edit decoding on llama.cpp: our own draft-and-verify loop on
llama-cpp-python's low-level API.

Its LlamaPromptLookupDecoding drafts a fixed number of tokens and re-evaluates the prompt
suffix through the high-level sampler, which made it barely faster on CPU; this loop
adapts the draft length (model/speculative.py) and verifies in one pass per draft.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

from model.base import GenerationStats
from model.pass_costs import PassCosts
from model.speculative import PromptLookup, verify_greedy

# decode_rows(step, n_past): the logits of every row of one pass (see engine.decode_rows).
DecodeRows = Callable[[list[int], int], Any]


def speculative_tokens(
    llm: Any,
    llama_cpp: Any,
    tokens: list[int],
    budget: int,
    lookup: PromptLookup,
    stats: GenerationStats,
    decode_rows: DecodeRows,
    costs: PassCosts | None = None,
) -> Generator[int, Any, None]:
    """Greedy tokens, several per forward pass when the drafts are right.

    Each step decodes ``[last] + draft`` with logits for every position, keeps the
    longest draft prefix the argmax agrees with plus the model's own token at the first
    disagreement (exactly plain greedy decoding's tokens), and removes the rejected
    positions from the KV cache. `llm.input_ids`/`n_tokens` are kept in step with the
    cache so the next request's prefix reuse works either way. Every pass is timed into
    `costs`, so the draft policy follows this machine's speed as it drifts.
    """
    import numpy as np  # a dependency of llama-cpp-python, so present here

    ctx = llm._ctx
    n_vocab, n_ctx = llm.n_vocab(), llm.n_ctx()
    # Reuse the longest common prefix of the KV cache (as Llama.generate does), but
    # always evaluate at least the last prompt token: its logits give token one.
    limit = min(llm.n_tokens, len(tokens) - 1)
    same = np.asarray(llm.input_ids[:limit]) == np.asarray(tokens[:limit], dtype=np.intc)
    reuse = limit if same.all() else int(np.argmin(same))
    if reuse > 0 and ctx.kv_cache_seq_rm(-1, reuse, -1):
        llm.n_tokens = reuse
    else:
        llm.reset()
    llm._requires_eval = True  # the context's logits will not be the prompt's own
    llm.eval(tokens[llm.n_tokens :])
    last_row = llama_cpp.llama_get_logits_ith(ctx.ctx, -1)
    last = int(np.ctypeslib.as_array(last_row, shape=(n_vocab,)).argmax())
    lookup.observe([last])
    yield last
    produced = 1
    while True:
        n_past = llm.n_tokens
        # Draft no further than the answer's budget and the context allow.
        room = min(budget - produced, n_ctx - n_past) - 1
        draft = lookup.draft(room) if room > 0 else []
        began = time.perf_counter()
        logits = decode_rows([last, *draft], n_past)
        if costs is not None:
            costs.observe(len(draft) + 1, time.perf_counter() - began)
        result = verify_greedy(draft, logits.argmax(axis=1).tolist())
        # Keep the cache for `last` and the accepted drafts; the last token is the
        # model's own and is evaluated by the next pass.
        keep = n_past + len(result.tokens)
        if keep < llm.n_tokens:
            ctx.kv_cache_seq_rm(-1, keep, -1)
        llm.n_tokens = keep
        lookup.update(result)
        stats.drafted_tokens += result.drafted
        last = result.tokens[-1]
        for index, token in enumerate(result.tokens):
            if index < result.accepted:  # counted when used, not past a stop
                stats.accepted_draft_tokens += 1
            yield token
            produced += 1
