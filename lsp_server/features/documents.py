"""didOpen / didChange / didClose: keep our document store (and its trees) in step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from lsp_server.documents import change_range

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer

# Documents larger than this are not kept (10 MB+ generated files, logs): the server
# answers requests on them with a clear message instead of slowing every keystroke.
MAX_DOCUMENT_CHARS = 20_000_000


def register(server: StarcoderServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: StarcoderServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        if len(item.text) > MAX_DOCUMENT_CHARS:
            ls.show(f"{item.uri} is too large ({len(item.text):,} characters) for StarCoder; "
                    "it is ignored", types.MessageType.Warning)
            return
        ls.documents.open(item.uri, item.language_id, item.version, item.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: StarcoderServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return
        version = params.text_document.version
        for change in params.content_changes:
            doc.apply_change(version, change_range(change), change.text, ls.encoding)
        if len(doc.text) > MAX_DOCUMENT_CHARS:
            ls.documents.close(doc.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: StarcoderServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.documents.close(params.text_document.uri)
