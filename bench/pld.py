"""The peer, side by side: llama-cpp-python's own LlamaPromptLookupDecoding on the edit
corpus, each setting timed against its engine's plain greedy decoding in the same run.

Its draft model needs `logits_all=True` (every prompt row's logits are kept), and it
re-evaluates through the high-level sampler; outputs are compared with plain greedy
decoding's to count how many it changed. The same prompts as bench/edits.py ("copy"
style), the whole prompt evaluated every run (the KV cache is reset before each).

    .venv/bin/python -m bench.pld [--model X.gguf] [--repeats 3]
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.edits import Task, load_tasks, plan_task

# num_pred_tokens tried (max_ngram_size 2, the class's default).
SETTINGS = (2, 5, 10)


@dataclass
class PeerResult:
    task: Task
    plain_s: list[float] = field(default_factory=list)
    pld_s: dict[int, list[float]] = field(default_factory=dict)
    plain_output: str = ""
    changed: dict[int, bool] = field(default_factory=dict)

    def speedup(self, setting: int) -> float:
        return statistics.median(self.plain_s) / statistics.median(self.pld_s[setting])


def _engine(model: Path, threads: int, draft: int | None) -> Any:
    import llama_cpp
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    return llama_cpp.Llama(
        model_path=str(model), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
        verbose=False,
        draft_model=LlamaPromptLookupDecoding(num_pred_tokens=draft) if draft else None,
    )


def _complete(llm: Any, prompt: str, stop: list[str], max_tokens: int) -> tuple[str, float]:
    llm.reset()
    started = time.perf_counter()
    out = llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0,
                                repeat_penalty=1.0, stop=stop)
    return out["choices"][0]["text"], time.perf_counter() - started


def run(model: Path, prompt_backend: Any, *, threads: int = 1, repeats: int = 3,
        max_tokens: int = 256, limit: int | None = None,
        progress: Any = None) -> list[PeerResult]:
    """`prompt_backend` builds the prompts (bench/edits.plan_task needs its tokenizer)."""
    plain = _engine(model, threads, None)
    engines = {n: _engine(model, threads, n) for n in SETTINGS}
    results = []
    for task in load_tasks(limit):
        _, prompt = plan_task(task, prompt_backend, "copy")
        stop = list(prompt.stop)
        result = PeerResult(task, pld_s={n: [] for n in SETTINGS})
        for _ in range(repeats):
            text, seconds = _complete(plain, prompt.text, stop, max_tokens)
            result.plain_output = text
            result.plain_s.append(seconds)
            for n, llm in engines.items():
                drafted, seconds = _complete(llm, prompt.text, stop, max_tokens)
                result.pld_s[n].append(seconds)
                result.changed[n] = result.changed.get(n, False) or drafted != text
        if progress is not None:
            progress(f"  {task.id}: " + ", ".join(
                f"pld{n} {result.speedup(n):.2f}x" for n in SETTINGS))
        results.append(result)
    return results


def summarize(results: list[PeerResult]) -> dict[int, dict[str, float]]:
    return {n: {"median_speedup": statistics.median(r.speedup(n) for r in results),
                "changed": sum(r.changed[n] for r in results)} for n in SETTINGS}


def table(results: list[PeerResult]) -> str:
    rows = ["| LlamaPromptLookupDecoding | median speed-up over its plain greedy | "
            "outputs changed |", "|---|---|---|"]
    for n, figures in summarize(results).items():
        rows.append(f"| num_pred_tokens={n} | {figures['median_speedup']:.2f}x | "
                    f"{int(figures['changed'])}/{len(results)} |")
    return "\n".join(rows)
