"""TransformersBackend on CPU with the tiny StarCoder2 in Hugging Face form (the same
random weights as the GGUF the llama.cpp tests use)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from model.base import GenerationRequest, GenerationStats, LoadProgress
from model.errors import (
    BackendUnavailableError,
    DownloadError,
    GenerationError,
    ModelFileError,
    ModelNotFoundError,
    OutOfMemoryError,
)
from tests.fixtures.tiny_model import TinyModel

pytest.importorskip("torch")
pytest.importorskip("transformers")

from model.transformers_backend import TransformersBackend, fast_decode, memory, prefix_cache
from model.transformers_backend import backend as backend_module

PROMPT = (
    "<|endoftext|>You are an exceptionally intelligent coding assistant that consistently "
    "delivers accurate and reliable responses to user instructions.\n\n"
    "### Instruction\nRename x to count.\n\n```python\ndef f(x):\n    return x + 1\n```\n\n"
    "### Response\n"
)


@pytest.fixture(scope="module")
def backend(tiny_model: TinyModel) -> Iterator[TransformersBackend]:
    model = TransformersBackend(str(tiny_model.hf_dir))
    model.load()
    yield model
    model.close()


def run(backend: TransformersBackend, prompt: str = PROMPT, cancel: threading.Event | None = None,
        **kwargs: Any) -> tuple[list[str], GenerationStats]:
    stats = GenerationStats()
    request = GenerationRequest(prompt, **kwargs)
    pieces = list(backend.generate(request, cancel or threading.Event(), stats))
    return pieces, stats


def test_load_reports_progress_and_model_info(tiny_model: TinyModel) -> None:
    seen: list[LoadProgress] = []
    model = TransformersBackend(str(tiny_model.hf_dir))
    info = model.load(seen.append)
    assert [p.stage for p in seen] == ["loading", "ready"]
    assert "float32 on cpu" in seen[0].message  # bf16 only on CUDA
    assert info.context_length == 4096  # max_position_embeddings
    assert info.prompt_family == "starcoder2-instruct"  # from the chat template
    assert info.chat_template and "### Instruction" in info.chat_template
    assert info.supports_fim
    assert info.eos_token == info.bos_token == "<|endoftext|>"
    assert not info.uses_chat_api
    assert not model.fast_decode_active  # fast_decode is a CUDA feature
    assert model.load() is info and model.info is info
    model.close()


def test_count_tokens_matches_the_tokenizer(backend: TransformersBackend,
                                            tiny_model: TinyModel) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(tiny_model.tokenizer_path))
    for text in (PROMPT, "<fim_prefix>def f(<fim_suffix>)\n<fim_middle>", "x = 12345 # héllo"):
        assert backend.count_tokens(text) == len(hf.encode(text).ids)
    assert backend.count_tokens("<|endoftext|>") == 1


def test_greedy_is_deterministic_and_streams(backend: TransformersBackend) -> None:
    first, _ = run(backend, max_tokens=30)
    run(backend, "def other():\n", max_tokens=5)  # shares no prefix: evaluated whole
    second, stats = run(backend, max_tokens=30)
    assert "".join(first) == "".join(second)
    assert len(first) > 1
    assert stats.completion_tokens == 30
    assert stats.stop_reason == "length"
    assert stats.prompt_tokens == stats.prompt_tokens_evaluated == backend.count_tokens(PROMPT)
    assert stats.time_to_first_token_s > 0
    assert stats.backend == "transformers"


def test_agrees_with_llama_cpp_on_greedy_output(backend: TransformersBackend,
                                                tiny_model: TinyModel) -> None:
    """Both engines run the same float32 weights; greedy decoding gives the same tokens.

    Summation order differs (ggml vs. torch kernels), so logits differ in the last bits;
    the random tiny model has wide gaps between its top logits, so the argmax agrees for
    far longer than the 24 tokens compared here (30 checked by hand).
    """
    pytest.importorskip("llama_cpp")
    from model.llamacpp_backend import LlamaCppBackend

    llama = LlamaCppBackend(str(tiny_model.gguf_path))
    llama.load()
    try:
        request = GenerationRequest(PROMPT, max_tokens=24)
        ours = "".join(backend.generate(request, threading.Event()))
        theirs = "".join(llama.generate(request, threading.Event()))
    finally:
        llama.close()
    assert ours == theirs


def test_sampling_with_temperature_runs(backend: TransformersBackend) -> None:
    _, stats = run(backend, max_tokens=8, temperature=0.8)
    assert stats.completion_tokens == 8


def test_max_tokens(backend: TransformersBackend) -> None:
    _, stats = run(backend, max_tokens=5)
    assert stats.completion_tokens == 5 and stats.stop_reason == "length"


def test_stop_string_across_pieces_is_cut(backend: TransformersBackend) -> None:
    pieces, _ = run(backend, max_tokens=40)
    full = "".join(pieces)
    # A stop made of the end of one piece and the start of the next.
    i = next(k for k in range(1, len(pieces)) if pieces[k - 1] and pieces[k])
    stop = pieces[i - 1][-1] + pieces[i][0]
    cut, stats = run(backend, max_tokens=40, stop=(stop,))
    assert "".join(cut) == full[: full.index(stop)]
    assert stats.stop_reason == "stop"
    assert stop not in "".join(cut)


def test_cancel_stops_within_a_few_tokens(backend: TransformersBackend) -> None:
    cancel = threading.Event()
    stats = GenerationStats()
    request = GenerationRequest(PROMPT, max_tokens=2000)
    for received, _piece in enumerate(backend.generate(request, cancel, stats), 1):
        if received == 3:
            cancel.set()
    assert stats.stop_reason == "cancelled"
    assert stats.completion_tokens <= 6
    # Cancelled before it started: nothing runs.
    cancel_first = threading.Event()
    cancel_first.set()
    pieces, stats = run(backend, cancel=cancel_first)
    assert pieces == [] and stats.stop_reason == "cancelled"
    _, after = run(backend, max_tokens=3)  # still serves
    assert after.completion_tokens == 3


def test_empty_and_too_long_prompts_are_generation_errors(tiny_model: TinyModel) -> None:
    model = TransformersBackend(str(tiny_model.hf_dir), n_ctx=64)
    assert model.load().context_length == 64
    with pytest.raises(GenerationError, match="empty"):
        run(model, "")
    with pytest.raises(GenerationError, match="context is 64"):
        run(model, "x = 1\n" * 100)
    model.close()


def test_generation_oom_is_reported_and_the_server_stays_up(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(**_kwargs: Any) -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(backend._model, "generate", boom)
    stats = GenerationStats()
    with pytest.raises(OutOfMemoryError, match="still loaded"):
        list(backend.generate(GenerationRequest(PROMPT, max_tokens=4), threading.Event(),
                              stats))
    assert stats.stop_reason == "error"
    assert backend._prefix.kv is None and backend._prefix.ids == []  # not trusted after a failure
    monkeypatch.undo()
    assert run(backend, max_tokens=2)[1].completion_tokens == 2


def test_static_cache_path_gives_the_same_tokens(backend: TransformersBackend) -> None:
    """The fast path's static KV cache (compilation itself only happens on CUDA)."""
    reference = "".join(run(backend, max_tokens=20)[0])
    fast_decode.enable_fast_decode(backend._model, 4096)
    try:
        assert backend._model.generation_config.cache_implementation == "static"
        pieces, stats = run(backend, max_tokens=20)
        assert "".join(pieces) == reference
        # The static cache is not reused: every request evaluates its whole prompt.
        assert stats.prompt_tokens_evaluated == stats.prompt_tokens
        assert backend._prefix.kv is None
    finally:
        fast_decode.disable_fast_decode(backend._model)
    assert backend._model.generation_config.cache_implementation is None


def test_failed_compile_falls_back_with_a_warning(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(model: Any, max_cache_len: int) -> None:
        model.generation_config.cache_implementation = "static"
        raise RuntimeError("inductor: no C compiler")

    monkeypatch.setattr(backend_module, "enable_fast_decode", broken)
    with caplog.at_level(logging.WARNING):
        backend._run(backend._try_fast_decode).result()
    assert not backend.fast_decode_active
    assert backend._model.generation_config.cache_implementation is None
    assert "fast decoding" in caplog.text and "no C compiler" in caplog.text
    assert run(backend, max_tokens=2)[1].completion_tokens == 2


# ---- prompt-prefix reuse ------------------------------------------------------------

# A file being edited: long enough (~600 tokens) to span several pre-fill batches.
CODE = "".join(
    f"def function_{i}(values, scale={i}):\n"
    f"    total = sum(v * scale for v in values)\n"
    f"    return total + {i * 7}  # step {i}\n\n"
    for i in range(24)
)


@pytest.fixture(scope="module")
def fresh(tiny_model: TinyModel) -> Iterator[TransformersBackend]:
    """A second backend whose cache is reset before every call: the no-reuse reference."""
    model = TransformersBackend(str(tiny_model.hf_dir))
    model.load()
    yield model
    model.close()


def run_fresh(fresh: TransformersBackend, prompt: str, **kwargs: Any) -> str:
    fresh.reset_cache()
    pieces, stats = run(fresh, prompt, **kwargs)
    assert stats.prompt_tokens_evaluated == stats.prompt_tokens
    return "".join(pieces)


def test_typing_reuses_the_prompt_prefix_and_output_is_unchanged(
    backend: TransformersBackend, fresh: TransformersBackend
) -> None:
    backend.reset_cache()
    _, cold = run(backend, CODE, max_tokens=8)
    assert cold.prompt_tokens_evaluated == cold.prompt_tokens > 500
    typed = "def main(argv):\n    result = function_3("
    for n in range(4, len(typed) + 1, 4):  # the user types, a request every few keys
        prompt = CODE + typed[:n]
        pieces, stats = run(backend, prompt, max_tokens=12)
        assert stats.prompt_tokens_evaluated < 0.2 * stats.prompt_tokens, (n, stats)
        assert stats.prompt_tokens_evaluated >= 1
        assert "".join(pieces) == run_fresh(fresh, prompt, max_tokens=12), n
        # The cache holds the prompt and all but the last generated token.
        assert backend._prefix.ids[: stats.prompt_tokens] == backend._encode(prompt)
        assert len(backend._prefix.ids) == backend._prefix.kv.get_seq_length()
    # The same prompt again: only its last token runs (it yields the first logits).
    _, again = run(backend, prompt, max_tokens=4)
    assert again.prompt_tokens_evaluated == 1
    # An edit in the middle of the file: everything after the edit is evaluated again.
    edited = CODE.replace("function_20", "function_twenty") + typed
    pieces, stats = run(backend, edited, max_tokens=12)
    prefix = prefix_cache.common_prefix(backend._encode(edited), backend._encode(prompt))
    assert stats.prompt_tokens_evaluated == stats.prompt_tokens - prefix
    assert "".join(pieces) == run_fresh(fresh, edited, max_tokens=12)


def test_a_different_prompt_is_evaluated_whole(backend: TransformersBackend) -> None:
    run(backend, CODE, max_tokens=4)
    _, stats = run(backend, PROMPT, max_tokens=4)
    assert stats.prompt_tokens_evaluated == stats.prompt_tokens
    # Sampling keeps the cache consistent too: its own answer is what is cached.
    _, sampled = run(backend, PROMPT, max_tokens=6, temperature=0.8)
    assert sampled.prompt_tokens_evaluated == 1
    assert len(backend._prefix.ids) == backend._prefix.kv.get_seq_length()


def test_cancel_during_prefill_keeps_a_usable_prefix(
    backend: TransformersBackend, fresh: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.reset_cache()
    monkeypatch.setattr(backend, "prefill_batch", 64)
    cancel = threading.Event()
    decoder = backend._model.base_model
    forward = decoder.forward
    calls = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:  # cancel while the third batch runs
            cancel.set()
        return forward(*args, **kwargs)

    monkeypatch.setattr(decoder, "forward", counting)
    pieces, stats = run(backend, CODE, cancel=cancel, max_tokens=8)
    assert pieces == [] and stats.stop_reason == "cancelled"
    assert stats.completion_tokens == 0
    assert stats.prompt_tokens_evaluated == 3 * 64 == len(backend._prefix.ids)
    assert backend._prefix.kv.get_seq_length() == 3 * 64
    monkeypatch.setattr(decoder, "forward", forward)
    # The next request goes on from the evaluated prefix, and answers the same.
    pieces, stats = run(backend, CODE, max_tokens=8)
    assert stats.prompt_tokens_evaluated == stats.prompt_tokens - 3 * 64
    assert "".join(pieces) == run_fresh(fresh, CODE, max_tokens=8)


def test_cache_is_dropped_on_close_and_load(tiny_model: TinyModel) -> None:
    model = TransformersBackend(str(tiny_model.hf_dir))
    model.load()
    run(model, CODE, max_tokens=2)
    assert run(model, CODE, max_tokens=2)[1].prompt_tokens_evaluated == 1
    model.reset_cache()
    _, stats = run(model, CODE, max_tokens=2)
    assert stats.prompt_tokens_evaluated == stats.prompt_tokens
    model.close()
    assert model._prefix.kv is None and model._prefix.ids == []
    model.load()
    _, stats = run(model, CODE, max_tokens=2)
    assert stats.prompt_tokens_evaluated == stats.prompt_tokens
    model.close()


def test_sliding_window_model_reuses_past_the_window(tiny_model: TinyModel,
                                                     tmp_path: Path) -> None:
    """The kept cache holds full layers, so it can be cropped after the window is passed,
    and the window itself still applies: the same tokens as transformers' own generate()
    with its window-sized cache."""
    import json
    import shutil

    import torch

    folder = tmp_path / "windowed"
    shutil.copytree(tiny_model.hf_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["sliding_window"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    model = TransformersBackend(str(folder))
    model.load()
    try:
        base = CODE[:400]
        run(model, base, max_tokens=4)
        for prompt in (base + "x = 1", base + "x = 12\n"):
            pieces, stats = run(model, prompt, max_tokens=16)
            assert stats.prompt_tokens > 16 * 4
            assert stats.prompt_tokens_evaluated < 8
            ids = torch.tensor([model._encode(prompt)])
            with torch.inference_mode():
                out = model._model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=16,
                    do_sample=False, temperature=None, top_p=None, top_k=None,
                    pad_token_id=0)
            expected = model._tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True,
                                               clean_up_tokenization_spaces=False)
            assert "".join(pieces) == expected
    finally:
        model.close()


def test_common_prefix() -> None:
    assert prefix_cache.common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert prefix_cache.common_prefix([], [1]) == 0
    assert prefix_cache.common_prefix([1, 2], [1, 2, 3]) == 2


# ---- errors before loading ------------------------------------------------------------


def test_missing_folder_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        TransformersBackend(str(tmp_path / "nope")).load()
    with pytest.raises(ModelNotFoundError, match="preset"):
        TransformersBackend("not a model name").load()


def test_hub_ids_and_presets_download_with_progress(
    tiny_model: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network: snapshot_download is replaced; the cache miss, then the download."""
    import huggingface_hub

    calls: list[tuple[str, bool]] = []

    def snapshot_download(repo: str, **kwargs: Any) -> str:
        calls.append((repo, bool(kwargs.get("local_files_only"))))
        if kwargs.get("local_files_only"):
            raise FileNotFoundError("not in the cache")
        return str(tiny_model.hf_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    seen: list[LoadProgress] = []
    model = TransformersBackend("starcoder2-3b")  # a preset name → its hub repo
    info = model.load(seen.append)
    assert calls == [("bigcode/starcoder2-3b", True), ("bigcode/starcoder2-3b", False)]
    assert [p.stage for p in seen] == ["downloading", "downloading", "loading", "ready"]
    assert info.name == "bigcode/starcoder2-3b"
    assert info.prompt_family == "tech-assistant"  # the preset's family wins
    model.close()
    # A hub id that is a preset's repo gets that preset's family too.
    assert TransformersBackend("bigcode/starcoder2-15b-instruct-v0.1").load().prompt_family \
        == "starcoder2-instruct"


def test_download_failure_says_how_to_work_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(repo: str, **kwargs: Any) -> str:
        raise OSError("Network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(DownloadError, match=r"could not download some-org/some-model.*"
                                            r"unreachable.*--model /path/to/folder"):
        TransformersBackend("some-org/some-model").load()


def test_a_gguf_file_or_empty_folder_is_a_file_error(tiny_model: TinyModel,
                                                     tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"llama\.cpp"):
        TransformersBackend(str(tiny_model.gguf_path)).load()
    with pytest.raises(ModelFileError, match=r"config\.json"):
        TransformersBackend(str(tmp_path)).load()


def test_cuda_asked_without_cuda(tiny_model: TinyModel) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        TransformersBackend(str(tiny_model.hf_dir), device="cuda").load()


def test_too_large_for_memory_fails_before_loading(
    tiny_model: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "available_memory_gb", lambda device: 0.0001)
    loaded: list[str] = []
    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained",
                        lambda *a, **k: loaded.append("weights"))
    seen: list[LoadProgress] = []
    with pytest.raises(OutOfMemoryError) as err:
        TransformersBackend(str(tiny_model.hf_dir)).load(seen.append)
    message = str(err.value)
    assert "0.0 GB of RAM available" in message and "no CUDA GPU" in message
    assert "--backend llama.cpp" in message and "float32" in message
    assert loaded == []  # failed from the config alone
    assert seen[-1].stage == "error"


def test_parameter_estimate_from_config() -> None:
    starcoder2_15b = SimpleNamespace(
        model_type="starcoder2", hidden_size=6144, num_hidden_layers=40,
        num_attention_heads=48, num_key_value_heads=4, intermediate_size=24576,
        vocab_size=49152, tie_word_embeddings=False)
    assert memory.estimate_params(starcoder2_15b) == pytest.approx(15.96e9, rel=0.01)
    starcoder_gpt_bigcode = SimpleNamespace(  # StarCoder 1 (15.5B), multi-query attention
        model_type="gpt_bigcode", n_embd=6144, n_layer=40, n_head=48, n_inner=24576,
        vocab_size=49152, multi_query=True)
    assert memory.estimate_params(starcoder_gpt_bigcode) == pytest.approx(15.5e9, rel=0.02)
    assert memory.estimate_params(SimpleNamespace()) == 0.0


def test_gpu_benchmark_dry_run_on_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    """bench/gpu_decode.py end to end on a toy shape, so the GPU script cannot rot."""
    from bench import gpu_decode

    results = tmp_path / "RESULTS.md"
    argv = ["--device", "cpu", "--layers", "1", "--hidden", "64", "--vocab", "512",
            "--prompts", "8,16", "--new-tokens", "3", "--repeats", "1",
            "--results", str(results)]
    assert gpu_decode.main(argv) == 0
    text = results.read_text()
    assert "CPU" in text and "| fast | 16 |" in text and "| default | 8 |" in text
    assert "% of roofline" in capsys.readouterr().out


def test_gpu_benchmark_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, bench.gpu_decode; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
