"""The LanguageServer subclass: state holders and feature registration, no logic.

Imports only pygls/lsprotocol and our light modules: start-up and `initialize` must not
import tree-sitter grammars, torch or llama.cpp (spawn-to-initialize time is measured).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Generator
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from lsp_server import __version__
from lsp_server.documents import DocumentStore
from lsp_server.models import ModelHost
from lsp_server.positions import UTF16
from lsp_server.protocol import NOTIFY_STATUS
from lsp_server.settings import Settings

log = logging.getLogger(__name__)

# The ExecuteCommandParams of the command being run (pygls passes only its arguments to
# the handler; we also need its workDoneToken).
current_command: contextvars.ContextVar[types.ExecuteCommandParams | None] = (
    contextvars.ContextVar("current_command", default=None)
)


class StarcoderProtocol(LanguageServerProtocol):
    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(
        self, params: types.ExecuteCommandParams
    ) -> Generator[Any, Any, Any]:
        current_command.set(params)
        return (yield from super().lsp_workspace__execute_command(params))

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, Any]:
        result = yield from super().lsp_initialize(params)
        server = self._server
        if isinstance(server, StarcoderServer):
            server.extend_capabilities(self.server_capabilities)
        return result


class StarcoderServer(LanguageServer):
    def __init__(self, settings: Settings | None = None,
                 cli_overrides: dict[str, Any] | None = None) -> None:
        super().__init__(
            "starcoder-lsp", __version__, protocol_cls=StarcoderProtocol, max_workers=8,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.settings = settings or Settings()
        # Flags typed on the command line (as raw settings) win over editor settings.
        self.cli_overrides: dict[str, Any] = dict(cli_overrides or {})
        self.init_options: Any = {}
        self.workspace_settings: Any = {}
        self.documents = DocumentStore()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.models = ModelHost(self.settings, self._status_threadsafe)
        self.completion_models: ModelHost | None = None
        # Cancel events of running jobs by progress token, for starcoder.cancel.
        self.running: dict[str, Any] = {}

    @property
    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding or UTF16)
        except RuntimeError:  # before initialize
            return UTF16

    def extend_capabilities(self, caps: types.ServerCapabilities) -> None:
        """Hook for capabilities pygls does not build (inline completion, LSP 3.18)."""
        hook = getattr(self, "_capability_hooks", [])
        for fn in hook:
            fn(caps)

    def add_capability_hook(self, fn: Any) -> None:
        hooks = getattr(self, "_capability_hooks", None)
        if hooks is None:
            hooks = []
            self._capability_hooks = hooks
        hooks.append(fn)

    # -- status -------------------------------------------------------------------------------
    def _status_threadsafe(self, status: dict[str, Any]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._send_status, status)

    def _send_status(self, status: dict[str, Any]) -> None:
        try:
            self.protocol.notify(NOTIFY_STATUS, status)
        except Exception:
            log.debug("could not send status", exc_info=True)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        """Show a message to the user; safe from any thread."""
        params = types.ShowMessageParams(type=kind, message=f"StarCoder: {message}")
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.window_show_message, params)
        else:
            self.window_show_message(params)

    def log_to_client(self, message: str,
                      kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))


def create_server(settings: Settings | None = None,
                  cli_overrides: dict[str, Any] | None = None) -> StarcoderServer:
    from lsp_server.features import register_all

    server = StarcoderServer(settings, cli_overrides)
    register_all(server)
    return server
