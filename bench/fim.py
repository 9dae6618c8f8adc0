"""Inline completion while typing: prompt tokens evaluated per request and latency, with
prompt-cache reuse and without, in one run; then the same session through the real
server for the overhead it adds over the backend.

A file is typed character by character at a realistic cadence (seeded, so every run
replays the same session): a request follows each keystroke and is served only when the
next keystroke comes later than the debounce (120 ms), as the server does.

Passes, each starting from a cold cache (the in-process ones interleaved request by
request, one llama.cpp context each, single-threaded, so that they see the same load on
a shared machine):

* ``psm``: the server's prompt (PSM, stable prefix window), llama.cpp reusing the
  longest common token prefix of consecutive prompts;
* ``spm``: the same with the SPM ordering (volatile prefix last);
* ``psm, no reuse``: the KV cache is cleared before each request (what a server without
  prefix reuse pays);
* ``lsp``: the ``psm`` session through ``python -m lsp_server`` over stdio, requests sent
  back to back, with the server's own accounting from ``starcoder/completionStats``
  (server overhead = handler time - backend time - queue wait).

    python -m bench.fim [--smoke] [--model GGUF] [--record]

Without ``--model`` the tiny random StarCoder2 GGUF of the tests is used: token counts
and reuse are real, latencies are those of a tiny network.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DEBOUNCE_S = 0.120
MAX_TOKENS_MULTI = 128
MAX_TOKENS_SINGLE = 64
PROMPT_TOKENS = 2048

# ---- the session ---------------------------------------------------------------------------

_NOUNS = ["record", "buffer", "client", "entry", "token", "window", "request", "result",
          "config", "segment", "cursor", "payload", "worker", "option", "message"]
_VERBS = ["load", "parse", "merge", "split", "render", "update", "resolve", "validate",
          "collect", "format", "encode", "filter", "schedule", "normalize", "flush"]


def _function(rng: random.Random, index: int) -> str:
    verb, noun, other = rng.choice(_VERBS), rng.choice(_NOUNS), rng.choice(_NOUNS)
    name = f"{verb}_{noun}_{index}"
    lines = [
        f"def {name}({noun}: dict[str, Any], {other}s: list[str] | None = None) -> list[str]:",
        f'    """{verb.capitalize()} the {noun} against its {other}s; empty when none match."""',
        f"    {other}s = {other}s or []",
        "    found: list[str] = []",
        f"    for key, value in sorted({noun}.items()):",
        f"        if key in {other}s and value is not None:",
        '            found.append(f"{key}={value!r}")',
        f"        elif isinstance(value, str) and value.startswith(\"{index % 7}\"):",
        "            found.extend(value.split(\",\"))",
        f"    if len(found) > {rng.randint(2, 40)}:",
        f"        raise ValueError(\"too many {other}s in {noun}\")",
        "    return found",
    ]
    return "\n".join(lines) + "\n\n\n"


@dataclass(frozen=True)
class Session:
    base: str  # the file before typing starts
    insert_at: int  # where the typed text goes
    typed: str  # typed one character at a time
    gaps: list[float]  # seconds from each keystroke to the next

    def served(self) -> list[int]:
        """Indexes (chars typed so far) of the keystrokes whose request is served."""
        return [i + 1 for i, gap in enumerate(self.gaps) if gap >= DEBOUNCE_S]


def make_session(smoke: bool, seed: int = 7) -> Session:
    rng = random.Random(seed)
    functions = 8 if smoke else 40
    header = "from __future__ import annotations\n\nfrom typing import Any\n\n\n"
    body = [_function(rng, i) for i in range(functions)]
    middle = functions // 2 if not smoke else functions - 2
    typed = "".join(_function(rng, 100 + k) for k in range(1 if smoke else 2))
    typed = typed[:240] if smoke else typed.rstrip() + "\n"
    before = header + "".join(body[:middle])
    base = before + "".join(body[middle:])
    gaps: list[float] = []
    for ch in typed:
        if ch == "\n":
            gap = rng.uniform(0.30, 0.90)
        elif ch in " (),:.":
            gap = rng.uniform(0.10, 0.35)
        else:
            gap = rng.uniform(0.06, 0.20)
        if rng.random() < 0.03:
            gap += rng.uniform(1.0, 2.5)  # thinking
        gaps.append(gap)
    return Session(base=base, insert_at=len(before), typed=typed, gaps=gaps)


# ---- in-process passes ---------------------------------------------------------------------


def _tiny_model() -> Path:
    sys.path.insert(0, str(REPO))
    from tests.fixtures.tiny_model import build_tiny_model

    env = os.environ.get("STARCODER_TEST_CACHE")
    cache = Path(env) if env else REPO / ".cache" / "test-models"
    return Path(build_tiny_model(cache).gguf_path)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per-request figures after the first request of the session."""
    rest = rows[1:] or rows
    evaluated = [r["evaluated"] for r in rest]
    ratios = [r["evaluated"] / r["prompt"] for r in rest if r["prompt"]]
    latency = [r["latency_ms"] for r in rest]
    return {
        "requests": len(rows),
        "first_evaluated": rows[0]["evaluated"] if rows else 0,
        "prompt_tokens_p50": _percentile([r["prompt"] for r in rest], 0.5),
        "evaluated_p50": _percentile(evaluated, 0.5),
        "evaluated_p95": _percentile(evaluated, 0.95),
        "ratio_p50": _percentile(ratios, 0.5),
        "ratio_p95": _percentile(ratios, 0.95),
        "ratio_max": max(ratios, default=0.0),
        "over_10pct": sum(1 for r in ratios if r > 0.10),
        "reuse_ratio": 1 - sum(evaluated) / max(1, sum(r["prompt"] for r in rest)),
        "latency_ms_p50": _percentile(latency, 0.5),
        "latency_ms_p95": _percentile(latency, 0.95),
        "logic_ms_p50": _percentile([r["logic_ms"] for r in rest], 0.5),
    }


class Pass:
    """One way of serving the session in process, with its own llama.cpp context."""

    def __init__(self, name: str, backend: Any, session: Session, *, order: str,
                 reuse: bool, stride: int = 1) -> None:
        from lsp_server import completion

        self.name, self.backend, self.session = name, backend, session
        self.order, self.reuse, self.stride = order, reuse, stride
        sample = session.base[:8000]
        cpt = min(6.0, max(1.0, 0.95 * len(sample) / backend.count_tokens(sample)))
        self.budget = completion.FimBudget.for_tokens(
            min(PROMPT_TOKENS, backend.info.context_length - MAX_TOKENS_MULTI - 16), cpt)
        self.rows: list[dict[str, float]] = []
        self._cancel = threading.Event()

    def step(self, index: int, typed: int, text: str, tree: Any) -> None:
        """Serve the request made after `typed` characters (the `index`-th served)."""
        from lsp_server import completion
        from model.base import GenerationRequest, GenerationStats

        if index % self.stride:
            return
        spec, offset = tree.language_spec, self.session.insert_at + typed
        started = time.perf_counter()
        multiline = completion.is_multiline_position(text, offset, spec, tree.tree)
        prompt = completion.build_prompt(text, offset, budget=self.budget, order=self.order,
                                         path="pkg/session.py", repo="bench")
        logic = time.perf_counter() - started
        llm = getattr(self.backend, "_llm", None)
        if not self.reuse and llm is not None:
            llm.reset()  # forget the KV cache: the whole prompt is evaluated again
        stats = GenerationStats()
        request = GenerationRequest(
            prompt=prompt.text, max_tokens=MAX_TOKENS_MULTI if multiline else MAX_TOKENS_SINGLE,
            stop=completion.stop_strings(multiline), fim=True)
        generated = time.perf_counter()
        raw = "".join(self.backend.generate(request, self._cancel, stats))
        backend_s = time.perf_counter() - generated
        started = time.perf_counter()
        completion.postprocess(raw, text=text, offset=offset, multiline=multiline, spec=spec,
                               tree=tree.tree, length_limited=stats.stop_reason == "length")
        logic += time.perf_counter() - started
        self.rows.append({"prompt": stats.prompt_tokens,
                          "evaluated": stats.prompt_tokens_evaluated,
                          "latency_ms": (backend_s + logic) * 1000, "logic_ms": logic * 1000,
                          "window_start": prompt.prefix_start})

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = _summary(self.rows)
        result["window_moves"] = sum(1 for a, b in itertools.pairwise(self.rows)
                                     if a["window_start"] != b["window_start"])
        return result


@dataclass
class _Parsed:
    language_spec: Any
    tree: Any


def replay(passes: list[Pass], session: Session) -> dict[str, dict[str, Any]]:
    """Every served request of the session, given to each pass in turn, so that all
    passes see the same machine load (this bench shares its machine)."""
    from lsp_server.extraction.languages import language_for, parse

    spec = language_for("python", "session.py")
    assert spec is not None
    for index, typed in enumerate(session.served()):
        text = (session.base[:session.insert_at] + session.typed[:typed]
                + session.base[session.insert_at:])
        parsed = _Parsed(spec, parse(spec, text.encode()))  # the server keeps its tree
        for one in passes:
            one.step(index, typed, text, parsed)
    return {one.name: one.result() for one in passes}


def _single_threaded(backend: Any) -> None:
    """One thread for decoding and for prompt batches: several contexts in one process
    (and other processes) then cannot stall each other's thread barriers."""
    import llama_cpp

    llm = getattr(backend, "_llm", None)
    if llm is not None:
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, 1, 1)


# ---- through the server ---------------------------------------------------------------------


async def _replay_lsp(model: Path, session: Session) -> dict[str, Any]:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("bench-fim", "1")
    await client.start_io(sys.executable, "-m", "lsp_server", "--stdio", "--model", str(model),
                          "--completion-model", str(model), cwd=str(REPO))
    caps = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()))
    await client.initialize_async(types.InitializeParams(
        capabilities=caps, root_uri=REPO.as_uri(),
        initialization_options={"completionDebounceMs": 0,
                                "completionTimeBudgetMs": 60000}))
    client.initialized(types.InitializedParams())
    uri = (REPO / "pkg" / "session.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=session.base)))
    line = session.base[:session.insert_at].count("\n")
    column, version, sent = 0, 1, 0
    entries: list[Any] = []
    round_trips: list[float] = []

    async def drain(clear: bool) -> None:
        report = await client.protocol.send_request_async("starcoder/completionStats",
                                                          {"clear": clear})
        entries.extend(report.requests)

    for served in session.served():
        for ch in session.typed[sent:served]:
            version += 1
            pos = types.Position(line=line, character=column)
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(
                    range=types.Range(start=pos, end=pos), text=ch)]))
            line, column = (line + 1, 0) if ch == "\n" else (line, column + 1)
        sent = served
        started = time.perf_counter()
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=column),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        round_trips.append((time.perf_counter() - started) * 1000)
        if len(round_trips) % 100 == 0:
            await drain(True)
    await drain(True)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    generated = [e for e in entries if getattr(e, "prompt_tokens", None)]
    rows = [{"prompt": e.prompt_tokens, "evaluated": e.prompt_tokens_evaluated,
             "latency_ms": e.total_ms, "logic_ms": e.server_overhead_ms} for e in generated]
    result: dict[str, Any] = _summary(rows)
    backend_ms = [e.backend_ms for e in generated[1:]]
    result.update(
        server_overhead_ms_p50=_percentile([e.server_overhead_ms for e in generated[1:]], 0.5),
        server_overhead_ms_p95=_percentile([e.server_overhead_ms for e in generated[1:]], 0.95),
        backend_ms_p50=_percentile(backend_ms, 0.5),
        round_trip_ms_p50=_percentile(round_trips[1:], 0.5),
        round_trip_minus_backend_ms_p50=_percentile(
            [rt - e.backend_ms for rt, e in zip(round_trips[1:], generated[1:], strict=False)],
            0.5),
        outcomes=dict(Counter(e.outcome for e in entries)),
    )
    return result


# ---- entry points ----------------------------------------------------------------------------


def run(smoke: bool = False, model: str | None = None) -> dict[str, Any]:
    """All passes; returns their figures (for bench/run and --record)."""
    from model.llamacpp_backend import LlamaCppBackend

    path = Path(model) if model else _tiny_model()
    session = make_session(smoke)
    backends = [LlamaCppBackend(str(path)) for _ in range(3)]  # weights are mmap-shared
    for backend in backends:
        backend.load()
        _single_threaded(backend)
    try:
        passes = replay([
            Pass("psm", backends[0], session, order="psm", reuse=True),
            Pass("spm", backends[1], session, order="spm", reuse=True),
            # Without reuse every request costs the same: a sample of them is enough.
            Pass("psm, no reuse", backends[2], session, order="psm", reuse=False, stride=4),
        ], session)
    finally:
        for backend in backends:
            backend.close()
    passes["lsp"] = asyncio.run(_replay_lsp(path, session))
    return {
        "model": path.name, "smoke": smoke, "typed_chars": len(session.typed),
        "keystrokes": len(session.gaps), "served": len(session.served()),
        "file_chars": len(session.base) + len(session.typed), "passes": passes,
    }


def _machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                     if ln.startswith("Model name")), name)
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{name}, {os.cpu_count()} cores, {memory:.0f} GiB RAM"


def table(result: dict[str, Any]) -> str:
    head = (f"{'pass':<15}{'req':>5}{'prompt':>8}{'eval p50':>9}{'eval p95':>9}"
            f"{'%p50':>7}{'%p95':>7}{'%max':>7}{'>10%':>6}{'reuse':>7}"
            f"{'lat p50':>9}{'lat p95':>9}")
    lines = [head, "-" * len(head)]
    for name, p in result["passes"].items():
        lines.append(
            f"{name:<15}{p['requests']:>5}{p['prompt_tokens_p50']:>8.0f}"
            f"{p['evaluated_p50']:>9.0f}{p['evaluated_p95']:>9.0f}"
            f"{p['ratio_p50'] * 100:>6.1f}%{p['ratio_p95'] * 100:>6.1f}%"
            f"{p['ratio_max'] * 100:>6.1f}%{p['over_10pct']:>6}{p['reuse_ratio'] * 100:>6.1f}%"
            f"{p['latency_ms_p50']:>8.1f}ms{p['latency_ms_p95']:>7.1f}ms")
    lsp = result["passes"]["lsp"]
    lines.append("")
    lines.append(
        f"server overhead (handler - backend - queue): p50 {lsp['server_overhead_ms_p50']:.2f} ms,"
        f" p95 {lsp['server_overhead_ms_p95']:.2f} ms; backend p50 {lsp['backend_ms_p50']:.1f} ms;"
        f" client round trip - backend p50 {lsp['round_trip_minus_backend_ms_p50']:.2f} ms")
    lines.append(f"lsp outcomes: {lsp['outcomes']}")
    return "\n".join(lines)


def record(result: dict[str, Any]) -> None:
    """Append a dated section to bench/RESULTS.md."""
    today = datetime.date.today().isoformat()
    kind = "smoke" if result["smoke"] else "full"
    section = (
        f"\n## {today} — bench/fim.py ({kind})\n\n"
        f"Machine: {_machine()}. Model: `{result['model']}`. Session: {result['typed_chars']} "
        f"characters typed into a {result['file_chars']}-character Python file, "
        f"{result['served']} of {result['keystrokes']} keystrokes served "
        f"(debounce {DEBOUNCE_S * 1000:.0f} ms).\n\n```\n{table(result)}\n```\n\n"
        "Per request after the first one in the file: `eval` = prompt tokens llama.cpp "
        "evaluated (the rest came from its cache), `%` = share of the prompt, `>10%` = "
        "requests above 10 %, `reuse` = 1 - evaluated / prompt tokens summed, `lat` = "
        "backend + prompt and clean-up logic.\n"
    )
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n")
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a short session")
    parser.add_argument("--model", help="a GGUF file (default: the tests' tiny model)")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    result = run(args.smoke, args.model)
    print(f"model {result['model']}: {result['typed_chars']} chars typed, "
          f"{result['served']}/{result['keystrokes']} keystrokes served")
    print(table(result))
    if args.record:
        record(result)


if __name__ == "__main__":
    main()
