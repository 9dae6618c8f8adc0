"""The doctor: every check, in the order a user reads them, over the same settings,
backend choice, loaders and prompt builders the server uses. Called by the CLI
(`starcoder-lsp doctor`) and by the server (`starcoder/doctor`)."""

from __future__ import annotations

from collections.abc import Callable

from lsp_server.doctor.endpoint_checks import endpoint_checks
from lsp_server.doctor.environment import (
    llama_cpp_check,
    llama_gpu_offload,
    probe_torch,
    python_check,
    server_check,
    torch_check,
)
from lsp_server.doctor.model_checks import (
    ModelFile,
    bf16_memory_check,
    gguf_file_check,
    gguf_memory_check,
    hf_model_check,
    load_check,
)
from lsp_server.doctor.prompt_checks import completion_checks, prompt_check
from lsp_server.doctor.report import FAIL, OK, SKIP, Check, Report
from lsp_server.settings import Settings
from model.base import Backend, ModelInfo
from model.loader import BackendConfig, choose_backend, create_backend

LoadModel = Callable[[], Backend]


def fresh_loader(config: BackendConfig) -> LoadModel:
    """The CLI's way to load: construct and load a backend, as the server's host does."""

    def load() -> Backend:
        backend = create_backend(config)
        backend.load()
        return backend

    return load


def _why(settings: Settings, kind: str) -> str:
    if settings.backend != "auto":
        return f"{kind} (the backend setting)"
    if kind == "openai":
        return "auto chose openai: an endpoint is set"
    if kind == "transformers":
        return "auto chose transformers: a CUDA GPU has room for the bf16 weights"
    return "auto chose llama.cpp: no endpoint, and no CUDA GPU with room for bf16 weights"


def run_doctor(settings: Settings, *, load: LoadModel | None = None,
               loaded: bool = False) -> Report:
    """Check everything the server needs for `settings`. `load` loads the model the
    server's way (the server passes its model host, which may have it `loaded` already);
    by default a fresh backend is loaded and closed afterwards."""
    from lsp_server.models import backend_config

    config = backend_config(settings)
    report = Report([server_check(), python_check()])
    add = report.checks.append
    try:
        kind = choose_backend(config)
    except Exception as err:  # the choice itself failed (a broken torch): say so
        add(Check("backend", FAIL, f"choosing a backend failed: {err}", "set starcoder.backend"))
        return report
    llama = llama_cpp_check(required=kind == "llama.cpp")
    probe = probe_torch()
    torch = torch_check(required=kind == "transformers", probe=probe)
    report.checks += [llama, torch, Check("backend", OK, _why(settings, kind))]

    close_after = load is None or kind == "openai"  # a backend of our own, not the host's
    load = load or fresh_loader(config)
    backend: Backend | None = None
    info: ModelInfo | None = None
    endpoint: list[Check] = []
    memory: Check
    if kind == "openai":
        add(Check("model file", SKIP, "the endpoint serves the model"))
        endpoint, backend = endpoint_checks(config)
        memory = Check("memory", SKIP, "nothing to load here: the endpoint serves the model")
    else:
        if kind == "llama.cpp":
            model_file, file_check = gguf_file_check(config.model, config.models_dir)
            memory = gguf_memory_check(
                [model_file, *_completion_file(settings)], settings.n_ctx, loaded=loaded,
                gpu_offload=settings.n_gpu_layers != 0 and llama_gpu_offload())
            ready = model_file.valid and llama.status != FAIL
        else:
            folder, file_check = hf_model_check(config.model)
            devices = (probe or {}).get("devices") or []
            memory = bf16_memory_check(config.model, folder, list(devices))
            ready = folder is not None and torch.status != FAIL
        add(file_check)
        if loaded or (ready and memory.status != FAIL):
            load_result, backend = load_check(load)
            add(load_result)
        else:
            why = "it would not fit in memory" if memory.status == FAIL else (
                "see the lines above")
            add(Check("model loads", SKIP, f"not tried: {why}"))
        endpoint = endpoint_checks(config)[0]
    if backend is not None:
        info = backend.info
        add(prompt_check(info))
    else:
        add(Check("prompt", SKIP, "not checked: no model loaded"))
    report.checks += completion_checks(
        inline=settings.inline_completion, model=settings.model,
        completion_model=settings.completion_model, models_dir=settings.models_dir,
        info=info, served=kind == "openai")
    report.checks += endpoint
    add(memory)
    if close_after and backend is not None:
        backend.close()
    return report


def _completion_file(settings: Settings) -> list[ModelFile]:
    """The separate completion model's file, when there is one on disk (it is loaded next
    to the edit model, so it counts for memory)."""
    from lsp_server.completion.model_choice import resolve_completion_model

    if not settings.completion_model:
        return []
    name = resolve_completion_model(settings.completion_model)
    if name == settings.model:
        return []
    model_file, _check = gguf_file_check(name, settings.models_dir)
    return [model_file]
