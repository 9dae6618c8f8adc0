"""How much memory a GGUF model needs under llama.cpp, from its header: the weights (the
file, mapped), the KV cache for the context it will run with, and working buffers."""

from __future__ import annotations

from typing import Any

# llama.cpp's compute buffers and the runtime: a few hundred MB whatever the model.
WORKING_BUFFERS_GB = 0.3
KV_BYTES = 2  # f16 K and V (a Q8_0 V cache, used on several threads, takes less)


def kv_cache_gb(header: dict[str, Any], n_ctx: int) -> float:
    """The K and V caches for `n_ctx` tokens (0 when the header lacks the shapes)."""
    arch = header.get("general.architecture", "")
    layers = int(header.get(f"{arch}.block_count") or 0)
    width = int(header.get(f"{arch}.embedding_length") or 0)
    heads = int(header.get(f"{arch}.attention.head_count") or 0)
    if not (layers and width and heads):
        return 0.0
    kv_heads = int(header.get(f"{arch}.attention.head_count_kv") or heads)
    key = int(header.get(f"{arch}.attention.key_length") or width // heads)
    value = int(header.get(f"{arch}.attention.value_length") or width // heads)
    return n_ctx * layers * kv_heads * (key + value) * KV_BYTES / 2**30


def gguf_memory_gb(header: dict[str, Any], file_bytes: int, n_ctx: int) -> float:
    """About what loading the file with an `n_ctx`-token context takes."""
    return file_bytes / 2**30 + kv_cache_gb(header, n_ctx) + WORKING_BUFFERS_GB
