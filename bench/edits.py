"""Edit corpus benchmark: plain vs speculative (prompt-lookup) greedy decoding.

Each task in bench/corpus/manifest.json (a file, a line range, an instruction) goes
through the server's own planning (`pipeline.plan`: tree-sitter extraction), then is
generated twice on the same loaded model, plain and with drafting from the selected
code, alternating which goes first on each repeat. Both runs evaluate the whole prompt
(the KV cache is cleared before each), so times are end to end; the decode-only time
(after the first token) is reported too. Outputs must be identical.

Prompt styles:

* ``server``: exactly what the language server sends (`pipeline.build_prompt`, i.e. the
  model's own instruct format, or the Tech Assistant prompt for a model without one).
* ``copy``: a completion-style prompt for *base* models (the CPU benchmark's Gemma 3
  270M is one): the instruction as a comment line, the code, then "Here is the code
  rewritten:" and an opened fence. A base model given an instruct prompt tends to chat
  instead of rewriting; this makes it reproduce (and sometimes edit) the code, which is
  the workload an instruct model produces for real edits. The outputs are whatever the
  model writes: nothing is forced or hard-coded.
"""

from __future__ import annotations

import difflib
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsp_server import pipeline
from lsp_server.documents import DocumentStore
from lsp_server.prompts.build import Prompt
from lsp_server.prompts.templates import CLOSING_FENCE_STOP
from lsp_server.settings import Settings
from model.base import Backend, GenerationRequest, GenerationStats

CORPUS = Path(__file__).resolve().parent / "corpus"
COPY_THRESHOLD = 0.8

COPY_TEMPLATE = (
    "Here is a {language} file excerpt:\n\n```{fence}\n{code}\n```\n\n"
    "Task: {instruction}\n\nHere is the code rewritten:\n\n```{fence}\n"
)


@dataclass(frozen=True)
class Task:
    id: str
    file: Path
    start: int  # 1-based, inclusive
    end: int
    kind: str
    instruction: str

    @property
    def language(self) -> str:
        return self.file.suffix.lstrip(".")


@dataclass
class TaskResult:
    task: Task
    prompt_tokens: int = 0
    output_tokens: int = 0
    plain_s: list[float] = field(default_factory=list)
    spec_s: list[float] = field(default_factory=list)
    plain_decode_s: list[float] = field(default_factory=list)
    spec_decode_s: list[float] = field(default_factory=list)
    identical: bool = True
    drafted: int = 0
    accepted: int = 0
    copy_fraction: float = 0.0  # share of the output's characters copied from the input
    accepted_fraction: float = 0.0  # share of output tokens that came from drafts
    output: str = ""

    @property
    def speedup(self) -> float:
        return statistics.median(self.plain_s) / statistics.median(self.spec_s)

    @property
    def decode_speedup(self) -> float:
        spec = statistics.median(self.spec_decode_s)
        return statistics.median(self.plain_decode_s) / spec if spec > 0 else 0.0

    @property
    def copies(self) -> bool:
        return self.copy_fraction >= COPY_THRESHOLD


def load_tasks(limit: int | None = None) -> list[Task]:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    tasks = [
        Task(t["id"], CORPUS / "files" / t["file"], t["start"], t["end"], t["kind"],
             t["instruction"])
        for t in manifest["tasks"]
    ]
    return tasks[:limit] if limit else tasks


def plan_task(task: Task, backend: Backend, style: str) -> tuple[pipeline.Job, Prompt]:
    """The job the server would plan for this selection, and the prompt to send."""
    text = task.file.read_text()
    doc = DocumentStore().open(task.file.as_uri(), "", 1, text)
    end_line = min(task.end, len(doc.lines) - 1)  # selection to the start of the next line
    job = pipeline.plan(doc, (task.start - 1, 0), (end_line, 0), instruction=task.instruction,
                        settings=Settings(), count_tokens=backend.count_tokens)
    if style == "server":
        return job, pipeline.build_prompt(job, backend)
    code = job.extraction.target_text.rstrip("\n")
    body = COPY_TEMPLATE.format(language=job.language, fence=job.fence, code=code,
                                instruction=task.instruction)
    prefix = f"```{job.fence}\n"
    return job, Prompt(text=body, response_prefix=prefix, stop=(CLOSING_FENCE_STOP,),
                       family="copy", messages=())


def copy_fraction(source: str, output: str) -> float:
    """Share of `output` made of runs copied from `source` (difflib matching blocks)."""
    if not output:
        return 0.0
    matcher = difflib.SequenceMatcher(None, source, output, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(output)


def _timed(backend: Backend, request: GenerationRequest) -> tuple[str, GenerationStats, float]:
    reset = getattr(backend, "reset_cache", None)
    if reset is not None:
        reset()  # evaluate the whole prompt every run: end-to-end times
    stats = GenerationStats()
    started = time.perf_counter()
    text = "".join(backend.generate(request, threading.Event(), stats))
    return text, stats, time.perf_counter() - started


def run_task(backend: Backend, task: Task, *, repeats: int, max_tokens: int,
             style: str) -> TaskResult:
    job, prompt = plan_task(task, backend, style)
    source = job.extraction.target_text
    result = TaskResult(task, prompt_tokens=backend.count_tokens(prompt.text))
    outputs: set[str] = set()
    for repeat in range(repeats):
        order = ("plain", "spec") if repeat % 2 == 0 else ("spec", "plain")
        for mode in order:
            request = GenerationRequest(prompt.text, max_tokens=max_tokens, stop=prompt.stop,
                                        draft_source=source if mode == "spec" else None)
            text, stats, elapsed = _timed(backend, request)
            outputs.add(text)
            decode = elapsed - stats.time_to_first_token_s
            if mode == "plain":
                result.plain_s.append(elapsed)
                result.plain_decode_s.append(decode)
            else:
                result.spec_s.append(elapsed)
                result.spec_decode_s.append(decode)
                result.drafted, result.accepted = stats.drafted_tokens, stats.accepted_draft_tokens
                result.output_tokens = stats.completion_tokens
                result.output = text
    result.identical = len(outputs) == 1
    result.copy_fraction = copy_fraction(source, result.output)
    result.accepted_fraction = result.accepted / max(1, result.output_tokens)
    return result


def summarize(results: list[TaskResult]) -> dict[str, Any]:
    copying = [r for r in results if r.copies]

    def total_ratio(rs: list[TaskResult]) -> float:
        spec = sum(statistics.median(r.spec_s) for r in rs)
        return sum(statistics.median(r.plain_s) for r in rs) / spec if spec else 0.0

    return {
        "tasks": len(results),
        "identical": sum(r.identical for r in results),
        "languages": len({r.task.language for r in results}),
        "median_speedup": statistics.median(r.speedup for r in results) if results else 0.0,
        "lowest_speedup": min((r.speedup for r in results), default=0.0),
        "total_speedup": total_ratio(results),
        "copying_tasks": len(copying),
        "copying_median_speedup": statistics.median(r.speedup for r in copying)
        if copying else 0.0,
        "copying_total_speedup": total_ratio(copying),
        "copying_decode_speedup": statistics.median(r.decode_speedup for r in copying)
        if copying else 0.0,
        "drafted": sum(r.drafted for r in results),
        "accepted": sum(r.accepted for r in results),
    }


def table(results: list[TaskResult]) -> str:
    head = (f"| {'task':24} | {'lang':4} | {'kind':18} | out tok | copy % | acc % | "
            f"plain s | spec s | speedup | decode x | same |")
    rule = "|" + "|".join("-" * (len(cell)) for cell in head.split("|")[1:-1]) + "|"
    rows = [head, rule]
    for r in results:
        rows.append(
            f"| {r.task.id:24} | {r.task.language:4} | {r.task.kind:18} | "
            f"{r.output_tokens:7d} | {r.copy_fraction * 100:6.0f} | "
            f"{r.accepted_fraction * 100:5.0f} | {statistics.median(r.plain_s):7.2f} | "
            f"{statistics.median(r.spec_s):6.2f} | {r.speedup:6.2f}x | "
            f"{r.decode_speedup:7.2f}x | {'yes' if r.identical else 'NO':4} |"
        )
    return "\n".join(rows)


def run(backend: Backend, *, limit: int | None = None, repeats: int = 3,
        max_tokens: int = 384, style: str = "copy",
        progress: Any = None) -> list[TaskResult]:
    results = []
    for task in load_tasks(limit):
        result = run_task(backend, task, repeats=repeats, max_tokens=max_tokens, style=style)
        if progress is not None:
            progress(f"  {task.id}: {result.speedup:.2f}x, copy {result.copy_fraction:.0%}, "
                     f"identical={result.identical}")
        results.append(result)
    return results
