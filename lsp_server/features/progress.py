"""One model job seen from the LSP side: work-done progress whose reports carry the text
so far, cancellation ($/cancelRequest, the progress' Cancel, starcoder.cancel) reaching
the worker thread through a threading.Event, and the status bar's generating/ready.

Shared by the edit commands and chat, so both stream and stop the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from lsprotocol import types

from lsp_server.protocol import plain
from lsp_server.server import StarcoderServer
from model.base import GenerationStats
from model.queue import CancelledWhileWaiting

log = logging.getLogger(__name__)

T = TypeVar("T")


class Cancelled(Exception):
    """The job was cancelled (by the client or the user)."""


async def run_model_job(ls: StarcoderServer, token: types.ProgressToken | None, title: str,
                        work: Callable[[threading.Event, WorkProgress, GenerationStats], T],
                        stats: GenerationStats) -> T:
    """Run `work(cancel, progress, stats)` in a worker thread under progress `title`.

    Raises Cancelled when the request or its progress was cancelled; a cancelled request
    returns only once the worker has really stopped (bounded wait)."""
    cancel = threading.Event()
    progress = await WorkProgress.start(ls, token, title, cancel)
    job_id = str(progress.token)
    ls.running[job_id] = cancel
    link_request_cancellation(ls, cancel)
    running = asyncio.get_running_loop().run_in_executor(
        ls.thread_pool, lambda: work(cancel, progress, stats))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        cancel.set()
        await settle(running)
        raise
    except CancelledWhileWaiting:
        raise Cancelled() from None
    finally:
        ls.running.pop(job_id, None)
        progress.end(stats)


def token_in_params(raw: Any) -> types.ProgressToken | None:
    """The `workDoneToken` a request's params carry, if it is a valid token."""
    data = plain(raw)
    token = data.get("workDoneToken") if isinstance(data, dict) else None
    return token if isinstance(token, (str, int)) and not isinstance(token, bool) else None


def generating(ls: StarcoderServer, title: str) -> None:
    ls.models.set_status("generating", title)


def finished(ls: StarcoderServer, stats: GenerationStats) -> None:
    ls.models.set_status("ready", stats_message(stats),
                         tokensPerSecond=round(stats.tokens_per_second, 1))


async def settle(running: asyncio.Future[Any], timeout: float = 5.0) -> None:
    """After a cancel, wait (bounded) until the worker has really stopped: it checks the
    event between tokens, so "cancelled" then means the model is idle again."""
    try:
        await asyncio.wait_for(asyncio.shield(running), timeout)
    except BaseException:  # its outcome no longer matters; we were cancelled
        log.debug("cancelled job ended", exc_info=True)


def stats_message(stats: GenerationStats) -> str:
    if not stats.completion_tokens:
        return "ready"
    return (f"{stats.completion_tokens} tokens in {stats.total_s:.1f}s "
            f"({stats.tokens_per_second:.1f} tok/s)")


def link_request_cancellation(ls: StarcoderServer, cancel: threading.Event) -> None:
    """$/cancelRequest cancels pygls' future for the request; for commands that future is
    not the task running us, so watch it and set our event."""
    msg_id = ls.protocol.msg_id
    if msg_id is None:
        return
    future = ls.protocol._request_futures.get(msg_id)
    if future is not None:
        future.add_done_callback(lambda f: cancel.set() if f.cancelled() else None)


class WorkProgress:
    """Work-done progress for one job; reports carry the text generated so far."""

    def __init__(self, ls: StarcoderServer, token: types.ProgressToken, enabled: bool,
                 cancel: threading.Event) -> None:
        self.ls, self.token, self.enabled, self.cancel = ls, token, enabled, cancel
        self.loop = asyncio.get_running_loop()
        self._ended = False

    @classmethod
    async def start(cls, ls: StarcoderServer, token: types.ProgressToken | None,
                    title: str, cancel: threading.Event) -> WorkProgress:
        """Begin progress on the client's token, or on one we create when the client
        supports that; without either, reports are skipped."""
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
            message="cancelled" if self.cancel.is_set() else stats_message(stats)))
        self.ls.work_done_progress.tokens.pop(self.token, None)
