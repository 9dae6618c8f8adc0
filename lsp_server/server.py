"""The LanguageServer subclass: state holders and feature registration, no logic.

Imports only pygls/lsprotocol and our light modules: start-up and `initialize` must not
import tree-sitter grammars, torch or llama.cpp (spawn-to-initialize time is measured).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import (
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
)
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


class Malformed:
    """A message that did not fit its method's params type (or had no usable id)."""

    def __init__(self, data: dict[str, Any], error: JsonRpcException) -> None:
        raw_id = data.get("id")
        self.id = raw_id if _valid_id(raw_id) else None
        self.is_request = "id" in data and "method" in data
        self.method = data.get("method")
        self.error = error


def vars_of(message: Any) -> dict[str, Any]:
    """The fields of a structured message (attrs class), or {} for anything else."""
    names = [a.name for a in getattr(type(message), "__attrs_attrs__", ())]
    return {name: getattr(message, name) for name in names}


def _valid_id(value: Any) -> bool:
    """JSON-RPC ids are strings, numbers or null (a list would crash pygls' bookkeeping)."""
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


class StarcoderProtocol(LanguageServerProtocol):
    """pygls' protocol, answering every request it receives (pygls drops requests whose
    params do not parse, and requests after shutdown, leaving the client waiting)."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "jsonrpc" not in data:
            return data
        if "method" in data and "params" not in data:  # params are optional in JSON-RPC
            data = {**data, "params": None}
        params = data.get("params")
        if not _valid_id(data.get("id")) or (
                data.get("method") == types.CANCEL_REQUEST
                and isinstance(params, dict) and not _valid_id(params.get("id", 0))):
            return Malformed(data, JsonRpcInvalidRequest("`id` must be a string or a number"))
        method = data.get("method")
        if "id" in data and isinstance(method, str) and self._is_notification(method):
            return Malformed(data, JsonRpcInvalidRequest(
                f"{method} is a notification; it cannot be sent as a request"))
        try:
            return super().structure_message(data)
        except JsonRpcException as err:
            return Malformed(data, err)

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any,
                         args: Any = None, kwargs: Any = None) -> None:
        """pygls files the future of every async handler under `msg_id` but only removes
        those of client requests; the ones it makes for handlers yielded by its builtin
        features (executeCommand, initialized, ...) stayed forever, each holding its
        result: a leak on every command."""

        def done(future: Any) -> None:
            if self._request_futures.get(msg_id) is future:
                del self._request_futures[msg_id]
            callback(future)

        super()._execute_handler(msg_id, handler, done, args, kwargs)

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, Any]:
        """pygls' shutdown, but iterating over a copy (cancelling a future runs callbacks
        that remove it from the dict: "dictionary changed size during iteration" left
        the client waiting for its shutdown answer), and stopping running generations."""
        if (handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield handler, args, None
        current = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        server = self._server
        if isinstance(server, StarcoderServer):
            server.cancel_all()
        self._shutdown = True
        return None

    def _is_notification(self, method: str) -> bool:
        """Known LSP notifications (their lsprotocol type has no `id`)."""
        names = {a.name for a in getattr(self.get_message_type(method), "__attrs_attrs__", ())}
        return bool(names) and "id" not in names

    # Our DocumentStore is the only copy of open documents. pygls' workspace would keep a
    # second one (a 10 MB file twice, updated on every keystroke), it raises on a change to
    # a document it does not know *before* our handler runs, and its get_text_document
    # reads unknown URIs from disk. So the document notifications skip it.
    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: Any) -> Generator[Any, Any, Any]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: Any) -> Generator[Any, Any, Any]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: Any) -> Generator[Any, Any, Any]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def handle_message(self, message: Any) -> None:
        if isinstance(message, Malformed):
            log.warning("malformed %s message (%s)", message.method, message.error)
            error = message.error
            if not isinstance(error, JsonRpcInvalidRequest):
                error = JsonRpcInvalidParams(f"invalid params for {message.method}")
            if message.is_request:
                self.send_error(message.id, error)
            self._report_bad(f"ignored a malformed {message.method!r} message ({error.message})")
            return
        jsonrpc = getattr(message, "jsonrpc", None)
        msg_id = getattr(message, "id", None)
        if jsonrpc != self.VERSION:
            fields = message if isinstance(message, dict) else vars_of(message)
            msg_id = fields.get("id")
            if not _valid_id(msg_id):
                msg_id = None
            # Answer requests (and shapeless garbage, with id null), never a notification
            # or something that looks like a response to one of our requests.
            if ("method" in fields) == ("id" in fields):
                self.send_error(msg_id, JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"))
            self._report_bad("ignored a message that is not JSON-RPC 2.0")
            return
        method = getattr(message, "method", None)
        if (self._shutdown and method is not None and method != types.EXIT
                and msg_id is not None):
            self.send_error(msg_id, JsonRpcInvalidRequest("the server is shutting down"))
            return
        super().handle_message(message)

    def send_error(self, msg_id: Any, error: JsonRpcException) -> None:
        """An error response; a plain dict so that an unknown id goes out as `"id": null`
        (lsprotocol's converter would drop the key, which JSON-RPC requires)."""
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.data is not None:
            body["data"] = error.data
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id, "error": body})

    def _report_bad(self, text: str) -> None:
        server = self._server
        if isinstance(server, StarcoderServer):
            server.report_bad_message(text)

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
        self._capability_hooks: list[Callable[[types.ServerCapabilities], None]] = []
        # Cancel events of running jobs by progress token, for starcoder.cancel.
        self.running: dict[str, Any] = {}
        # Set by the TCP/WebSocket transports: one editor per server process.
        self.connected = False
        self._bad_messages = 0
        self._reporting = False

    def cancel_all(self) -> int:
        """Stop every running job (client gone, shutdown, or starcoder.cancel)."""
        events = list(self.running.values())
        for event in events:
            event.set()
        return len(events)

    def report_bad_message(self, text: str) -> None:
        """Write a protocol problem to the editor's log (not a pop-up: the user cannot fix
        a client's bug); the first 20 only, so a broken client cannot flood it."""
        self._bad_messages += 1
        if self._bad_messages > 20 or self._reporting:
            return  # too many, or sending the report itself failed (client gone)
        suffix = " (further ones are not reported)" if self._bad_messages == 20 else ""
        self._reporting = True
        try:
            self.window_log_message(types.LogMessageParams(
                type=types.MessageType.Error, message=f"StarCoder: {text}{suffix}"))
        except Exception:
            log.debug("could not report a protocol problem", exc_info=True)
        finally:
            self._reporting = False

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls pops up "Error in server: Internal Error" for every failed notification;
        log it instead (handlers show their own user-facing messages)."""
        log.error("%s: %s", getattr(source, "__name__", source), error)
        if source is FeatureRequestError:
            return  # the request already got an error response
        self.report_bad_message(f"a notification failed: {type(error).__name__}: {error}")

    @property
    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding or UTF16)
        except RuntimeError:  # before initialize
            return UTF16

    def extend_capabilities(self, caps: types.ServerCapabilities) -> None:
        """Hook for capabilities pygls does not build (inline completion, LSP 3.18)."""
        for fn in self._capability_hooks:
            fn(caps)

    def add_capability_hook(self, fn: Callable[[types.ServerCapabilities], None]) -> None:
        self._capability_hooks.append(fn)

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
