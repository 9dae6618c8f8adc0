"""How `auto` picks a backend, and how create_backend constructs each one. No engine is
loaded: the probes (CUDA memory, installed modules) are monkeypatched."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from model import loader
from model.errors import BackendUnavailableError
from model.loader import BackendConfig, bf16_needed_gb, choose_backend, create_backend

_real_find_spec = importlib.util.find_spec


def installed(monkeypatch: pytest.MonkeyPatch, *present: str, missing: tuple[str, ...] = ()
              ) -> None:
    """Pretend exactly these top-level modules are (or are not) installed."""

    def find_spec(name: str, *args: Any) -> Any:
        if name in missing:
            return None
        if name in present:
            return object()
        return _real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def cuda_free(monkeypatch: pytest.MonkeyPatch, gb: float) -> None:
    monkeypatch.setattr(loader, "_cuda_free_gb", lambda: gb)


def test_explicit_backend_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda_free(monkeypatch, 80)
    for name in ("llama.cpp", "transformers", "openai"):
        assert choose_backend(BackendConfig(model="m", backend=name)) == name


def test_an_endpoint_means_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda_free(monkeypatch, 80)
    installed(monkeypatch, "transformers", "torch")
    config = BackendConfig(model="starcoder2-15b-instruct-v0.1", endpoint="http://gpu:8000")
    assert choose_backend(config) == "openai"


def test_big_gpu_with_transformers_picks_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda_free(monkeypatch, 79.0)
    installed(monkeypatch, "transformers", "torch")
    assert choose_backend(BackendConfig(model="starcoder2-15b-instruct-v0.1")) == "transformers"
    assert choose_backend(BackendConfig(model="bigcode/starcoder2-15b")) == "transformers"


def test_small_gpu_picks_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda_free(monkeypatch, 24.0)  # 15B in bf16 needs ~37 GB
    installed(monkeypatch, "transformers", "torch")
    assert choose_backend(BackendConfig(model="starcoder2-15b-instruct-v0.1")) == "llama.cpp"
    # ...but a 3B model fits in bf16 there.
    assert choose_backend(BackendConfig(model="starcoder2-3b")) == "transformers"


def test_no_cuda_picks_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda_free(monkeypatch, 0.0)
    installed(monkeypatch, "transformers", "torch")
    assert choose_backend(BackendConfig(model="starcoder2-3b")) == "llama.cpp"


def test_without_transformers_installed_picks_llama_cpp(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    cuda_free(monkeypatch, 80.0)
    installed(monkeypatch, missing=("transformers",))
    assert choose_backend(BackendConfig(model="starcoder2-3b")) == "llama.cpp"


def test_a_gguf_file_always_picks_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda_free(monkeypatch, 80.0)
    installed(monkeypatch, "transformers", "torch")
    assert choose_backend(BackendConfig(model="/models/starcoder2-3b-Q4_K_M.gguf")) == "llama.cpp"


def test_cuda_probe_without_torch_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, missing=("torch",))
    assert loader._cuda_free_gb() == 0.0


def test_bf16_memory_estimate() -> None:
    assert bf16_needed_gb("starcoder2-15b-instruct-v0.1") == pytest.approx(16 * 2 * 1.15)
    assert bf16_needed_gb("starcoder2-3b") == pytest.approx(3 * 2 * 1.15)
    assert bf16_needed_gb("some/unknown-model") == pytest.approx(16 * 2 * 1.15)


# ---- construction ----------------------------------------------------------------------


def test_create_transformers_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, "transformers", "torch")
    config = BackendConfig(model="bigcode/starcoder2-3b", backend="transformers",
                           fast_decode=False, n_ctx=4096)
    backend = create_backend(config)
    assert backend.name == "transformers"
    assert backend.model == "bigcode/starcoder2-3b"  # type: ignore[attr-defined]
    assert backend.fast_decode is False and backend.n_ctx == 4096  # type: ignore[attr-defined]


def test_create_transformers_without_torch_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed(monkeypatch, "transformers", missing=("torch",))
    with pytest.raises(BackendUnavailableError, match=r"starcoder-lsp\[gpu\]"):
        create_backend(BackendConfig(model="m", backend="transformers"))


def test_create_openai_backend_passes_key_timeout_and_context() -> None:
    config = BackendConfig(model="starcoder2-15b-instruct-v0.1", backend="openai",
                           endpoint="http://gpu:8000/v1/", api_key="sk-secret",
                           request_timeout_s=30.0, n_ctx=2048)
    backend = create_backend(config)
    assert backend.name == "openai"
    assert backend.base_url == "http://gpu:8000"  # type: ignore[attr-defined]
    assert backend.model == "starcoder2-15b-instruct-v0.1"  # type: ignore[attr-defined]
    assert backend.timeout_s == 30.0  # type: ignore[attr-defined]
    assert backend.context_length == 2048  # type: ignore[attr-defined]
    assert "sk-secret" not in repr(backend)
    # endpoint_model wins over model when both are given.
    other = create_backend(BackendConfig(model="x", backend="openai", endpoint="http://h",
                                         endpoint_model="served-name"))
    assert other.model == "served-name"  # type: ignore[attr-defined]


def test_openai_needs_an_endpoint() -> None:
    with pytest.raises(BackendUnavailableError, match="--endpoint"):
        create_backend(BackendConfig(model="m", backend="openai"))


def test_llama_cpp_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, missing=("llama_cpp",))
    with pytest.raises(BackendUnavailableError, match=r"starcoder-lsp\[llama\]"):
        create_backend(BackendConfig(model="x.gguf", backend="llama.cpp"))


def test_unknown_backend() -> None:
    with pytest.raises(BackendUnavailableError, match="unknown backend"):
        create_backend(BackendConfig(model="m", backend="tensorrt"))
