"""Owns the backend: loads it on first use (off the event loop), reports its state, and
keeps one generation queue.

The status callback must be thread-safe (the server wraps it with call_soon_threadsafe):
loading and generation run in worker threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from lsp_server.settings import Settings
from model.base import Backend, LoadProgress
from model.errors import ModelError, OutOfMemoryError
from model.loader import BackendConfig, create_backend
from model.queue import GenerationQueue

log = logging.getLogger(__name__)

StatusCallback = Callable[[dict[str, Any]], None]


def backend_config(settings: Settings, *, completion: bool = False) -> BackendConfig:
    model = settings.completion_model if completion and settings.completion_model else (
        settings.model)
    return BackendConfig(
        model=model, backend=settings.backend, endpoint=settings.endpoint,
        api_key=settings.api_key, endpoint_model=settings.endpoint_model, n_ctx=settings.n_ctx,
        n_gpu_layers=settings.n_gpu_layers, n_threads=settings.n_threads,
        models_dir=settings.models_dir, fast_decode=settings.fast_decode,
        request_timeout_s=settings.request_timeout_s, speculative=settings.drafting,
    )


class ModelHost:
    def __init__(self, settings: Settings, on_status: StatusCallback | None = None,
                 *, completion: bool = False) -> None:
        self.settings = settings
        self.completion = completion
        self._on_status = on_status or (lambda _s: None)
        self._backend: Backend | None = None
        self._error: ModelError | None = None
        self._lock = threading.Lock()
        self.queue = GenerationQueue(settings.queue_size)
        self.state: dict[str, Any] = {"state": "idle", "message": "model not loaded yet"}

    # -- status ---------------------------------------------------------------------------
    def set_status(self, state: str, message: str = "", **extra: Any) -> None:
        self.state = {"state": state, "message": message, **extra}
        if self._backend is not None:
            self.state.setdefault("model", self._backend.info.name)
            self.state.setdefault("backend", self._backend.name)
            # Whether edits draft with plain decoding's exact output (setting speculative).
            self.state.setdefault("exactDrafts", self._backend.exact_drafts)
        try:
            self._on_status(dict(self.state))
        except Exception:  # status is best effort; never break a generation for it
            log.debug("status notification failed", exc_info=True)

    def _progress(self, progress: LoadProgress) -> None:
        extra: dict[str, Any] = {}
        if progress.fraction is not None:
            extra["progress"] = round(progress.fraction * 100, 1)
        self.set_status(progress.stage, progress.message, **extra)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def get(self, cancel: threading.Event | None = None) -> Backend:
        """The loaded backend, loading it now if needed (blocking; call off the loop).

        A failed load is retried on the next request, so fixing the setting or the file
        is enough; the server never has to be restarted.
        """
        with self._lock:
            if self._backend is not None:
                return self._backend
            self.set_status("loading", f"loading {self._model_name()}")
            try:
                backend = create_backend(backend_config(self.settings,
                                                        completion=self.completion),
                                         progress=self._progress, cancel=cancel)
                backend.load(self._progress)
            except ModelError as err:
                self._error = err
                self.set_status("error", str(err))
                raise
            except Exception as err:  # an engine bug: report it as a model error
                log.exception("model load failed")
                wrapped = (
                    OutOfMemoryError(f"out of memory while loading {self._model_name()}; try "
                                     "a smaller model or quantisation, or a smaller context "
                                     "(starcoder.nCtx)")
                    if isinstance(err, MemoryError) else
                    ModelError(f"loading the model failed: {type(err).__name__}: {err}"))
                self._error = wrapped
                self.set_status("error", str(wrapped))
                raise wrapped from err
            self._backend = backend
            self._error = None
            self.set_status("ready", f"{backend.info.name} ready")
            return backend

    def _model_name(self) -> str:
        s = self.settings
        return (s.completion_model if self.completion and s.completion_model else s.model)

    def reconfigure(self, settings: Settings, *, reload: bool) -> None:
        """Apply new settings; drop the loaded model when a restart-only setting changed.

        Live settings reach the next request: most are read per request; the API key is
        handed to the loaded backend here."""
        self.settings = settings
        self.queue.max_waiting = settings.queue_size
        if self._backend is not None and not reload:
            self._backend.set_api_key(settings.api_key)
        if reload:
            with self._lock:
                if self._backend is not None:
                    self._backend.close()
                self._backend = None
                self.set_status("idle", "settings changed; the model reloads on next use")

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
