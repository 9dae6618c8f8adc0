"""starcoder/getStatus and starcoder/loadModel: the model's state on demand."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from lsp_server.protocol import REQ_LOAD, REQ_STATUS
from model.errors import ModelError

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer


def register(server: StarcoderServer) -> None:
    @server.feature(REQ_STATUS)
    def get_status(ls: StarcoderServer, params: Any = None) -> dict[str, Any]:
        return dict(ls.models.state)

    @server.feature(REQ_LOAD)
    async def load_model(ls: StarcoderServer, params: Any = None) -> dict[str, Any]:
        """Load now (e.g. from the editor's status bar) rather than on first use."""
        loop = asyncio.get_running_loop()
        # A failure is in the state returned below (and was notified).
        with contextlib.suppress(ModelError):
            await loop.run_in_executor(ls.thread_pool, ls.models.get)
        return dict(ls.models.state)
