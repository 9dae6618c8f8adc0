"""The CLI's non-server commands: `edit` (same pipeline as the server, prints a unified
diff), `models`, `download` and `doctor`."""

from __future__ import annotations

import argparse
import difflib
import sys
import threading
from pathlib import Path
from typing import Any

from lsp_server import pipeline
from lsp_server.documents import Document, DocumentStore
from lsp_server.extraction.diagnostic_fix import Problem, fix_for
from lsp_server.settings import Settings, merge
from model.base import GenerationStats, LoadProgress
from model.errors import ModelError


def _stderr_progress(progress: LoadProgress) -> None:
    pct = f" {progress.fraction * 100:5.1f}%" if progress.fraction is not None else ""
    print(f"[{progress.stage}{pct}] {progress.message}", file=sys.stderr)


def edit_file(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from lsp_server.models import backend_config
    from model.loader import create_backend
    from model.queue import GenerationQueue

    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as err:
        print(f"starcoder-lsp: cannot read {path}: {err.strerror}", file=sys.stderr)
        return 2
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        print(f"starcoder-lsp: {path} is not UTF-8 text", file=sys.stderr)
        return 2
    settings, warnings = merge(Settings(), overrides)
    for warning in warnings:
        print(f"starcoder-lsp: {warning}", file=sys.stderr)
    store = DocumentStore()
    doc = store.open(path.resolve().as_uri(), "", 0, text)
    line = max(0, args.line - 1)
    end_line = (args.end_line if args.end_line else args.line) - 1
    start = (line, 0)
    end = (max(line, end_line) + 1, 0) if args.end_line else (line, 0)
    if end[0] >= len(doc.lines):
        end = (len(doc.lines) - 1, len(doc.lines[-1]))
    mode = "explain" if args.explain else "edit"
    instruction = args.instruction
    if getattr(args, "fix", None):
        start, end, instruction = _fix_target(doc, args.fix, line, end_line, settings)
    try:
        job = pipeline.plan(doc, start, end, instruction=instruction, settings=settings,
                            mode=mode)
        backend = create_backend(backend_config(settings), progress=_stderr_progress)
        backend.load(_stderr_progress)
        prompt = pipeline.build_prompt(job, backend)
        max_tokens = pipeline.check_fits(prompt, backend, settings.max_tokens)
        stats = GenerationStats()
        cancel = threading.Event()
        print(f"StarCoder: {job.instruction}", file=sys.stderr)
        answer = pipeline.generate(
            backend, GenerationQueue(1), prompt, cancel=cancel, max_tokens=max_tokens,
            temperature=settings.temperature,
            draft_source=(job.extraction.target_text if settings.drafting
                          and job.mode == "edit" else None),
            exact_drafts=settings.exact_drafts, stats=stats,
            timeout_s=settings.request_timeout_s)
        outcome = pipeline.answer_to_outcome(job, prompt, answer, stats,
                                             continues_prefix=not backend.info.uses_chat_api)
    except (pipeline.PipelineError, ModelError) as err:
        print(f"starcoder-lsp: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"({stats.completion_tokens} tokens, {stats.total_s:.1f}s, "
          f"{stats.tokens_per_second:.1f} tok/s)", file=sys.stderr)
    if job.mode == "explain":
        print(outcome.code)
        return 0
    new_text = pipeline.preview_text(job, outcome)
    diff = difflib.unified_diff(
        text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=f"a/{path}", tofile=f"b/{path}",
    )
    sys.stdout.writelines(diff)
    if args.write and new_text != text:
        path.write_bytes(new_text.encode("utf-8"))
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _fix_target(doc: Document, message: str, line: int, end_line: int, settings: Settings
                ) -> tuple[tuple[int, int], tuple[int, int], str]:
    """Start, end and instruction of the quick fix for `message` reported at the lines
    (0-based) — the same fix the editor's lightbulb offers for that diagnostic."""
    with doc.lock:
        text, tree, spec = doc.text, doc.tree, doc.spec
    fix = fix_for(text, tree, spec, Problem(message, line, max(line, end_line)),
                  prefixes=settings.instruction_prefixes)
    first, stop = fix.target_lines
    return (first, 0), (stop, 0), fix.instruction


def list_models(as_json: bool = False) -> int:
    from model.download import downloaded, models_dir
    from model.presets import DEFAULT_EDIT_PRESET, PRESETS

    have = downloaded()
    if as_json:
        import json

        print(json.dumps({
            "modelsDir": str(models_dir()), "default": DEFAULT_EDIT_PRESET,
            "presets": [{"name": name, "kind": preset.kind, "description": preset.description,
                         "gguf": [{"quant": q, "filename": f.filename, "sizeGb": f.size_gb}
                                  for q, f in preset.gguf.items()],
                         "local": [str(p) for p in have.get(name, [])]}
                        for name, preset in PRESETS.items()],
        }, indent=2))
        return 0
    print(f"models folder: {models_dir()}")
    for name, preset in PRESETS.items():
        files = ", ".join(f"{q} ({f.size_gb:.1f} GB)" for q, f in preset.gguf.items()) or "-"
        present = ", ".join(p.name for p in have.get(name, [])) or "not downloaded"
        print(f"{name:36} {preset.kind:8} ctx {preset.context_length:<6} {preset.prompt_family}")
        print(f"    {preset.description}")
        print(f"    bf16: {preset.hf_repo}   GGUF: {files}   local: {present}")
    return 0


def download(name: str, directory: str | None) -> int:
    from model.download import download_gguf, models_dir

    try:
        path = download_gguf(name, models_dir(directory or ""), progress=None)
    except ModelError as err:
        print(f"starcoder-lsp: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


def doctor(output: str, overrides: dict[str, Any]) -> int:
    """Print the doctor's report; exit status 1 when a check fails."""
    import json

    from lsp_server.doctor import run_doctor
    from lsp_server.doctor.report import ASCII_MARKS, MARKS

    settings, warnings = merge(Settings(), overrides)
    for warning in warnings:
        print(f"starcoder-lsp: {warning}", file=sys.stderr)
    report = run_doctor(settings)
    if output == "json":
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    elif output == "markdown":
        _write(report.markdown())
    else:
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        try:
            "".join(MARKS.values()).encode(encoding)
            marks = MARKS
        except (UnicodeEncodeError, LookupError):
            marks = ASCII_MARKS
        _write(report.text(marks))
    return report.exit_code


def _write(text: str) -> None:
    """Print, replacing what the terminal's encoding cannot show (never crash on it)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    sys.stdout.write(text.encode(encoding, errors="replace").decode(encoding))
    sys.stdout.flush()
