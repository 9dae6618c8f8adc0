"""One error type per failure kind, each with a message a user can act on."""

from __future__ import annotations


class ModelError(Exception):
    """Base of every backend failure; `str(err)` is shown to the user as is."""


class ModelNotFoundError(ModelError):
    """A model path does not exist or a preset name is unknown."""


class ModelFileError(ModelError):
    """A model file exists but is not a valid model (truncated, corrupt, wrong format)."""


class DownloadError(ModelError):
    """Fetching a model from the hub failed (offline, no such file, disk full)."""


class ModelLoadError(ModelError):
    """The engine refused to load the model (out of memory, unsupported architecture)."""


class OutOfMemoryError(ModelLoadError):
    """Not enough (GPU) memory for the model or for this generation."""


class BackendUnavailableError(ModelError):
    """The backend's engine is not installed, or its server cannot be reached."""


class GenerationError(ModelError):
    """The engine failed while generating (after the model loaded)."""


class GenerationTimeoutError(GenerationError):
    """A generation ran past its time limit (setting requestTimeout) and was stopped."""


class BusyError(ModelError):
    """The generation queue is full; the request was refused rather than queued forever."""
