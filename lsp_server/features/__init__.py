"""One LSP method family per module; each exposes `register(server)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer


def register_all(server: StarcoderServer) -> None:
    from lsp_server.features import (
        chat,
        code_actions,
        commands,
        config,
        doctor,
        documents,
        status,
    )
    from lsp_server.features import inline_completion as inline

    for module in (config, documents, code_actions, commands, status, inline, chat, doctor):
        module.register(server)
