"""textDocument/inlineCompletion (LSP 3.18) and, for clients without it,
textDocument/completion carrying the same completion; starcoder/completionStats.

Handlers only: the request service (debounce, cancel, model, time budget) is in
lsp_server.completion.service, the shaping of its answer in lsp_server.completion.items.
Never an error to the client: failures are logged, the answer is empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types

from lsp_server.completion.items import completion_items, inline_items
from lsp_server.completion.service import InlineCompletions

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer

log = logging.getLogger(__name__)

REQ_COMPLETION_STATS = "starcoder/completionStats"

_List = TypeVar("_List", types.InlineCompletionList, types.CompletionList)


def client_has_inline_completion(ls: StarcoderServer) -> bool:
    try:
        text_document = ls.client_capabilities.text_document
    except Exception:  # before initialize
        return False
    return text_document is not None and text_document.inline_completion is not None


def _advertise(ls: StarcoderServer, caps: types.ServerCapabilities) -> None:
    """pygls does not build inlineCompletionProvider; the completion fallback is offered
    only to clients that lack inline completion (the same text twice would be noise)."""
    enabled = ls.settings.inline_completion
    caps.inline_completion_provider = types.InlineCompletionOptions() if enabled else None
    if not enabled or client_has_inline_completion(ls):
        caps.completion_provider = None


async def _answer_or_empty(answer: Awaitable[_List], empty: _List, failure: str) -> _List:
    """The handler's answer; on a failure, logged as `failure`, the empty list (a client's
    cancel still propagates)."""
    try:
        return await answer
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(failure)
        return empty


def register(server: StarcoderServer) -> None:
    service = InlineCompletions(server)
    server.add_capability_hook(lambda caps: _advertise(server, caps))

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION)
    async def inline_completion(ls: StarcoderServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList:
        async def answer() -> types.InlineCompletionList:
            invoked = (params.context is not None and params.context.trigger_kind
                       == types.InlineCompletionTriggerKind.Invoked)
            found = await service.complete(params.text_document.uri, params.position,
                                           invoked=invoked, source="inline")
            return inline_items(ls, found, params.position)

        return await _answer_or_empty(answer(), types.InlineCompletionList(items=[]),
                                      "inline completion failed")

    @server.feature(types.TEXT_DOCUMENT_COMPLETION)
    async def completion_fallback(ls: StarcoderServer, params: types.CompletionParams
                                  ) -> types.CompletionList:
        """For clients without inline completion (Neovim 0.7, older editors)."""
        async def answer() -> types.CompletionList:
            if client_has_inline_completion(ls):
                return types.CompletionList(is_incomplete=False, items=[])
            found = await service.complete(params.text_document.uri, params.position,
                                           invoked=False, source="completion")
            return completion_items(ls, found, params.position)

        return await _answer_or_empty(answer(),
                                      types.CompletionList(is_incomplete=True, items=[]),
                                      "completion fallback failed")

    @server.feature(REQ_COMPLETION_STATS)
    def completion_stats(ls: StarcoderServer, params: Any = None) -> dict[str, Any]:
        """Recent completion requests with prompt tokens evaluated, latency and server
        overhead; `{"clear": true}` empties the history afterwards."""
        report = service.report()
        clear = getattr(params, "clear", None)
        if clear is None and isinstance(params, dict):
            clear = params.get("clear")
        if clear:
            service.history.clear()
            service.counters.clear()
        return report
