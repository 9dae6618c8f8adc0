"""initialize / workspace configuration: settings from initializationOptions,
workspace/configuration (section `starcoder`) and didChangeConfiguration.

Precedence, lowest first: defaults, initializationOptions, workspace configuration,
flags given on the command line (what the user typed explicitly wins).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server.protocol import plain
from lsp_server.redact import remember as remember_secret
from lsp_server.settings import Settings, merge, restart_needed

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer

log = logging.getLogger(__name__)
SECTION = "starcoder"


def apply_settings(ls: StarcoderServer, layers: list[Any]) -> None:
    """Rebuild settings from layers (+ CLI overrides), warn about bad values, and tell the
    model host whether it must reload."""
    settings = Settings()
    warnings: list[str] = []
    for layer in [*layers, ls.cli_overrides]:
        settings, bad = merge(settings, layer)
        warnings.extend(bad)
    for message in warnings:
        log.warning(message)
        ls.show(message, types.MessageType.Warning)
    remember_secret(settings.api_key)
    old = ls.settings
    ls.settings = settings
    changed = restart_needed(old, settings)
    ls.models.reconfigure(settings, reload=bool(changed) and ls.models.loaded)
    if ls.completion_models is not None:
        ls.completion_models.reconfigure(settings, reload=bool(changed)
                                         and ls.completion_models.loaded)
    if changed:
        log.info("settings changed that need a model reload: %s", ", ".join(changed))


def _section(raw: Any) -> Any:
    raw = plain(raw)
    if isinstance(raw, dict) and SECTION in raw and isinstance(raw[SECTION], dict):
        return raw[SECTION]
    return raw


def register(server: StarcoderServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: StarcoderServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_event_loop()
        ls.init_options = _section(params.initialization_options) or {}
        ls.workspace_settings = {}
        apply_settings(ls, [ls.init_options])

    @server.feature(types.INITIALIZED)
    async def initialized(ls: StarcoderServer, params: types.InitializedParams) -> None:
        caps = ls.client_capabilities.workspace
        if caps is not None and caps.configuration:
            await refresh_configuration(ls)
        if ls.settings.load_on_start:
            loop = asyncio.get_running_loop()
            loop.run_in_executor(ls.thread_pool, _load_quietly, ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: StarcoderServer, params: types.DidChangeConfigurationParams
    ) -> None:
        raw = _section(params.settings)
        if isinstance(raw, dict) and raw:
            ls.workspace_settings = raw
            apply_settings(ls, [ls.init_options, raw])
            return
        caps = ls.client_capabilities.workspace
        if caps is not None and caps.configuration:
            await refresh_configuration(ls)


async def refresh_configuration(ls: StarcoderServer) -> None:
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            ),
            timeout=5,
        )
    except Exception as err:  # a client that fails this request must not break start-up
        log.info("workspace/configuration failed: %s", err)
        return
    raw = plain(result[0]) if result else None
    if isinstance(raw, dict):
        ls.workspace_settings = raw
        apply_settings(ls, [ls.init_options, raw])


def _load_quietly(ls: StarcoderServer) -> None:
    try:
        ls.models.get()
    except Exception as err:  # reported through the status notification already
        log.info("eager model load failed: %s", err)
