"""starcoder.edit / .generate / .explain commands and the starcoder/edit and
starcoder/explain requests.

The model runs in a worker thread (features/progress.py: work-done progress with the
partial text, cancellation reaching the backend through a threading.Event); this module
plans the job and ends it with a versioned applyEdit that never overwrites what the user
typed meanwhile (features/apply_edit.py: sent again, rebased, after a refusal that
follows new typing). With an `answer` (chat's Apply) the model does not run at all.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from lsprotocol import types

from lsp_server import pipeline
from lsp_server.documents import Document
from lsp_server.features.apply_edit import apply_with_retry, workspace_edit
from lsp_server.features.progress import (
    Cancelled,
    WorkProgress,
    finished,
    generating,
    run_model_job,
    token_in_params,
)
from lsp_server.protocol import (
    CMD_CANCEL,
    CMD_EDIT,
    CMD_EXPLAIN,
    CMD_GENERATE,
    REQ_EDIT,
    REQ_EXPLAIN,
    EditArgs,
    ParamsError,
)

# A real import, not TYPE_CHECKING: pygls evaluates command handlers' type hints.
from lsp_server.server import StarcoderServer
from model.base import GenerationStats
from model.errors import BusyError, ModelError

log = logging.getLogger(__name__)

# The instruction of an edit whose answer the client gave (a code block applied from chat).
APPLY_INSTRUCTION = "apply the code from StarCoder Chat"


def register(server: StarcoderServer) -> None:
    @server.command(CMD_EDIT)
    async def edit_command(ls: StarcoderServer, *args: Any) -> dict[str, Any]:
        return await run(ls, args, mode="edit", apply=True)

    @server.command(CMD_GENERATE)
    async def generate_command(ls: StarcoderServer, *args: Any) -> dict[str, Any]:
        return await run(ls, args, mode="generate", apply=True)

    @server.command(CMD_EXPLAIN)
    async def explain_command(ls: StarcoderServer, *args: Any) -> dict[str, Any]:
        return await run(ls, args, mode="explain", apply=False)

    @server.command(CMD_CANCEL)
    def cancel_command(ls: StarcoderServer, *args: Any) -> dict[str, Any]:
        """Cancel every running job (for clients without progress cancellation)."""
        events = list(ls.running.values())
        for event in events:
            event.set()
        return {"cancelled": len(events)}

    @server.feature(REQ_EDIT)
    async def edit_request(ls: StarcoderServer, params: Any) -> dict[str, Any]:
        return await run(ls, params, mode="edit", apply=False, strict=True)

    @server.feature(REQ_EXPLAIN)
    async def explain_request(ls: StarcoderServer, params: Any) -> dict[str, Any]:
        return await run(ls, params, mode="explain", apply=False, strict=True)


async def run(ls: StarcoderServer, raw: Any, *, mode: str, apply: bool,
              strict: bool = False) -> dict[str, Any]:
    """Serve one job. Commands report failures as messages and a result with `applied:
    false`; custom requests (strict) answer with a JSON-RPC error instead."""
    from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled

    token = _progress_token(raw)
    try:
        args = EditArgs.parse(raw)
    except ParamsError as err:
        if strict:
            raise JsonRpcInvalidParams(str(err)) from err
        ls.show(f"bad arguments: {err}", types.MessageType.Error)
        return {"applied": False, "reason": "invalid", "message": str(err)}
    try:
        return await _run_job(ls, args, mode=mode, apply=apply, token=token)
    except (Cancelled, asyncio.CancelledError):
        if strict:
            raise JsonRpcRequestCancelled("cancelled") from None
        return {"applied": False, "reason": "cancelled", "message": "cancelled"}
    except pipeline.ConflictError as err:
        ls.show(str(err), types.MessageType.Warning)
        result = {"applied": False, "reason": "conflict", "message": str(err)}
        result.update(getattr(err, "partial", {}))
        return result
    except (pipeline.PipelineError, ModelError) as err:
        reason = "busy" if isinstance(err, BusyError) else (
            "empty" if isinstance(err, pipeline.EmptyAnswerError) else "error")
        if strict and reason != "empty":
            from pygls.exceptions import JsonRpcException

            raise JsonRpcException(message=str(err), code=-32803) from err
        ls.show(str(err), types.MessageType.Warning if reason != "error"
                else types.MessageType.Error)
        return {"applied": False, "reason": reason, "message": str(err), "edit": None}
    except Exception as err:  # a bug: say so, keep serving, never touch the document
        log.exception("%s failed", mode)
        message = f"internal error while running {mode}: {type(err).__name__}: {err}"
        if strict:
            from pygls.exceptions import JsonRpcInternalError

            raise JsonRpcInternalError(message) from err
        ls.show(message, types.MessageType.Error)
        return {"applied": False, "reason": "error", "message": message, "edit": None}


def _progress_token(raw: Any) -> types.ProgressToken | None:
    from lsp_server.server import current_command

    params = current_command.get()
    if params is not None and params.work_done_token is not None:
        return params.work_done_token
    return token_in_params(raw)


def _points(doc: Document, args: EditArgs, encoding: str,
            prefixes: list[str]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The request's range in code points; without one, the first instruction comment."""
    if args.start is None or args.end is None:
        line = _first_instruction_line(doc, prefixes)
        return (line, 0), (line, 0)
    start = doc.client_to_points(args.start.line, args.start.character, encoding)
    end = doc.client_to_points(args.end.line, args.end.character, encoding)
    return start, end


def _first_instruction_line(doc: Document, prefixes: list[str]) -> int:
    lowered = [p.lower() for p in prefixes]
    for number, line in enumerate(doc.lines):
        text = line.lower()
        if any(p in text for p in lowered):
            return number
    return 0


async def _run_job(ls: StarcoderServer, args: EditArgs, *, mode: str, apply: bool,
                   token: types.ProgressToken | None) -> dict[str, Any]:
    doc = ls.documents.get(args.uri)
    if doc is None:  # never read from disk: only what the editor sent us is edited
        raise pipeline.PipelineError(f"{args.uri} is not open in the editor (or is too large)")
    if doc.lone_cr:
        raise pipeline.PipelineError(
            "this file has old Mac line endings (a lone CR); StarCoder does not edit it, "
            "so that no change lands on the wrong line (convert it to LF or CRLF, then "
            "reopen it)")
    if len(ls.running) > ls.settings.queue_size:  # refuse before tying up a worker
        raise BusyError(f"the model is busy ({len(ls.running)} requests ahead); "
                        "try again shortly")
    encoding = ls.encoding
    start, end = _points(doc, args, encoding, ls.settings.instruction_prefixes)
    given = args.answer if mode == "edit" else None
    instruction = args.instruction or (APPLY_INSTRUCTION if given is not None else None)
    job = pipeline.plan(doc, start, end, instruction=instruction, settings=ls.settings,
                        mode=mode)
    stats = GenerationStats()
    settings = ls.settings
    title = "StarCoder: " + ("explain" if job.mode == "explain" else job.instruction)

    def work(cancel: threading.Event, progress: WorkProgress,
             stats: GenerationStats) -> pipeline.Outcome:
        if given is not None:  # the user's code (chat's Apply): no model, same edits
            return pipeline.answer_to_outcome(job, None, given, stats, continues_prefix=False)
        backend = ls.models.get(cancel)
        prompt = pipeline.build_prompt(job, backend)
        max_tokens = pipeline.check_fits(prompt, backend, settings.max_tokens)
        generating(ls, f"StarCoder: {job.instruction}")
        try:
            answer = pipeline.generate(
                backend, ls.models.queue, prompt, cancel=cancel, max_tokens=max_tokens,
                temperature=settings.temperature,
                draft_source=(job.extraction.target_text if settings.drafting
                              and job.mode == "edit" else None),
                exact_drafts=settings.exact_drafts,
                on_partial=progress.report_threadsafe, stats=stats,
                timeout_s=settings.request_timeout_s,
            )
        finally:
            finished(ls, stats)
        if cancel.is_set():
            raise Cancelled()
        return pipeline.answer_to_outcome(job, prompt, answer, stats,
                                          continues_prefix=not backend.info.uses_chat_api)

    outcome = await run_model_job(ls, token, title, work, stats)

    if job.mode == "explain":
        return {"kind": "markdown", "value": outcome.code, "instruction": job.instruction,
                "range": _line_range(job.extraction.target_lines),
                "stats": stats.as_dict()}
    if ls.documents.get(args.uri) is not doc:
        raise pipeline.ConflictError("the document was closed or reopened during "
                                     "generation; the edit was not applied")
    if not args.rebase and not apply:
        # The client asked for the edit on the version it was planned on (an inline
        # review that writes into the document while the model streams rebases it itself).
        edit = workspace_edit(doc, outcome.edits, outcome.version, encoding,
                              lines=job.text.split("\n"))
    else:
        try:
            outcome = pipeline.rebase_onto(doc, outcome)
        except pipeline.ConflictError as err:
            err.partial = {"text": outcome.code, "instruction": job.instruction,  # type: ignore[attr-defined]
                           "stats": stats.as_dict()}
            raise
        edit = workspace_edit(doc, outcome.edits, outcome.version, encoding)
    result: dict[str, Any] = {
        "edit": edit,
        "text": outcome.code,
        "instruction": job.instruction,
        "mode": job.mode,
        "range": _line_range(job.extraction.target_lines),
        "version": outcome.version,
        "stats": stats.as_dict(),
    }
    if not apply:
        return result
    if not outcome.edits:
        ls.show("the model's code is the same as yours; nothing to change")
        return {**result, "applied": False, "reason": "unchanged"}
    try:
        sent = await apply_with_retry(ls, doc, outcome, encoding, f"StarCoder: {job.instruction}")
    except pipeline.ConflictError as err:
        err.partial = {"text": outcome.code, "instruction": job.instruction,  # type: ignore[attr-defined]
                       "stats": stats.as_dict()}
        raise
    result.update(edit=sent.edit, version=outcome.version, attempts=sent.attempts)
    if not sent.applied:
        ls.show(f"the edit was not applied: {sent.reason}", types.MessageType.Warning)
        return {**result, "applied": False, "reason": "refused", "message": sent.reason}
    return {**result, "applied": True}


def _line_range(lines: tuple[int, int]) -> dict[str, Any]:
    start, end = lines
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}
