"""Resolve `--model` (a path or a preset name) to a local file, downloading presets from
the Hugging Face hub with progress.

huggingface_hub is imported only when a download is actually needed. Offline or failed
downloads raise DownloadError with a message that says how to use a local file instead.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from model.base import LoadProgress, ProgressCallback
from model.errors import DownloadError, ModelNotFoundError
from model.presets import PRESETS, GgufFile, find, split_quant


def models_dir(configured: str = "") -> Path:
    """Where downloaded models live (the hub cache layout is avoided: one flat folder is
    easier for users to inspect and to point `--model` at)."""
    if configured:
        return Path(configured).expanduser()
    if env := os.environ.get("STARCODER_MODELS_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "starcoder-lsp" / "models"


def preset_gguf(name: str) -> GgufFile:
    base, quant = split_quant(name)
    preset = PRESETS.get(base)
    if preset is None:
        raise ModelNotFoundError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    if not preset.gguf:
        raise ModelNotFoundError(
            f"preset {preset.name} has no GGUF file; use --backend transformers or openai"
        )
    if quant is None:
        file = preset.default_gguf
        assert file is not None
        return file
    if quant not in preset.gguf:
        raise ModelNotFoundError(
            f"preset {preset.name} has no {quant} file; choose one of {', '.join(preset.gguf)}"
        )
    return preset.gguf[quant]


def local_gguf_path(name: str, directory: Path) -> Path:
    file = preset_gguf(name)
    return directory / file.filename


def is_path_like(model: str) -> bool:
    return (
        model.endswith(".gguf")
        or os.sep in model
        or model.startswith((".", "~"))
        or Path(model).expanduser().exists()
    )


def resolve_gguf(
    model: str, *, directory: str = "", progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """A local GGUF path for `model`, downloading a preset's file if it is not there yet."""
    if is_path_like(model):
        path = Path(model).expanduser()
        if not path.exists():
            raise ModelNotFoundError(
                f"model file {path} does not exist; pass --model a GGUF file path or one of "
                f"the presets ({', '.join(PRESETS)})"
            )
        return path
    if find(model) is None:
        raise ModelNotFoundError(
            f"{model!r} is neither a file nor a known preset ({', '.join(PRESETS)})"
        )
    target = local_gguf_path(model, models_dir(directory))
    if target.exists():
        return target
    return download_gguf(model, models_dir(directory), progress=progress, cancel=cancel)


def download_gguf(
    name: str, directory: Path, *, progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    file = preset_gguf(name)
    directory.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _p: None)
    report(LoadProgress("downloading", f"downloading {file.filename} ({file.size_gb:.1f} GB)",
                        0.0))
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as err:  # pragma: no cover - it is a dependency
        raise DownloadError("huggingface_hub is not installed") from err

    tqdm_class = _progress_tqdm(report, file.filename, cancel)
    try:
        path = hf_hub_download(
            repo_id=file.repo,
            filename=file.filename,
            local_dir=str(directory),
            tqdm_class=tqdm_class,
        )
    except _Cancelled as err:
        raise DownloadError("download cancelled") from err
    except Exception as err:
        raise DownloadError(
            f"could not download {file.repo}/{file.filename}: {_short(err)}. If this machine "
            f"is offline, download the file elsewhere and start the server with "
            f"--model /path/to/{file.filename} (or set starcoder.model to that path)."
        ) from err
    report(LoadProgress("downloading", f"downloaded {file.filename}", 1.0))
    return Path(path)


class _Cancelled(Exception):
    pass


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:300]


def _progress_tqdm(report: ProgressCallback, label: str, cancel: threading.Event | None) -> Any:
    """A tqdm stand-in that forwards byte progress to `report` (throttled)."""
    from tqdm.auto import tqdm

    class Reporter(tqdm):  # type: ignore[misc,valid-type]
        _last = 0.0

        def update(self, n: float | None = 1) -> bool | None:
            if cancel is not None and cancel.is_set():
                raise _Cancelled()
            result = super().update(n)
            now = time.monotonic()
            if self.total and now - self._last > 0.25:
                self._last = now
                fraction = min(1.0, self.n / self.total)
                report(LoadProgress("downloading", f"downloading {label}", fraction))
            return result

    return Reporter


def downloaded() -> dict[str, list[Path]]:
    """Preset name -> local files already present (for `starcoder-lsp models`)."""
    directory = models_dir()
    found: dict[str, list[Path]] = {}
    for name, preset in PRESETS.items():
        paths = [directory / f.filename for f in preset.gguf.values()]
        found[name] = [p for p in paths if p.exists()]
    return found
