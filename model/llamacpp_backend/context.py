"""How llama.cpp is set up: threads, attention and cache types, weight repacking.

On a CPU, the set-up is one under which a row of a several-token pass is computed exactly
as a one-token pass computes it, so speculative edits give plain greedy decoding's output
(model/speculative.py explains why that matters).
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

# ggml type id of Q8_0, for the V cache (see context_options).
_GGML_TYPE_Q8_0 = 8


def runs_on_cpu(llama_cpp: Any, n_gpu_layers: int) -> bool:
    return n_gpu_layers == 0 or not bool(llama_cpp.llama_supports_gpu_offload())


def context_options(
    header: dict[str, Any], *, n_threads: int, exact_rows: bool
) -> dict[str, Any]:
    """Threads and attention settings for ``Llama()``; with `exact_rows` (speculative
    edits on a CPU), ones under which a row of a several-token pass is computed exactly
    as a one-token pass computes it.

    * Flash attention: without it the attention scores are a matrix product that
      llamafile's sgemm computes from two rows up, rounding unlike the one-row dot
      product. With it each query row is its own loop. It is also faster on CPU
      (Gemma 3 270M, 1 thread: prompt 13 %, decoding 6 %) and llama.cpp's own default.
    * With several threads, flash attention splits a single query's keys across them
      once the context reaches 512 (ggml-cpu ops.cpp, use_split_kv_path) and adds the
      parts up in a different order. That path needs K and V of one type, so the V
      cache is Q8_0 then (half the memory; a common, near-lossless choice). Q8_0
      needs head sizes in multiples of 32; with other sizes drafts are not exact.
    """
    threads = n_threads or max(multiprocessing.cpu_count() // 2, 1)
    options: dict[str, Any] = {
        "n_threads": threads,
        # Like llama.cpp's -t: batches (prompts, verification passes) too.
        "n_threads_batch": n_threads or None,
    }
    if exact_rows:
        options["flash_attn"] = True
        if threads > 1:
            arch = header.get("general.architecture", "")
            heads = int(header.get(f"{arch}.attention.head_count") or 1)
            width = int(header.get(f"{arch}.embedding_length") or 0) // max(heads, 1)
            head_v = int(header.get(f"{arch}.attention.value_length") or width)
            if head_v > 0 and head_v % 32 == 0:
                options["type_v"] = _GGML_TYPE_Q8_0
    return options


def splits_attention(options: dict[str, Any]) -> bool:
    """Flash attention on several decode threads without a Q8_0 V cache: the split
    single-query path, whose rows are not exact (see context_options)."""
    return bool(options.get("flash_attn")) and options["n_threads"] > 1 and (
        "type_v" not in options
    )


@contextlib.contextmanager
def without_repacking(llama_cpp: Any, enabled: bool) -> Iterator[None]:
    """Load without llama.cpp's CPU weight repacking ("extra buffer types").

    Repacked quantised weights use one kernel for a single token and another for several
    (gemv vs gemm), which round differently: a near tie between two tokens could then go
    one way in plain decoding and the other in a speculative verification pass.
    llama-cpp-python's Llama() has no argument for this, so the default model parameters
    are patched while it loads (under the backend's load lock).
    """
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params
    if not enabled or not hasattr(original(), "use_extra_bufts"):
        yield
        return

    def without_repacking() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    module.llama_model_default_params = without_repacking
    try:
        yield
    finally:
        module.llama_model_default_params = original
