"""Which model serves completions, and whether loading it may happen on a keystroke
(typing must never start a download)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lsp_server.settings import Settings


def resolve_completion_model(name: str) -> str:
    """`auto`: the StarCoder2 base preset whose size suits this machine's memory."""
    if name.strip().lower() != "auto":
        return name
    from model.presets import default_completion_preset

    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, OSError, ValueError):
        memory_gb = 16.0
    return default_completion_preset(memory_gb)


def loads_without_download(settings: Settings) -> bool:
    """Whether loading the edit model needs no download: a served model, a local file
    or folder, or a preset whose GGUF is already in the models folder."""
    if settings.endpoint or settings.backend == "openai":
        return True
    from pathlib import Path

    from model.download import local_gguf_path, models_dir

    if settings.model.endswith(".gguf") or Path(settings.model).expanduser().exists():
        return True  # a file or folder (a missing .gguf fails fast, it is not fetched)
    try:
        return local_gguf_path(settings.model, models_dir(settings.models_dir)).exists()
    except Exception:  # not a preset (a hub id): the transformers backend would download
        return False
