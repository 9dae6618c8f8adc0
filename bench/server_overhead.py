"""Server overhead: one edit end to end through the language server over stdio (the
`starcoder/edit` request: planning, prompt, generation in the worker thread, progress
notifications with the partial text, minimal edits, JSON) next to the same generation
called on the backend directly in this process: same model, same prompt, same
settings. Runs alternate and the ratio of medians is reported.

Both sides send the same prompt on every run, so both reuse the prompt's KV cache the
same way; what differs is only what the server adds around the model.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.edits import Task, load_tasks
from lsp_server import pipeline
from lsp_server.documents import DocumentStore
from lsp_server.settings import Settings
from model.base import GenerationRequest, GenerationStats
from model.llamacpp_backend import LlamaCppBackend


def _settings(max_tokens: int, n_threads: int, n_ctx: int) -> dict[str, Any]:
    return {"maxTokens": max_tokens, "nThreads": n_threads, "nCtx": n_ctx,
            "temperature": 0.0}


def _direct_prompt(task: Task, backend: LlamaCppBackend, settings: Settings
                   ) -> tuple[GenerationRequest, str]:
    """The request the server's worker builds for this selection (same functions)."""
    text = task.file.read_text()
    doc = DocumentStore().open(task.file.as_uri(), "", 1, text)
    end_line = min(task.end, len(doc.lines) - 1)
    job = pipeline.plan(doc, (task.start - 1, 0), (end_line, 0), instruction=task.instruction,
                        settings=settings)
    prompt = pipeline.build_prompt(job, backend)
    max_tokens = pipeline.check_fits(prompt, backend, settings.max_tokens)
    source = job.extraction.target_text if settings.drafting else None
    request = GenerationRequest(prompt.text, max_tokens=max_tokens, stop=prompt.stop,
                                temperature=settings.temperature, draft_source=source,
                                exact_drafts=settings.exact_drafts)
    return request, text


async def _measure(model: Path, task: Task, *, rounds: int, max_tokens: int, n_threads: int,
                   n_ctx: int) -> dict[str, Any]:
    from tests.lsp_helpers import running_server

    init = _settings(max_tokens, n_threads, n_ctx)
    settings = Settings(max_tokens=max_tokens, n_threads=n_threads, n_ctx=n_ctx)
    backend = LlamaCppBackend(str(model), n_ctx=n_ctx, n_threads=n_threads)
    backend.load()
    request, text = _direct_prompt(task, backend, settings)
    uri = task.file.as_uri()
    end_line = min(task.end, len(text.split("\n")) - 1)
    params = {"uri": uri, "instruction": task.instruction,
              "range": {"start": {"line": task.start - 1, "character": 0},
                        "end": {"line": end_line, "character": 0}}}

    def direct() -> tuple[float, int]:
        stats = GenerationStats()
        started = time.perf_counter()
        "".join(backend.generate(request, threading.Event(), stats))
        return time.perf_counter() - started, stats.completion_tokens

    server_s: list[float] = []
    inside_s: list[float] = []  # the server's own generation time (its stats)
    direct_s: list[float] = []
    tokens: dict[str, int] = {}
    async with running_server(model, init_options=init) as (client, editor):
        client.feature("starcoder/status")(lambda *_: None)  # status bar updates: ignored
        editor.open(uri, text, "")  # language from the file name, as for the direct side
        await client.protocol.send_request_async("starcoder/loadModel", {})
        await client.protocol.send_request_async("starcoder/edit", params)  # warm-up
        direct()
        for i in range(rounds):
            order = ("server", "direct") if i % 2 == 0 else ("direct", "server")
            for side in order:
                if side == "server":
                    started = time.perf_counter()
                    result = await client.protocol.send_request_async("starcoder/edit", params)
                    server_s.append(time.perf_counter() - started)
                    inside_s.append(result.stats.total_s)
                    tokens["server"] = result.stats.completion_tokens
                else:
                    elapsed, count = direct()
                    direct_s.append(elapsed)
                    tokens["direct"] = count
    backend.close()
    server_med, direct_med = statistics.median(server_s), statistics.median(direct_s)
    around = statistics.median(s - i for s, i in zip(server_s, inside_s, strict=True))
    return {"server_s": server_med, "direct_s": direct_med,
            "overhead": server_med / direct_med - 1.0, "rounds": rounds,
            "inside_s": statistics.median(inside_s), "around_s": around,
            "around_overhead": around / direct_med,
            "tokens_server": tokens.get("server", 0), "tokens_direct": tokens.get("direct", 0),
            "task": task.id}


def measure(model: Path, *, task_id: str = "py-hints-load", rounds: int = 7,
            max_tokens: int = 128, n_threads: int = 1, n_ctx: int = 4096) -> dict[str, Any]:
    task = next(t for t in load_tasks() if t.id == task_id)
    return asyncio.run(_measure(model, task, rounds=rounds, max_tokens=max_tokens,
                                n_threads=n_threads, n_ctx=n_ctx))
