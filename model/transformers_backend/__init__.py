"""The Hugging Face transformers backend: bf16 weights on a CUDA GPU (float32 on CPU).

torch and transformers are imported only inside functions, so the language server starts
(and reports a clear error) where they are not installed. The package is named with a
`_backend` suffix so it never shadows the `transformers` package.

    backend.py           TransformersBackend: state, tokens, the generation stream
    weights.py           loading weights + tokenizer onto the device (dtype, device map)
    model_source.py      local folder, hub id or preset; the hub download
    memory.py            will it fit: parameter estimate vs free memory; OOM helpers
    fast_decode.py       static KV cache + torch.compile'd decode step (CUDA)
    prefix_cache.py      prompt-prefix KV reuse with cancellable chunked prefill
    speculative_loop.py  prompt-lookup draft-and-verify loop (dynamic-cache path)
    exactness.py         load-time probe: the widest exact pass, and what passes cost
    token_stream.py      token ids → text across the worker thread (streamer, decoder)
"""

from model.transformers_backend.backend import TransformersBackend
from model.transformers_backend.fast_decode import disable_fast_decode, enable_fast_decode

__all__ = ["TransformersBackend", "disable_fast_decode", "enable_fast_decode"]
