"""Checks of the model itself: where its file is (never downloading it), the GGUF header,
whether it fits in memory, and whether the server's own loader loads it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lsp_server.doctor.report import FAIL, OK, SKIP, WARN, Check
from model.base import Backend, context_size
from model.errors import (
    BackendUnavailableError,
    ModelError,
    ModelFileError,
    ModelLoadError,
    OutOfMemoryError,
)
from model.presets import Preset, find

MODEL_SETTING = "set the model (`--model`, setting starcoder.model) to a .gguf file or a preset"


@dataclass
class ModelFile:
    """What is known of a GGUF model without loading it."""

    name: str
    path: Path | None = None
    preset: Preset | None = None
    header: dict[str, Any] = field(default_factory=dict)
    size: int = 0

    @property
    def valid(self) -> bool:
        return bool(self.header)

    @property
    def architecture(self) -> str:
        return str(self.header.get("general.architecture", ""))

    @property
    def trained_context(self) -> int:
        return int(self.header.get(f"{self.architecture}.context_length") or 0)


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.2f} {unit}"
        size /= 1000
    return f"{size:.2f} GB"


def locate_gguf(name: str, directory: str) -> tuple[ModelFile, Check | None]:
    """The local file `name` (a path or a preset) refers to; a check when there is none."""
    from model.download import is_path_like, local_gguf_path, models_dir

    model = ModelFile(name)
    if is_path_like(name):
        model.path = Path(name).expanduser()
        return model, None
    model.preset = find(name)
    if model.preset is None:
        return model, Check("model file", FAIL, f"{name!r} is neither a .gguf file nor a "
                            "known preset", f"{MODEL_SETTING} (presets: `starcoder-lsp models`)")
    try:
        model.path = local_gguf_path(name, models_dir(directory))
    except ModelError as err:  # a preset without GGUF, or an unknown quantisation
        return model, Check("model file", FAIL, str(err), MODEL_SETTING)
    if not model.path.exists():
        gguf = model.preset.gguf.get(name.partition(":")[2].upper()) or model.preset.default_gguf
        size = f" ({gguf.size_gb:.1f} GB)" if gguf else ""
        return model, Check(
            "model file", WARN, f"{name} is not downloaded yet{size}: {model.path}",
            f"the first edit downloads it (with progress); now: `starcoder-lsp download {name}` "
            "or StarCoder: Load Model Now in VS Code")
    return model, None


def gguf_file_check(name: str, directory: str, label: str = "model file"
                    ) -> tuple[ModelFile, Check]:
    """Present, size, GGUF header valid, architecture and context length."""
    from model.llamacpp_backend.gguf_header import read_gguf_header

    model, problem = locate_gguf(name, directory)
    if problem is not None:
        return model, Check(label, problem.status, problem.detail, problem.fix)
    assert model.path is not None
    try:
        model.header = read_gguf_header(model.path)
    except ModelFileError as err:
        again = f"`starcoder-lsp download {model.preset.name}`" if model.preset else "it"
        return model, Check(label, FAIL, str(err), f"download {again} again, or {MODEL_SETTING}")
    except ModelError as err:
        return model, Check(label, FAIL, str(err), MODEL_SETTING)
    model.size = model.path.stat().st_size
    context = model.trained_context or "unknown"
    return model, Check(label, OK, f"{model.path}: {human_size(model.size)}, GGUF header valid, "
                        f"architecture {model.architecture or 'unknown'}, context length "
                        f"{context}")


def hf_model_check(name: str) -> tuple[Path | None, Check]:
    """transformers: a model folder, or a hub id / preset already in the hub's cache."""
    folder = Path(name).expanduser()
    if not folder.exists():
        preset = find(name)
        repo = preset.hf_repo if preset else name
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(repo, local_files_only=True))
        except Exception:  # not cached (or not a hub id): the loader would download it
            return None, Check("model file", WARN, f"{repo} is not in the Hugging Face cache",
                               "the first edit downloads it; or pass a local model folder")
    if not (folder / "config.json").is_file():
        return None, Check("model file", FAIL, f"{folder} has no config.json: not a Hugging "
                           "Face model folder", f"{MODEL_SETTING}, or a model folder")
    weights = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    return folder, Check("model file", OK, f"{folder}: Hugging Face folder, "
                         f"{human_size(weights)} of safetensors weights")


def gguf_memory_check(models: list[ModelFile], n_ctx: int, *, loaded: bool,
                      gpu_offload: bool) -> Check:
    """Memory the GGUF model(s) need with the context they will run with vs available
    (in GB of 10^9 bytes, as model files are sized)."""
    from model.llamacpp_backend.memory import WORKING_BUFFERS_GB, gguf_memory_gb, kv_cache_gb
    from model.transformers_backend.memory import available_memory_gb

    gib = 2**30 / 1e9
    needed = 0.0
    parts = []
    for model in models:
        if model.valid:
            context = context_size(n_ctx, model.trained_context or 4096)
            needed += gguf_memory_gb(model.header, model.size, context) * gib
            parts.append(f"{model.path.name if model.path else model.name}: weights "
                         f"{human_size(model.size)} + KV cache "
                         f"{kv_cache_gb(model.header, context) * gib:.2f} GB for {context} tokens")
        elif model.preset is not None and model.preset.default_gguf is not None:
            size = model.preset.default_gguf.size_gb  # not downloaded yet: its published size
            needed += size + WORKING_BUFFERS_GB * gib
            parts.append(f"{model.name}: weights {size:.2f} GB + its KV cache")
    if not parts:
        return Check("memory", SKIP, "not estimated: no model file to measure")
    available = available_memory_gb("cpu") * gib
    detail = f"needs about {needed:.1f} GB ({'; '.join(parts)}); {available:.1f} GB available"
    if loaded:
        return Check("memory", OK, f"the model is loaded (about {needed:.1f} GB); "
                     f"{available:.1f} GB still available")
    if gpu_offload:
        return Check("memory", OK, f"{detail} in RAM; this llama.cpp offloads layers to the GPU")
    if needed <= available:
        return Check("memory", OK, detail)
    return Check("memory", FAIL, detail, "a smaller quantisation or model (e.g. starcoder2-3b), "
                 "a smaller context (`--n-ctx`, starcoder.nCtx), or close other programs")


def bf16_memory_check(model: str, folder: Path | None, devices: list[dict[str, Any]]
                      ) -> Check:
    """transformers: bf16 weights on the GPU(s), else float32 in RAM."""
    from model.loader import bf16_needed_gb
    from model.transformers_backend.memory import (
        MEMORY_HEADROOM,
        available_memory_gb,
        estimate_params,
    )

    needed = bf16_needed_gb(model)
    if folder is not None and find(model) is None:
        try:
            config = json.loads((folder / "config.json").read_text())
            params = estimate_params(SimpleNamespace(**config))
        except (OSError, ValueError, TypeError):
            params = 0.0
        if params:
            needed = params * 2 * MEMORY_HEADROOM / 2**30
    if devices:
        free = sum(float(d["free_gb"]) for d in devices)
        where = f"{free:.1f} GB free on the GPU{'s' * (len(devices) > 1)}"
    else:
        needed *= 2  # float32 on the CPU
        free = available_memory_gb("cpu")
        where = f"{free:.1f} GB of RAM available (no CUDA GPU: float32)"
    detail = f"needs about {needed:.1f} GB; {where}"
    if needed <= free:
        return Check("memory", OK, detail)
    return Check("memory", FAIL, detail, "use the GGUF backend (`--backend llama.cpp`): a "
                 "Q4_K_M file needs about a third of the bf16 size")


def fix_for(err: Exception) -> str:
    """What to do about a load failure (the message itself says what happened)."""
    if isinstance(err, OutOfMemoryError):
        return ("a smaller quantisation or model, a smaller context (starcoder.nCtx), or fewer "
                "GPU layers (starcoder.nGpuLayers)")
    if isinstance(err, ModelFileError):
        return "download the model file again, or point starcoder.model at a good copy"
    if isinstance(err, BackendUnavailableError):
        return "install the backend the message names, or choose another (`--backend`)"
    if isinstance(err, ModelLoadError):
        return "a newer llama-cpp-python (`pip install -U llama-cpp-python`), or another model"
    return "run `starcoder-lsp -v` for the server's log; the message above says what failed"


def load_check(load: Callable[[], Backend]) -> tuple[Check, Backend | None]:
    """Load with the server's own loader, timed."""
    start = time.perf_counter()
    try:
        backend = load()
    except Exception as err:  # a failure of any kind is this check's answer
        detail = str(err) if isinstance(err, ModelError) else f"{type(err).__name__}: {err}"
        return Check("model loads", FAIL, detail, fix_for(err)), None
    took = time.perf_counter() - start
    info = backend.info
    return Check("model loads", OK, f"{info.name} loaded by {backend.name} in {took:.1f} s "
                 f"(context {info.context_length} tokens)"), backend
