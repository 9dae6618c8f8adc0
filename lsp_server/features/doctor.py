"""starcoder/doctor: the doctor's report for the server's current settings (the editor's
StarCoder: Doctor shows its Markdown)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsp_server.protocol import REQ_DOCTOR

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer


def register(server: StarcoderServer) -> None:
    @server.feature(REQ_DOCTOR)
    async def doctor(ls: StarcoderServer, params: Any = None) -> dict[str, Any]:
        """Runs off the event loop; the model loads through the server's own host (as a
        first edit would, with its status shown), so a loaded model is not loaded twice."""
        from lsp_server.doctor import run_doctor

        host = ls.models
        loop = asyncio.get_running_loop()
        report = await loop.run_in_executor(
            ls.thread_pool, lambda: run_doctor(ls.settings, load=host.get, loaded=host.loaded))
        return report.as_dict()
