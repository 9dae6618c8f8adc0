"""Fast decoding on CUDA (setting `fast_decode`): a static KV cache sized to the context
plus transformers' automatic compilation of the decode step with CUDA graphs. One cache
size means one compiled graph for every request. The graph is built during load(); if
compiling fails the backend logs a warning and decodes the default way."""

from __future__ import annotations

from typing import Any


def enable_fast_decode(model: Any, max_cache_len: int) -> None:
    """Static KV cache + torch.compile'd decode step with CUDA graphs.

    With transformers' CompileConfig (>= 4.47) generate() compiles only the one-token
    decode step itself (the prefill, whose shape changes with every prompt, stays eager);
    a fixed `max_cache_len` keeps that step's shapes identical across requests. Older
    versions get the documented manual recipe: compile the whole forward.
    """
    import torch
    import transformers

    config = model.generation_config
    config.cache_implementation = "static"
    config.max_cache_len = max_cache_len
    compile_config = getattr(transformers, "CompileConfig", None)
    if compile_config is not None:
        config.compile_config = compile_config(fullgraph=True, mode="reduce-overhead")
    else:  # pragma: no cover - transformers < 4.47
        model._eager_forward = model.forward
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)


def disable_fast_decode(model: Any) -> None:
    """Back to the default dynamic cache and eager decoding."""
    import torch

    config = model.generation_config
    config.cache_implementation = None
    config.compile_config = None
    config.max_cache_len = None
    eager = getattr(model, "_eager_forward", None)
    if eager is not None:  # pragma: no cover - transformers < 4.47
        model.forward = eager
        del model._eager_forward
    torch._dynamo.reset()
