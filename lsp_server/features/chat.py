"""`starcoder/chat` (a conversation about the code, streamed) and `starcoder/chatContext`
(the attached code's sizes in tokens). Handlers only: the pipeline is lsp_server.chat."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from lsp_server import pipeline
from lsp_server.chat.params import parse_chat, parse_context_request
from lsp_server.chat.service import ChatJob, chat_prompt, chat_result, describe_context, plan_chat
from lsp_server.features.progress import (
    Cancelled,
    WorkProgress,
    finished,
    generating,
    run_model_job,
    token_in_params,
)
from lsp_server.protocol import REQ_CHAT, REQ_CHAT_CONTEXT, ParamsError
from lsp_server.server import StarcoderServer
from model.base import GenerationStats
from model.errors import BusyError, ModelError

log = logging.getLogger(__name__)

# JSON-RPC error code of a request the model could not serve (as starcoder/edit uses).
MODEL_ERROR_CODE = -32803


def register(server: StarcoderServer) -> None:
    @server.feature(REQ_CHAT)
    async def chat_request(ls: StarcoderServer, params: Any) -> dict[str, Any]:
        from pygls.exceptions import (
            JsonRpcException,
            JsonRpcInternalError,
            JsonRpcInvalidParams,
            JsonRpcRequestCancelled,
        )

        try:
            args = parse_chat(params)
        except ParamsError as err:
            raise JsonRpcInvalidParams(str(err)) from err
        try:
            return await _chat(ls, plan_chat(args, ls.documents, _roots(ls)),
                               token_in_params(params))
        except Cancelled:
            raise JsonRpcRequestCancelled("cancelled") from None
        except (pipeline.PipelineError, ModelError) as err:
            raise JsonRpcException(message=str(err), code=MODEL_ERROR_CODE) from err
        except Exception as err:  # a bug: say so, keep serving
            log.exception("chat failed")
            raise JsonRpcInternalError(
                f"internal error while chatting: {type(err).__name__}: {err}") from err

    @server.feature(REQ_CHAT_CONTEXT)
    async def chat_context_request(ls: StarcoderServer, params: Any) -> dict[str, Any]:
        from pygls.exceptions import JsonRpcInvalidParams

        try:
            refs = parse_context_request(params)
        except ParamsError as err:
            raise JsonRpcInvalidParams(str(err)) from err
        backend = ls.models.get() if ls.models.loaded else None
        roots = _roots(ls)
        entries = await asyncio.get_running_loop().run_in_executor(
            ls.thread_pool, lambda: describe_context(refs, ls.documents, roots, backend))
        return {"context": entries}


async def _chat(ls: StarcoderServer, job: ChatJob, token: Any) -> dict[str, Any]:
    if len(ls.running) > ls.settings.queue_size:  # refuse before tying up a worker
        raise BusyError(f"the model is busy ({len(ls.running)} requests ahead); "
                        "try again shortly")
    settings = ls.settings

    def work(cancel: threading.Event, progress: WorkProgress,
             stats: GenerationStats) -> dict[str, Any]:
        backend = ls.models.get(cancel)
        prompt, fitted, max_tokens = chat_prompt(job, backend, settings.max_tokens)
        generating(ls, f"StarCoder Chat: {job.title}")
        try:
            answer = pipeline.generate(backend, ls.models.queue, prompt, cancel=cancel,
                                       max_tokens=max_tokens,
                                       temperature=settings.temperature,
                                       on_partial=progress.report_threadsafe, stats=stats,
                                       timeout_s=settings.request_timeout_s)
        finally:
            finished(ls, stats)
        if cancel.is_set():
            raise Cancelled()
        return chat_result(job, prompt, fitted, answer, stats)

    return await run_model_job(ls, token, f"StarCoder Chat: {job.title}", work,
                               GenerationStats())


def _roots(ls: StarcoderServer) -> list[str]:
    """The workspace folders' URIs (for paths shown relative to them)."""
    try:
        workspace = ls.workspace
    except RuntimeError:  # before initialize
        return []
    roots = [folder.uri for folder in workspace.folders.values()]
    if workspace.root_uri:
        roots.append(workspace.root_uri)
    return roots
