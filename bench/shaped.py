"""Pass costs for StarCoder2-3B and -15B on this CPU, from random GGUFs in their shapes.

Acceptance cannot be measured on random weights, but what a verification pass costs
can: it depends on the shapes, the quantisation (Q4_K_M, what users run) and the kernels,
not on the values. A model with all its layers would take the whole disk and RAM, so two
files are built per shape, with 1 and 3 layers; since a pass is the embedding and output
work plus the same work per layer, the cost of a w-row pass with L layers is
``base(w) + L * layer(w)``, solved from the two and projected to the real layer count.
The projected costs then go through the reference-answer replay (bench/replay.py).

    .venv/bin/python -m bench.shaped [--shapes 3b,15b] [--threads 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.pass_costs import PassCosts


@dataclass(frozen=True)
class Shape:
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int = 49152


SHAPES = {
    "3b": Shape("StarCoder2-3B", 3072, 30, 24, 2, 12288),
    "15b": Shape("StarCoder2-15B", 6144, 40, 48, 4, 24576),
}


def write_gguf(path: Path, shape: Shape, layers: int, seed: int = 0) -> None:
    """A random F16 StarCoder2 in `shape` with `layers` blocks (tied embeddings), and the
    tiny test model's tokenizer padded to the real vocabulary size."""
    import gguf

    from tests.conftest import tiny_model_cache_dir
    from tests.fixtures.tiny_model import CHAT_TEMPLATE, build_tiny_model

    tokenizer_json = json.loads(build_tiny_model(tiny_model_cache_dir())
                                .tokenizer_path.read_text())
    vocab = tokenizer_json["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    tokens += [f"<pad{i}>" for i in range(shape.vocab - len(tokens))]
    merges = [m if isinstance(m, str) else " ".join(m)
              for m in tokenizer_json["model"]["merges"]]
    rng = np.random.default_rng(seed)

    def random(*dims: int) -> np.ndarray:
        return (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float16)

    head_dim = shape.hidden // shape.heads
    writer = gguf.GGUFWriter(str(path), "starcoder2")
    writer.add_name(f"random {shape.name} shape, {layers} layers")
    writer.add_context_length(16384)
    writer.add_embedding_length(shape.hidden)
    writer.add_feed_forward_length(shape.intermediate)
    writer.add_block_count(layers)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_layer_norm_eps(1e-5)
    writer.add_rope_freq_base(100000.0)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("starcoder")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    writer.add_chat_template(CHAT_TEMPLATE)
    h, kv = shape.hidden, shape.kv_heads * head_dim
    ones = np.ones(h, dtype=np.float32)
    writer.add_tensor("token_embd.weight", random(shape.vocab, h))
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output_norm.bias", np.zeros(h, dtype=np.float32))
    for b in range(layers):
        for name, dims in (("attn_q", (h, h)), ("attn_k", (kv, h)), ("attn_v", (kv, h)),
                           ("attn_output", (h, h)), ("ffn_up", (shape.intermediate, h)),
                           ("ffn_down", (h, shape.intermediate))):
            writer.add_tensor(f"blk.{b}.{name}.weight", random(*dims))
            writer.add_tensor(f"blk.{b}.{name}.bias",
                              np.zeros(dims[0], dtype=np.float32))
        for norm in ("attn_norm", "ffn_norm"):
            writer.add_tensor(f"blk.{b}.{norm}.weight", ones)
            writer.add_tensor(f"blk.{b}.{norm}.bias", np.zeros(h, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def quantize(source: Path, target: Path) -> None:
    """Q4_K_M, with llama.cpp's own quantiser (what published GGUFs are made with)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    if llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(),
                                      params) != 0:
        raise RuntimeError(f"quantising {source} failed")


def measure(path: Path, threads: int) -> tuple[int, PassCosts]:
    from bench.replay import steady_costs
    from model.llamacpp_backend import LlamaCppBackend

    backend = LlamaCppBackend(str(path), n_ctx=2048, n_threads=threads)
    backend.load()
    try:
        widest = backend.widest_exact_pass
        return widest, steady_costs(backend, 16, rounds=5)  # wider ones: for "always"
    finally:
        backend.close()


def project(shape: Shape, one: PassCosts, three: PassCosts) -> PassCosts:
    seconds = {}
    for width in sorted(set(one.measured) & set(three.measured)):
        layer = (three.seconds(width) - one.seconds(width)) / 2
        base = one.seconds(width) - layer
        seconds[width] = base + shape.layers * layer
    return PassCosts(seconds, max_width=max(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shapes", default="3b,15b")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="keep the GGUFs here (default: temporary)")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="starcoder-shaped-"))
    folder.mkdir(parents=True, exist_ok=True)
    for key in args.shapes.split(","):
        shape = SHAPES[key.strip()]
        measured: dict[int, tuple[int, PassCosts]] = {}
        for layers in (1, 3):
            f16 = folder / f"{key}-{layers}l-f16.gguf"
            q4 = folder / f"{key}-{layers}l-q4_k_m.gguf"
            if not q4.exists():
                write_gguf(f16, shape, layers)
                quantize(f16, q4)
                f16.unlink()
            measured[layers] = measure(q4, args.threads)
        widest = min(measured[1][0], measured[3][0])
        costs = project(shape, measured[1][1], measured[3][1])
        print(f"{shape.name} shape, Q4_K_M, {args.threads} thread(s): passes exact up to "
              f"{widest} rows; projected one-row pass {costs.seconds(1) * 1000:.0f} ms; "
              f"costs in one-row passes: {costs.describe()}")
        print(json.dumps({"shape": key, "widest_exact": widest,
                          "seconds": costs.measured}))


if __name__ == "__main__":
    main()
