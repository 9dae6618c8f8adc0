"""The embedded GGUF backend: llama.cpp through llama-cpp-python.

`llama_cpp` is imported only inside load(), so the server starts (and can report a clear
error) on machines where it is not installed.

    backend.py           LlamaCppBackend: loading a GGUF, its facts, the generation stream
    gguf_header.py       the GGUF header check before llama.cpp sees the file
    context.py           threads, flash attention, V cache type, weight repacking
    engine.py            Llama extended: token counting, cancel between batches, wide passes
    vocab.py             tokenizing, and token bytes (llama-cpp-python truncates at 32)
    stderr_capture.py    muting llama.cpp's loading chatter on the loading thread only
    speculative_loop.py  prompt-lookup draft-and-verify loop on the low-level API
    exactness.py         load-time probe: the widest exact pass, and what passes cost
"""

from model.llamacpp_backend.backend import LlamaCppBackend
from model.llamacpp_backend.gguf_header import read_gguf_header

__all__ = ["LlamaCppBackend", "read_gguf_header"]
