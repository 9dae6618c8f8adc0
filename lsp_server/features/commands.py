"""starcoder.edit / .generate / .explain commands and the starcoder/edit and
starcoder/explain requests.

The model runs in a worker thread; this module wires the LSP side around it: work-done
progress with the partial text, cancellation ($/cancelRequest or the progress' Cancel)
reaching the backend through a threading.Event, and a versioned applyEdit that never
overwrites what the user typed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import Future
from typing import Any

from lsprotocol import types

from lsp_server import pipeline
from lsp_server.documents import Document
from lsp_server.features.apply_edit import apply_with_retry, workspace_edit
from lsp_server.protocol import (
    CMD_CANCEL,
    CMD_EDIT,
    CMD_EXPLAIN,
    CMD_GENERATE,
    REQ_EDIT,
    REQ_EXPLAIN,
    EditArgs,
    ParamsError,
    plain,
)

# A real import, not TYPE_CHECKING: pygls evaluates command handlers' type hints.
from lsp_server.server import StarcoderServer
from model.base import GenerationStats
from model.errors import BusyError, ModelError
from model.queue import CancelledWhileWaiting

log = logging.getLogger(__name__)


class Cancelled(Exception):
    pass


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
    data = plain(raw)
    if isinstance(data, dict):
        token = data.get("workDoneToken")
        if isinstance(token, (str, int)) and not isinstance(token, bool):
            return token
    return None


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
    job = pipeline.plan(doc, start, end, instruction=args.instruction, settings=ls.settings,
                        mode=mode)
    cancel = threading.Event()
    loop = asyncio.get_running_loop()
    progress = await _Progress.start(ls, token, job, cancel)
    job_id = str(progress.token)
    ls.running[job_id] = cancel
    _link_request_cancellation(ls, cancel)
    stats = GenerationStats()
    settings = ls.settings

    def work() -> pipeline.Outcome:
        backend = ls.models.get(cancel)
        prompt = pipeline.build_prompt(job, backend)
        max_tokens = pipeline.check_fits(prompt, backend, settings.max_tokens)
        ls.models.set_status("generating", f"StarCoder: {job.instruction}")
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
            ls.models.set_status("ready", _stats_message(stats),
                                 tokensPerSecond=round(stats.tokens_per_second, 1))
        if cancel.is_set():
            raise Cancelled()
        return pipeline.answer_to_outcome(job, prompt, answer, stats,
                                          continues_prefix=not backend.info.uses_chat_api)

    running = loop.run_in_executor(ls.thread_pool, work)
    try:
        outcome = await asyncio.shield(running)
    except asyncio.CancelledError:
        cancel.set()
        await _settle(running)
        raise
    except CancelledWhileWaiting:
        raise Cancelled() from None
    finally:
        ls.running.pop(job_id, None)
        progress.end(stats)

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


async def _settle(running: asyncio.Future[Any], timeout: float = 5.0) -> None:
    """After a cancel, wait (bounded) until the worker has really stopped: it checks the
    event between tokens, so "cancelled" then means the model is idle again."""
    try:
        await asyncio.wait_for(asyncio.shield(running), timeout)
    except BaseException:  # its outcome no longer matters; we were cancelled
        log.debug("cancelled job ended", exc_info=True)


def _stats_message(stats: GenerationStats) -> str:
    if not stats.completion_tokens:
        return "ready"
    return (f"{stats.completion_tokens} tokens in {stats.total_s:.1f}s "
            f"({stats.tokens_per_second:.1f} tok/s)")


def _link_request_cancellation(ls: StarcoderServer, cancel: threading.Event) -> None:
    """$/cancelRequest cancels pygls' future for the request; for commands that future is
    not the task running us, so watch it and set our event."""
    msg_id = ls.protocol.msg_id
    if msg_id is None:
        return
    future = ls.protocol._request_futures.get(msg_id)
    if future is not None:
        future.add_done_callback(lambda f: cancel.set() if f.cancelled() else None)


def _line_range(lines: tuple[int, int]) -> dict[str, Any]:
    start, end = lines
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}


class _Progress:
    """Work-done progress for one job; reports carry the text generated so far."""

    def __init__(self, ls: StarcoderServer, token: types.ProgressToken, enabled: bool,
                 cancel: threading.Event) -> None:
        self.ls, self.token, self.enabled, self.cancel = ls, token, enabled, cancel
        self.loop = asyncio.get_running_loop()
        self._ended = False

    @classmethod
    async def start(cls, ls: StarcoderServer, token: types.ProgressToken | None,
                    job: pipeline.Job, cancel: threading.Event) -> _Progress:
        enabled = token is not None
        if token is None:
            token = f"starcoder-{uuid.uuid4().hex[:12]}"
            window = ls.client_capabilities.window
            if window is not None and window.work_done_progress:
                try:
                    await asyncio.wait_for(ls.work_done_progress.create_async(token), 5)
                    enabled = True
                except Exception as err:
                    log.info("client refused a progress token: %s", err)
        progress = cls(ls, token, enabled, cancel)
        if enabled:
            title = "StarCoder: " + ("explain" if job.mode == "explain" else job.instruction)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title=title[:120], cancellable=True, message="waiting for the model…"))
            future: Future[Any] | None = ls.work_done_progress.tokens.get(token)
            if future is not None:
                future.add_done_callback(lambda f: cancel.set() if f.cancelled() else None)
        return progress

    def report_threadsafe(self, text: str) -> None:
        if self.enabled and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._report, text)

    def _report(self, text: str) -> None:
        if not self._ended:
            self.ls.work_done_progress.report(self.token,
                                              types.WorkDoneProgressReport(message=text))

    def end(self, stats: GenerationStats) -> None:
        self._ended = True
        if not self.enabled:
            return
        self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(
            message="cancelled" if self.cancel.is_set() else _stats_message(stats)))
        self.ls.work_done_progress.tokens.pop(self.token, None)
