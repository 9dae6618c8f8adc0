"""Batch-1 decode speed of the StarCoder2-15B shape on a CUDA GPU: default Hugging Face
generate() against the fast path the transformers backend uses (static KV cache +
torch.compile with CUDA graphs), as a fraction of the memory-bandwidth roofline.

Batch-1 decoding reads every weight once per token, so tokens/s can never beat
(device copy bandwidth) / (bytes read per token). The bandwidth is measured in the same
run with a large device-to-device copy, so the ratio is comparable across GPUs.

The weights are random bf16 (built from the config, nothing downloaded): speed does not
depend on their values. EOS is disabled so every run decodes the full length.

    python -m bench.gpu_decode                       # full 15B shape, 1k and 4k prompts
    python -m bench.gpu_decode --layers 4            # smoke run
    python -m bench.gpu_decode --device cpu --layers 2 --hidden 256 --prompts 64,128 \
        --new-tokens 8                               # CPU dry run of the script itself

torch/transformers are imported inside main(): importing this module stays cheap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

# bigcode/starcoder2-15b(-instruct-v0.1) config.json
STARCODER2_15B: dict[str, Any] = {
    "hidden_size": 6144,
    "num_hidden_layers": 40,
    "num_attention_heads": 48,
    "num_key_value_heads": 4,
    "intermediate_size": 24576,
    "vocab_size": 49152,
    "rope_theta": 100000.0,
    "sliding_window": 4096,
    "max_position_embeddings": 16384,
    "tie_word_embeddings": False,
    "use_bias": True,
    "hidden_act": "gelu_pytorch_tanh",
    "norm_epsilon": 1e-5,
    "bos_token_id": 0,
    "eos_token_id": 0,
}


@dataclass
class Row:
    mode: str
    prompt_tokens: int
    ttft_s: float
    decode_tok_s: float
    roofline_tok_s: float
    first_call_s: float  # includes compilation / CUDA graph capture for the fast path

    @property
    def ratio(self) -> float:
        return self.decode_tok_s / self.roofline_tok_s if self.roofline_tok_s else 0.0


def roofline_tokens_per_s(bandwidth_gb_s: float, weight_bytes: int, embedding_bytes: int,
                          kv_bytes_per_position: int, context: int) -> float:
    """Upper bound for batch-1 decode: every weight (the input embedding only one row,
    ignored) and the KV cache so far are read once per generated token."""
    per_token = weight_bytes - embedding_bytes + kv_bytes_per_position * context
    return bandwidth_gb_s * 1e9 / per_token if per_token > 0 else 0.0


def format_table(rows: Sequence[Row]) -> str:
    lines = [
        "| mode | prompt | TTFT (s) | decode tok/s | roofline tok/s | % of roofline "
        "| first call (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.mode} | {r.prompt_tokens} | {r.ttft_s:.3f} | {r.decode_tok_s:.1f} | "
            f"{r.roofline_tok_s:.1f} | {100 * r.ratio:.0f}% | {r.first_call_s:.1f} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_decode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--layers", type=int, help="number of layers (default 40)")
    parser.add_argument("--hidden", type=int, help="hidden size (default 6144); heads and "
                        "MLP are scaled to keep the 15B proportions")
    parser.add_argument("--vocab", type=int, help="vocabulary size (default 49152)")
    parser.add_argument("--prompts", default="1024,4096", help="prompt lengths, comma-separated")
    parser.add_argument("--new-tokens", type=int, default=128, help="tokens decoded per run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--modes", default="default,fast", help="default,fast")
    parser.add_argument("--results", type=Path,
                        help=f"append the table here (default {RESULTS.name} on CUDA; "
                        "CPU dry runs append only when given)")
    return parser


def model_config(args: argparse.Namespace) -> dict[str, Any]:
    config = dict(STARCODER2_15B)
    if args.layers:
        config["num_hidden_layers"] = args.layers
    if args.hidden:
        scale = args.hidden / STARCODER2_15B["hidden_size"]
        heads = max(1, round(48 * scale))
        while args.hidden % heads:
            heads -= 1
        kv_heads = max(1, min(4, heads))
        while heads % kv_heads:
            kv_heads -= 1
        config.update(hidden_size=args.hidden, num_attention_heads=heads,
                      num_key_value_heads=kv_heads, intermediate_size=4 * args.hidden)
    if args.vocab:
        config["vocab_size"] = args.vocab
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU: this benchmark measures GPU decoding (for a dry run of the "
              "script use --device cpu --layers 2 --hidden 256 --prompts 64,128 "
              "--new-tokens 8)", file=sys.stderr)
        return 2
    import transformers
    from transformers import Starcoder2Config, Starcoder2ForCausalLM

    from model.transformers_backend import disable_fast_decode, enable_fast_decode

    cuda = args.device == "cuda"
    device = torch.device(args.device)
    dtype = torch.bfloat16 if cuda else torch.float32  # bf16 matmuls are slow on CPU
    prompts = [int(p) for p in args.prompts.split(",") if p.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    bandwidth = measure_copy_bandwidth(torch, device, sync, gib=2.0 if cuda else 0.25)
    print(f"device copy bandwidth: {bandwidth:.0f} GB/s", flush=True)

    config = Starcoder2Config(**model_config(args))
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # allocate bf16 directly: no float32 copy of 16B params
    try:
        with device:
            model: Any = Starcoder2ForCausalLM(config)
    finally:
        torch.set_default_dtype(default_dtype)
    model.eval()
    model.generation_config.eos_token_id = None  # decode the full length every time
    model.generation_config.pad_token_id = 0
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    embedding = model.get_input_embeddings().weight
    embedding_bytes = embedding.numel() * embedding.element_size()
    head_dim = config.hidden_size // config.num_attention_heads
    kv_per_position = (2 * config.num_hidden_layers * config.num_key_value_heads * head_dim
                       * torch.tensor([], dtype=dtype).element_size())
    params_b = sum(p.numel() for p in model.parameters()) / 1e9
    print(f"model: {params_b:.2f}B parameters, {weight_bytes / 2**30:.1f} GiB of weights",
          flush=True)

    rows: list[Row] = []
    for mode in modes:
        if mode == "fast":
            enable_fast_decode(model, max(prompts) + args.new_tokens)
        else:
            disable_fast_decode(model)
        for length in prompts:
            ids = torch.randint(1, config.vocab_size, (1, length), device=device)  # no EOS

            def generate(new_tokens: int, ids: Any = ids) -> float:
                sync()
                started = time.perf_counter()
                with torch.inference_mode():
                    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                   max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                   do_sample=False, temperature=None, top_p=None, top_k=None)
                sync()
                return time.perf_counter() - started

            first_call = generate(args.new_tokens)  # compile + graph capture (fast mode)
            generate(args.new_tokens)
            ttft = statistics.median(generate(1) for _ in range(args.repeats))
            total = statistics.median(generate(args.new_tokens) for _ in range(args.repeats))
            decode = (args.new_tokens - 1) / max(total - ttft, 1e-9)
            context = length + args.new_tokens // 2  # average KV length while decoding
            rows.append(Row(mode, length, ttft, decode,
                            roofline_tokens_per_s(bandwidth, weight_bytes, embedding_bytes,
                                                  kv_per_position, context),
                            first_call))
            print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    disable_fast_decode(model)

    name = torch.cuda.get_device_name() if cuda else f"CPU ({args.device})"
    table = format_table(rows)
    header = (
        f"## {dt.date.today().isoformat()} — {name} — gpu_decode\n\n"
        f"StarCoder2 shape: {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
        f"{config.num_attention_heads} heads / {config.num_key_value_heads} KV heads, "
        f"{params_b:.2f}B params ({str(dtype).removeprefix('torch.')}); "
        f"{args.new_tokens} new tokens, median of {args.repeats}; copy bandwidth "
        f"{bandwidth:.0f} GB/s; torch {torch.__version__}, transformers "
        f"{transformers.__version__}. fast = static KV cache + torch.compile "
        f"(reduce-overhead, CUDA graphs){'' if cuda else '; compile is CUDA-only'}.\n"
    )
    print()
    print(header)
    print(table)
    results = args.results or (RESULTS if cuda else None)
    if results is not None:
        new_file = not results.exists()
        with results.open("a", encoding="utf-8") as handle:
            if new_file:
                handle.write("# Benchmark results\n\n")
            handle.write(f"{header}\n{table}\n\n")
        print(f"\nappended to {results}")
    return 0


def measure_copy_bandwidth(torch: Any, device: Any, sync: Callable[[], None],
                           gib: float) -> float:
    """GB/s of a large device-to-device copy (each byte read once and written once)."""
    size = int(gib * 2**30)
    src = torch.empty(size, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up
    sync()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        dst.copy_(src)
        sync()
        times.append(time.perf_counter() - started)
    del src, dst
    return 2 * size / min(times) / 1e9


if __name__ == "__main__":
    raise SystemExit(main())
