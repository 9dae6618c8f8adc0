"""LlamaCppBackend against a real (tiny, random) StarCoder2 GGUF built locally."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model.base import GenerationRequest, GenerationStats, LoadProgress, collect
from model.errors import (
    GenerationError,
    ModelFileError,
    ModelLoadError,
    ModelNotFoundError,
)
from tests.fixtures.examples import unknown_architecture_gguf
from tests.fixtures.tiny_model import TinyModel

pytest.importorskip("llama_cpp")

from model.llamacpp_backend import LlamaCppBackend

PROMPT = (
    "<|endoftext|>You are an exceptionally intelligent coding assistant that consistently "
    "delivers accurate and reliable responses to user instructions.\n\n"
    "### Instruction\nRename x to count.\n\n```python\ndef f(x):\n    return x + 1\n```\n\n"
    "### Response\n"
)


@pytest.fixture(scope="module")
def backend(tiny_model: TinyModel) -> Iterator[LlamaCppBackend]:
    llm = LlamaCppBackend(str(tiny_model.gguf_path))
    llm.load()
    yield llm
    llm.close()


def run(
    backend: LlamaCppBackend, prompt: str = PROMPT, **kwargs: object
) -> tuple[list[str], GenerationStats]:
    stats = GenerationStats()
    request = GenerationRequest(prompt, **kwargs)  # type: ignore[arg-type]
    pieces = list(backend.generate(request, threading.Event(), stats))
    return pieces, stats


def test_load_reports_progress_and_model_info(tiny_model: TinyModel) -> None:
    seen: list[LoadProgress] = []
    llm = LlamaCppBackend(str(tiny_model.gguf_path))
    info = llm.load(seen.append)
    assert [p.stage for p in seen] == ["loading", "loading", "ready"]
    assert "measuring speculative passes" in seen[1].message  # the load-time probe
    assert info.name == "tiny-starcoder2-instruct"
    assert info.context_length == 4096
    assert info.prompt_family == "starcoder2-instruct"
    assert info.chat_template and "### Instruction" in info.chat_template
    assert info.supports_fim
    assert info.eos_token == "<|endoftext|>"
    assert info.bos_token == "<|endoftext|>"
    assert llm.load() is info  # idempotent
    assert llm.info is info
    llm.close()


def test_n_ctx_argument_sets_the_context(tiny_model: TinyModel) -> None:
    # llama.cpp rounds the context up to a multiple of 256; report what it really uses.
    llm = LlamaCppBackend(str(tiny_model.gguf_path), n_ctx=300)
    assert llm.load().context_length == 512
    llm.close()


def test_count_tokens_parses_special_tokens_like_the_hf_tokenizer(
    backend: LlamaCppBackend, tiny_model: TinyModel
) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(tiny_model.tokenizer_path))
    for text in (PROMPT, "<fim_prefix>def f(<fim_suffix>)\n<fim_middle>", "x = 12345 # héllo"):
        assert backend.count_tokens(text) == len(hf.encode(text).ids)
    assert backend.count_tokens("<|endoftext|>") == 1  # no extra BOS, parsed as special


def test_greedy_is_deterministic_and_streams(backend: LlamaCppBackend) -> None:
    first, stats = run(backend, max_tokens=30)
    run(backend, "def other():\n", max_tokens=5)  # disturb the KV cache in between
    second, _ = run(backend, max_tokens=30)
    assert "".join(first) == "".join(second)
    assert len(first) > 1
    assert stats.completion_tokens == 30
    assert stats.stop_reason == "length"
    assert stats.prompt_tokens == backend.count_tokens(PROMPT)
    assert stats.time_to_first_token_s > 0
    assert stats.backend == "llama.cpp"


def test_sampling_with_temperature_runs(backend: LlamaCppBackend) -> None:
    _, stats = run(backend, max_tokens=8, temperature=0.8)
    assert stats.completion_tokens == 8


def test_empty_prompt_is_a_generation_error(backend: LlamaCppBackend) -> None:
    assert backend.count_tokens("") == 0
    with pytest.raises(GenerationError, match="empty"):
        run(backend, "")


def test_max_tokens(backend: LlamaCppBackend) -> None:
    _, stats = run(backend, max_tokens=5)
    assert stats.completion_tokens == 5
    assert stats.stop_reason == "length"


def test_stop_string_across_pieces_is_cut(backend: LlamaCppBackend) -> None:
    pieces, _ = run(backend, max_tokens=40)
    full = "".join(pieces)
    # A stop made of the end of one piece and the start of the next.
    i = next(
        i for i in range(2, len(pieces) - 1) if len(pieces[i]) >= 2 and len(pieces[i + 1]) >= 2
    )
    stop = pieces[i][-2:] + pieces[i + 1][:2]
    expected = full[: full.index(stop)]
    text_pieces, stats = run(backend, max_tokens=40, stop=("never-seen-stop", stop))
    assert "".join(text_pieces) == expected
    assert stats.stop_reason == "stop"
    assert stats.completion_tokens < 40


def test_cancel_stops_within_a_few_tokens(backend: LlamaCppBackend) -> None:
    cancel = threading.Event()
    stats = GenerationStats()
    pieces: list[str] = []
    for piece in backend.generate(GenerationRequest(PROMPT, max_tokens=200), cancel, stats):
        pieces.append(piece)
        if len(pieces) == 2:
            cancel.set()
    assert len(pieces) <= 4
    assert stats.completion_tokens <= 4
    assert stats.stop_reason == "cancelled"


def test_cancel_before_start_generates_nothing(backend: LlamaCppBackend) -> None:
    cancel = threading.Event()
    cancel.set()
    stats = GenerationStats()
    assert collect(backend, GenerationRequest(PROMPT), cancel, stats) == ""
    assert stats.stop_reason == "cancelled"
    assert stats.completion_tokens == 0


def test_shared_prefix_is_not_evaluated_again(backend: LlamaCppBackend) -> None:
    body = "".join(f"def handler_{i}(req):\n    return req.value + {i}\n\n" for i in range(30))
    # Starts unlike every other test prompt, so nothing of it is cached yet.
    prefix = f"Unique prefix 7f3a.\n\n### Instruction\n```python\n{body}"
    _, first = run(backend, prefix + "```\n### Response\n", max_tokens=3)
    assert first.prompt_tokens > 300
    assert first.prompt_tokens_evaluated == first.prompt_tokens
    _, second = run(backend, prefix + "# and one more line\n```\n### Response\n", max_tokens=3)
    assert second.prompt_tokens > first.prompt_tokens
    assert second.prompt_tokens_evaluated < 20


def test_prompt_longer_than_context_is_a_generation_error(tiny_model: TinyModel) -> None:
    llm = LlamaCppBackend(str(tiny_model.gguf_path), n_ctx=256)
    assert llm.load().context_length == 256
    stats = GenerationStats()
    with pytest.raises(GenerationError, match=r"prompt has 500 tokens.*context is 256"):
        collect(llm, GenerationRequest("x = 1\n" * 100), stats=stats)
    assert stats.stop_reason == "error"
    # A prompt that fits but leaves little room stops at the context, not with a crash.
    _, fits = run(llm, "x = 1\n" * 20, max_tokens=500)
    assert fits.stop_reason in ("length", "eos")
    assert fits.prompt_tokens + fits.completion_tokens <= 256
    llm.close()


# ---- bad files --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.gguf"
    with pytest.raises(ModelNotFoundError, match="--model") as err:
        LlamaCppBackend(str(path)).load()
    assert str(path) in str(err.value)


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as err:
        LlamaCppBackend(str(tmp_path)).load()
    assert str(tmp_path) in str(err.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"hello, not a model\n", "not a GGUF"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n", "LFS"),
    ],
)
def test_not_a_gguf(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=match) as err:
        LlamaCppBackend(str(path)).load()
    assert str(path) in str(err.value)


@pytest.mark.parametrize("keep", [10, 100, 0.5, -1])
def test_truncated_gguf(tiny_model: TinyModel, tmp_path: Path, keep: float) -> None:
    data = tiny_model.gguf_path.read_bytes()
    size = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:size])
    with pytest.raises(ModelFileError, match="truncated") as err:
        LlamaCppBackend(str(path)).load()
    assert str(path) in str(err.value)


def test_unknown_architecture_is_a_load_error(tmp_path: Path) -> None:
    path = unknown_architecture_gguf(tmp_path / "odd.gguf")
    with pytest.raises(ModelLoadError, match="no-such-arch") as err:
        LlamaCppBackend(str(path)).load()
    assert str(path) in str(err.value)


def test_generate_before_load_is_an_error(tiny_model: TinyModel) -> None:
    with pytest.raises(GenerationError, match="not loaded"):
        collect(LlamaCppBackend(str(tiny_model.gguf_path)), GenerationRequest("x"))


# ---- stdout is the LSP channel ----------------------------------------------------------

_STDOUT_SCRIPT = """
import sys, threading
from model.base import GenerationRequest, collect
from model.llamacpp_backend import LlamaCppBackend
b = LlamaCppBackend(sys.argv[1])
b.load()
collect(b, GenerationRequest("<fim_prefix>def f(<fim_suffix>)<fim_middle>", max_tokens=8))
b.close()
sys.stderr.write("finished\\n")
"""


def test_nothing_is_printed_to_stdout(tiny_model: TinyModel) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", _STDOUT_SCRIPT, str(tiny_model.gguf_path)],
        cwd=root,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert result.stdout == b""
    assert result.stderr.endswith(b"finished\n")


def test_load_mutes_only_the_loading_thread(
    tiny_model: TinyModel, capsys: pytest.CaptureFixture[str]
) -> None:
    """Other threads keep their stderr while llama.cpp loads (no process-wide redirect)."""
    from model.llamacpp_backend import backend as module

    started, release = threading.Event(), threading.Event()
    real_class = module.counting_llama_class

    def slow_class(llama_cpp: object) -> object:
        started.set()
        release.wait(10)
        return real_class(llama_cpp)

    module.counting_llama_class = slow_class  # type: ignore[assignment]
    try:
        loader = threading.Thread(
            target=LlamaCppBackend(str(tiny_model.gguf_path)).load, daemon=True
        )
        loader.start()
        assert started.wait(10)
        print("from another thread", file=sys.stderr)
        release.set()
        loader.join(30)
    finally:
        module.counting_llama_class = real_class  # type: ignore[assignment]
    assert "from another thread" in capsys.readouterr().err


def test_tiny_model_cli_prints_paths(tiny_model: TinyModel) -> None:
    root = Path(__file__).resolve().parents[2]
    cache = tiny_model.gguf_path.parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "tests.fixtures.tiny_model", str(cache)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert f"gguf={tiny_model.gguf_path}" in out.splitlines()


# ---- the tiny model's two forms agree ---------------------------------------------------


def _hf_reference_logits(hf_dir: Path, ids: list[int]) -> Any:
    """Starcoder2ForCausalLM's forward pass in numpy (float64), from the HF folder.

    Mirrors transformers' modeling_starcoder2: LayerNorm with bias, biased projections,
    rotate_half (NEOX) rotary, grouped KV heads, gelu_pytorch_tanh MLP (c_fc -> c_proj).
    """
    import json

    np = pytest.importorskip("numpy")
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    cfg = json.loads((hf_dir / "config.json").read_text())
    w = safetensors_numpy.load_file(str(hf_dir / "model.safetensors"))
    hidden, n_head, n_kv = (
        cfg["hidden_size"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
    )
    head_dim, eps, n = hidden // n_head, cfg["norm_epsilon"], len(ids)

    def norm(x: Any, name: str) -> Any:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

    def linear(x: Any, name: str) -> Any:
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    inv_freq = 1.0 / cfg["rope_theta"] ** (np.arange(0, head_dim, 2) / head_dim)
    angles = np.outer(np.arange(n), inv_freq)
    angles = np.concatenate([angles, angles], -1)[:, None, :]

    def rope(t: Any) -> Any:
        half = head_dim // 2
        rotated = np.concatenate([-t[..., half:], t[..., :half]], -1)
        return t * np.cos(angles) + rotated * np.sin(angles)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    x = w["model.embed_tokens.weight"][ids].astype(np.float64)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = norm(x, p + "input_layernorm")
        q = rope(linear(h, p + "self_attn.q_proj").reshape(n, n_head, head_dim))
        k = rope(linear(h, p + "self_attn.k_proj").reshape(n, n_kv, head_dim))
        v = linear(h, p + "self_attn.v_proj").reshape(n, n_kv, head_dim)
        k, v = np.repeat(k, n_head // n_kv, axis=1), np.repeat(v, n_head // n_kv, axis=1)
        scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(head_dim) + mask
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        attn = np.einsum("hts,shd->thd", probs, v).reshape(n, hidden)
        x = x + linear(attn, p + "self_attn.o_proj")
        h = norm(x, p + "post_attention_layernorm")
        up = linear(h, p + "mlp.c_fc")
        gelu = 0.5 * up * (1 + np.tanh(np.sqrt(2 / np.pi) * (up + 0.044715 * up**3)))
        x = x + linear(gelu, p + "mlp.c_proj")
    return norm(x, "model.norm") @ w["lm_head.weight"].T


def test_gguf_and_hf_folder_hold_the_same_model(tiny_model: TinyModel) -> None:
    """llama.cpp's logits on the GGUF match a numpy StarCoder2 on the HF safetensors."""
    import llama_cpp

    np = pytest.importorskip("numpy")
    llm = llama_cpp.Llama(str(tiny_model.gguf_path), n_ctx=256, logits_all=True, verbose=False)
    ids = llm.tokenize(b"def add(a, b):\n    return a + b\n\n### Response\nok", add_bos=False)
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)])
    llm.close()
    want = np.asarray(_hf_reference_logits(tiny_model.hf_dir, ids))
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()  # f16 KV cache in llama.cpp
    assert (got.argmax(-1) == want.argmax(-1)).all()
