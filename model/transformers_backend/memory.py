"""Will the weights fit? Checked from config.json before any weight is read, so "15B on a
laptop" fails in a second with numbers and advice instead of swapping the machine to death
(or, on CUDA, silently offloading layers to the CPU)."""

from __future__ import annotations

import os
from typing import Any

from model.errors import OutOfMemoryError

# Weights plus KV cache and activations (the same factor as loader.bf16_needed_gb).
MEMORY_HEADROOM = 1.15
# Architectures whose MLP has three matrices (gate, up, down) instead of two.
_GATED_MLP = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "phi3"}


def estimate_params(config: Any) -> float:
    """Parameter count of a decoder-only model from its config (0 when unknown).

    Covers the StarCoder families: starcoder2 (and llama-style configs) and gpt_bigcode.
    """

    def get(*names: str) -> Any:
        for name in names:
            value = getattr(config, name, None)
            if value is not None:
                return value
        return None

    hidden = get("hidden_size", "n_embd")
    layers = get("num_hidden_layers", "n_layer")
    heads = get("num_attention_heads", "n_head")
    vocab = get("vocab_size")
    if not (hidden and layers and heads and vocab):
        return 0.0
    ff = get("intermediate_size", "n_inner") or 4 * hidden
    multi_query = getattr(config, "multi_query", False)  # gpt_bigcode: one K/V head
    kv_heads = 1 if multi_query else get("num_key_value_heads") or heads
    head_dim = get("head_dim") or hidden // heads
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    mlp = (3 if getattr(config, "model_type", "") in _GATED_MLP else 2) * hidden * ff
    embeddings = vocab * hidden
    tied = getattr(config, "tie_word_embeddings", True)
    return float(layers * (attention + mlp) + embeddings * (1 if tied else 2))


def _cpu_available_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("inf")  # unknown: do not block loading on a guess


def available_memory_gb(device: str) -> float:
    """Free memory where the weights will live: all CUDA devices together, or RAM."""
    if device == "cuda":
        import torch

        return sum(
            torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())
        ) / 2**30
    return _cpu_available_gb()


def check_fits(name: str, config: Any, device: str, dtype_bytes: int) -> None:
    """Raise OutOfMemoryError before loading when the weights cannot fit."""
    params = estimate_params(config)
    if not params:
        return
    needed = params * dtype_bytes * MEMORY_HEADROOM / 2**30
    free = available_memory_gb(device)
    if needed <= free:
        return
    dtype = "bfloat16" if dtype_bytes == 2 else "float32"
    where = (
        f"the GPU{'s have' if device == 'cuda' else ' has'} {free:.1f} GB free"
        if device == "cuda"
        else f"this machine has {free:.1f} GB of RAM available and no CUDA GPU was found"
    )
    raise OutOfMemoryError(
        f"{name} has about {params / 1e9:.1f}B parameters and needs about {needed:.1f} GB "
        f"in {dtype}, but {where}. Use the GGUF backend instead (--backend llama.cpp, "
        "setting starcoder.backend): a Q4_K_M file needs about a third of the bf16 size "
        "(StarCoder2-15B: 9.9 GB)."
    )


def is_oom(err: BaseException) -> bool:
    """Whether `err` is running out of memory, on the CPU or in torch/CUDA."""
    if isinstance(err, MemoryError):
        return True
    name = type(err).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(err).lower()


def free_cuda_memory() -> None:
    """Hand cached CUDA blocks back after a failure, so a retry has the room."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort
        pass
