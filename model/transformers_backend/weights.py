"""Loading a model's weights and tokenizer onto the device, with errors a user can act on.

* **dtype**: bfloat16 on CUDA (the weights' own precision, half the memory of float32);
  float32 on CPU, because CPU bf16 matmuls are emulated on most CPUs and several times
  slower than float32 (the GGUF backend is the right tool on CPU anyway).
* **memory check first** (memory.py), before any weight is read.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from model.base import LoadProgress, ProgressCallback
from model.errors import (
    BackendUnavailableError,
    ModelFileError,
    ModelLoadError,
    OutOfMemoryError,
)
from model.presets import Preset
from model.transformers_backend.memory import check_fits, free_cuda_memory, is_oom
from model.transformers_backend.model_source import resolve_model


@dataclass(frozen=True)
class LoadedWeights:
    model: Any
    tokenizer: Any
    config: Any
    name: str  # shown to the user: the folder's name or the hub id
    preset: Preset | None
    device: str  # "cuda" | "cpu"


def load_weights(model_name: str, device: str, report: ProgressCallback) -> LoadedWeights:
    """Resolve (downloading if needed), check the memory, and load in eval mode.

    `device` is the setting: "auto" | "cuda" | "cpu".
    """
    try:
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:
        raise BackendUnavailableError(
            "The transformers backend needs torch and transformers: "
            "pip install 'starcoder-lsp[gpu]' (or use --backend llama.cpp)."
        ) from err
    folder, name, preset = resolve_model(model_name, report)
    if not (folder / "config.json").is_file():
        raise ModelFileError(
            f"{folder} has no config.json, so it is not a Hugging Face model folder."
        )
    try:
        config = AutoConfig.from_pretrained(folder)
    except Exception as err:
        raise ModelFileError(f"cannot read {folder / 'config.json'}: {err}") from err

    cuda = torch.cuda.is_available() and device != "cpu"
    if device == "cuda" and not cuda:
        raise BackendUnavailableError("device 'cuda' was asked for but CUDA is not available")
    where = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda else torch.float32
    check_fits(name, config, where, 2 if cuda else 4)

    transformers.utils.logging.disable_progress_bar()  # stderr noise in editor logs
    report(LoadProgress("loading", f"loading {name} ({dtype} on {where})", 0.0))
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    kwargs: dict[str, Any] = {dtype_key: dtype}
    # device_map="auto" (accelerate) spreads layers over several GPUs; the memory check
    # above keeps it from offloading to the CPU.
    has_accelerate = importlib.util.find_spec("accelerate") is not None
    if cuda and has_accelerate:
        kwargs["device_map"] = "auto"
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model: Any = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
        if cuda and not has_accelerate:
            model = model.to("cuda")
    except Exception as err:
        free_cuda_memory()
        if is_oom(err):
            raise OutOfMemoryError(
                f"out of memory while loading {name} on {where}: {err}. Use the "
                "GGUF backend (--backend llama.cpp) or a smaller model."
            ) from err
        if isinstance(err, (OSError, EnvironmentError)):
            raise ModelFileError(f"{folder} is not a usable model folder: {err}") from err
        raise ModelLoadError(f"transformers could not load {name}: {err}") from err
    model.eval()
    return LoadedWeights(model, tokenizer, config, name, preset, where)
