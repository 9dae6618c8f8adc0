"""Where the transformers backend's weights come from: a local folder, a hub id or a
preset name (downloaded once into the Hugging Face cache, with progress)."""

from __future__ import annotations

import re
from pathlib import Path

from model.base import LoadProgress, ProgressCallback
from model.errors import BackendUnavailableError, DownloadError, ModelFileError, ModelNotFoundError
from model.presets import PRESETS, Preset, find

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What a model folder needs: config, weights, tokenizer and its chat template.
_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]


def resolve_model(model: str, report: ProgressCallback) -> tuple[Path, str, Preset | None]:
    """(local folder, display name, preset) for `model`; downloads hub models."""
    raw = model.strip()
    path = Path(raw).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelFileError(
                f"{path} is a file; the transformers backend needs a Hugging Face model "
                "folder (config.json, *.safetensors, tokenizer files) or a hub id. "
                "For a .gguf file use --backend llama.cpp."
            )
        return path, path.resolve().name, None
    preset = find(raw)
    repo = preset.hf_repo if preset else raw
    if preset is None:
        looks_local = raw.startswith(("/", ".", "~")) or raw.count("/") > 1
        if looks_local or raw.endswith(".gguf") or not _HUB_ID.match(raw):
            raise ModelNotFoundError(
                f"model folder {path} does not exist; pass --model a Hugging Face model "
                "folder, a hub id such as bigcode/starcoder2-15b-instruct-v0.1, or a "
                f"preset ({', '.join(PRESETS)})"
            )
        preset = next((p for p in PRESETS.values() if p.hf_repo.lower() == raw.lower()), None)
    return download_snapshot(repo, report), repo, preset


def download_snapshot(repo: str, report: ProgressCallback) -> Path:
    """The cached snapshot of `repo`, downloaded first when it is not cached yet."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:  # pragma: no cover - a dependency
        raise BackendUnavailableError("huggingface_hub is not installed") from err
    try:
        return Path(snapshot_download(repo, allow_patterns=_PATTERNS, local_files_only=True))
    except Exception:
        pass  # not cached yet
    from model.download import _progress_tqdm

    report(LoadProgress("downloading", f"downloading {repo}", 0.0))
    try:
        folder = snapshot_download(
            repo, allow_patterns=_PATTERNS, tqdm_class=_progress_tqdm(report, repo, None)
        )
    except Exception as err:
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else repr(err)
        raise DownloadError(
            f"could not download {repo} from the Hugging Face hub: {reason}. If this "
            "machine is offline, download the model folder elsewhere and pass --model "
            "/path/to/folder; gated models need HF_TOKEN set."
        ) from err
    report(LoadProgress("downloading", f"downloaded {repo}", 1.0))
    return Path(folder)
