"""Pick and construct a backend from configuration; `auto` decides by what is available.

Everything heavy (llama_cpp, torch, transformers, huggingface_hub) is imported inside the
functions here, so the language server starts without any of them.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass

from model.base import Backend, ProgressCallback
from model.errors import BackendUnavailableError
from model.presets import find

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendConfig:
    model: str
    backend: str = "auto"  # auto | llama.cpp | transformers | openai
    endpoint: str = ""
    api_key: str = ""
    endpoint_model: str = ""
    n_ctx: int = 0
    n_gpu_layers: int = -1
    n_threads: int = 0
    models_dir: str = ""
    fast_decode: bool = True
    request_timeout_s: float = 120.0
    # False: speculative edits off, so engines load in their plain fastest set-up (see
    # the README's `speculative` setting); True: the set-up under which drafts are exact.
    speculative: bool = True


def _cuda_free_gb() -> float:
    """Free memory on the first CUDA device, 0 when torch or CUDA is missing."""
    if importlib.util.find_spec("torch") is None:
        return 0.0
    try:
        import torch

        if not torch.cuda.is_available():
            return 0.0
        free, _total = torch.cuda.mem_get_info()
        return free / 2**30
    except Exception:  # a broken CUDA install is "no CUDA" for selection purposes
        return 0.0


def bf16_needed_gb(model: str) -> float:
    preset = find(model)
    params = preset.params_b if preset else 16.0
    return params * 2 * 1.15  # weights + KV cache and activations headroom


def choose_backend(config: BackendConfig) -> str:
    """`auto`: an endpoint → openai; CUDA with room for bf16 weights and transformers
    installed → transformers; otherwise the embedded llama.cpp GGUF backend."""
    if config.backend != "auto":
        return config.backend
    if config.endpoint:
        return "openai"
    wants_gguf = config.model.endswith(".gguf")
    if not wants_gguf and importlib.util.find_spec("transformers") is not None:
        free = _cuda_free_gb()
        if free >= bf16_needed_gb(config.model):
            return "transformers"
        if free:
            log.info("CUDA has %.1f GB free, not enough for bf16; using llama.cpp", free)
    return "llama.cpp"


def create_backend(
    config: BackendConfig,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Backend:
    """Construct (not load) the chosen backend; downloads a preset's GGUF if needed."""
    kind = choose_backend(config)
    if kind == "llama.cpp":
        if importlib.util.find_spec("llama_cpp") is None:
            raise BackendUnavailableError(
                "llama-cpp-python is not installed: pip install 'starcoder-lsp[llama]' "
                "(or choose --backend openai with --endpoint URL)"
            )
        from model.download import resolve_gguf
        from model.llamacpp_backend import LlamaCppBackend

        path = resolve_gguf(config.model, directory=config.models_dir, progress=progress,
                            cancel=cancel)
        return LlamaCppBackend(
            str(path), n_ctx=config.n_ctx, n_gpu_layers=config.n_gpu_layers,
            n_threads=config.n_threads, speculative=config.speculative,
        )
    if kind == "transformers":
        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise BackendUnavailableError(
                    f"{module} is not installed: pip install 'starcoder-lsp[gpu]'"
                )
        from model.transformers_backend import TransformersBackend

        return TransformersBackend(config.model, fast_decode=config.fast_decode,
                                  n_ctx=config.n_ctx, speculative=config.speculative)
    if kind == "openai":
        if not config.endpoint:
            raise BackendUnavailableError(
                "--backend openai needs --endpoint URL (setting starcoder.endpoint)"
            )
        from model.openai_backend import OpenAIBackend

        return OpenAIBackend(
            config.endpoint, model=config.endpoint_model or config.model,
            api_key=config.api_key, timeout_s=config.request_timeout_s,
            context_length=config.n_ctx,
        )
    raise BackendUnavailableError(f"unknown backend {kind!r}")
