"""The LSP side of validation (`"validate": true`, or the `validate` setting): running the
validation stage in the job's worker, progress reports that carry the `validation`
fields ("candidate 2/5: 3/4 tests pass"), and the user's decision before failing code is
applied (commands never apply it silently).

The work itself is lsp_server/validation/stage.py; this module only talks to the client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from lsprotocol import types

from lsp_server import pipeline
from lsp_server.features.progress import WorkProgress
from lsp_server.prompts import Prompt
from lsp_server.settings import Settings
from lsp_server.validation.report import Validation
from lsp_server.validation.stage import StageContext, ValidationCancelled, validate
from model.base import Backend, GenerationStats

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer

log = logging.getLogger(__name__)

APPLY_ANYWAY = "Apply anyway"
DISCARD = "Discard"


class Reporter:
    """Sends validation progress on a work-done token: `{kind: "report", message,
    validation: {...}}`; the text a candidate streams goes out as plain reports."""

    def __init__(self, ls: StarcoderServer, progress: WorkProgress) -> None:
        self.ls = ls
        self.progress = progress

    def report(self, message: str, validation: Validation) -> None:
        progress = self.progress
        if not progress.enabled or progress.loop.is_closed():
            return
        value = {"kind": "report", "message": message, "validation": validation.as_dict()}

        def send() -> None:
            if not progress._ended:
                self.ls.protocol.notify(types.PROGRESS, types.ProgressParams(
                    token=progress.token, value=value))

        progress.loop.call_soon_threadsafe(send)


def project_root(ls: StarcoderServer) -> str:
    try:
        return ls.workspace.root_path or ""
    except Exception:  # no workspace (a client without rootUri)
        return ""


def run_validation(ls: StarcoderServer, job: pipeline.Job, prompt: Prompt, backend: Backend, *,
                   settings: Settings, cancel: threading.Event, stats: GenerationStats,
                   max_tokens: int, progress: WorkProgress
                   ) -> tuple[pipeline.Outcome, Validation]:
    """In the worker thread: the validation stage, reporting as it goes. Raises
    ValidationCancelled when cancelled."""
    reporter = Reporter(ls, progress)
    context = StageContext(
        backend=backend, queue=ls.models.queue, settings=settings, cancel=cancel,
        stats=stats, max_tokens=max_tokens, on_partial=progress.report_threadsafe,
        on_progress=reporter.report, project_root=project_root(ls))
    outcome, validation = validate(job, prompt, context)
    log.info("validation of %r: %s", job.instruction, validation.label)
    return outcome, validation


async def confirm_failing(ls: StarcoderServer, validation: Validation) -> bool:
    """Ask before applying code that failed its tests (or was not tested). Clients that
    cannot answer get the code in the result, not in their document."""
    first_line = validation.output.strip().splitlines()[:1]
    detail = f" ({first_line[0]})" if first_line and validation.status == "failed" else ""
    message = f"StarCoder: {validation.label}{detail}. Apply this code anyway?"
    try:
        choice = await asyncio.wait_for(ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Warning, message=message[:1000],
                actions=[types.MessageActionItem(title=APPLY_ANYWAY),
                         types.MessageActionItem(title=DISCARD)])), 600)
    except Exception as err:  # no answer, or a client that cannot ask
        log.info("no decision on failing code: %s", err)
        return False
    return getattr(choice, "title", None) == APPLY_ANYWAY


def edit_label(instruction: str, validation: Validation | None) -> str:
    label = f"StarCoder: {instruction}"
    return f"{label} ({validation.label})" if validation is not None else label


__all__ = ["ValidationCancelled", "confirm_failing", "edit_label", "run_validation"]
