"""The one interface every inference backend implements.

The language server only ever talks to a `Backend`; which engine serves it (llama.cpp,
transformers, an OpenAI-compatible server) is a start-up choice, so behaviour must not
depend on it. Cancellation is a `threading.Event` checked between tokens, because a
running thread cannot be stopped from outside.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from model.deadline import Deadline
from model.errors import GenerationError, GenerationTimeoutError, ModelError, ModelLoadError

# Default context when the caller asks for the model's own (n_ctx=0): StarCoder2 is
# trained on 16k tokens, but a 16k KV cache costs too much memory for an editor helper.
# The same cap for every backend, so prompts are budgeted identically whichever serves.
MAX_DEFAULT_CONTEXT = 8192


@dataclass
class GenerationRequest:
    """A fully formatted prompt plus decoding limits (greedy unless temperature > 0)."""

    prompt: str
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    # Text the answer is likely to copy (the code being edited): used for prompt-lookup
    # drafting by backends that support speculative decoding. None: no drafting.
    draft_source: str | None = None
    # Draft only where the backend checked that drafting gives plain decoding's exact
    # output; False also drafts where the engine rounds wide passes differently (faster,
    # but a near tie between two tokens may then be decided the other way).
    exact_drafts: bool = True
    # Set when the prompt is in fill-in-the-middle form (completion model).
    fim: bool = False
    # The same request as chat messages, for backends that can only take chat
    # (ModelInfo.uses_chat_api): an OpenAI-compatible server with an unknown model.
    messages: tuple[dict[str, str], ...] = ()
    # Wall-clock limit on the whole generation in seconds (None: none): past it the model
    # is stopped as by a cancel and GenerationTimeoutError is raised.
    timeout_s: float | None = None


@dataclass
class GenerationStats:
    """Filled in by the backend while it streams; read by the caller afterwards."""

    backend: str = ""
    prompt_tokens: int = 0
    # Tokens the backend actually had to evaluate (prompt_tokens minus reused prefix).
    prompt_tokens_evaluated: int = 0
    completion_tokens: int = 0
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0
    stop_reason: str = ""  # "stop" | "eos" | "length" | "cancelled" | "error"
    drafted_tokens: int = 0
    accepted_draft_tokens: int = 0
    started_at: float = field(default_factory=time.perf_counter)

    @property
    def tokens_per_second(self) -> float:
        gen_time = self.total_s - self.time_to_first_token_s
        if self.completion_tokens <= 1 or gen_time <= 0:
            return 0.0
        return (self.completion_tokens - 1) / gen_time

    def mark_first_token(self) -> None:
        if not self.time_to_first_token_s:
            self.time_to_first_token_s = time.perf_counter() - self.started_at

    def finish(self, reason: str) -> None:
        self.stop_reason = reason
        self.total_s = time.perf_counter() - self.started_at

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("started_at")
        data["tokens_per_second"] = round(self.tokens_per_second, 2)
        return data


@dataclass
class LoadProgress:
    """Reported while a model is downloaded or loaded (shown in the editor's status)."""

    stage: str  # "downloading" | "loading" | "ready" | "error"
    message: str = ""
    fraction: float | None = None  # 0..1 when known


ProgressCallback = Callable[[LoadProgress], None]


@dataclass(frozen=True)
class ModelInfo:
    """What the server needs to know about a loaded model to prompt it correctly."""

    name: str
    context_length: int
    # Prompt family (see lsp_server/prompts/templates.py); None means "use chat_template".
    prompt_family: str | None = None
    chat_template: str | None = None
    bos_token: str = ""
    eos_token: str = "<|endoftext|>"
    supports_fim: bool = False
    # True when the backend applies the chat template itself (OpenAI chat endpoint):
    # the prompt text is then ignored in favour of GenerationRequest.messages, and the
    # answer does not continue our response prefix.
    uses_chat_api: bool = False


def context_size(requested: int, trained: int) -> int:
    """The context to run with: what was asked for, else the model's own up to the cap."""
    return requested if requested > 0 else min(trained, MAX_DEFAULT_CONTEXT)


def token_budget(prompt_tokens: int, n_ctx: int, max_tokens: int) -> int:
    """How many tokens the answer may have; a clear error for a prompt that cannot run."""
    if not prompt_tokens:
        raise GenerationError("The prompt is empty.")
    if prompt_tokens >= n_ctx:
        raise GenerationError(
            f"The prompt has {prompt_tokens} tokens but the model's context is {n_ctx}; "
            "select less code."
        )
    return min(max_tokens, n_ctx - prompt_tokens)


def _no_progress(_progress: LoadProgress) -> None:
    pass


def _timed_out(seconds: float, stats: GenerationStats) -> GenerationTimeoutError:
    return GenerationTimeoutError(
        f"the model was stopped after {seconds:g} s (setting starcoder.requestTimeout) "
        f"with {stats.completion_tokens} tokens written and the answer unfinished; nothing "
        "was changed. Raise the setting, lower starcoder.maxTokens or select less code."
    )


def _close(stream: Iterator[str]) -> None:
    """Close an engine's generator, so its cleanup (stopping the model) runs now."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


class Backend(ABC):
    """An inference engine. Subclasses must be safe to call from a worker thread."""

    name: str = "backend"
    # Prompt-lookup speculative decoding for requests with a draft_source (edits);
    # False forces plain decoding whatever the request says.
    speculative: bool = False
    # True once the loaded model was checked to verify drafts exactly (a row of a wide
    # pass computed bit for bit as a one-token pass): GenerationRequest.exact_drafts.
    exact_drafts: bool = False
    # Engines whose KV cache and sampler belong to the model serve one stream at a time.
    one_stream_at_a_time: bool = False

    def __init__(self) -> None:
        self._info: ModelInfo | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    def load(self, progress: ProgressCallback | None = None) -> ModelInfo:
        """Load (downloading first if needed). Idempotent. Raises ModelError subclasses,
        each also reported to `progress` as the "error" stage.

        The shared frame (one load at a time, the ready/error reports) lives here;
        engines implement `_load`.
        """
        report = progress or _no_progress
        with self._load_lock:
            if self._info is not None:
                report(LoadProgress("ready", self._ready_message(self._info)))
                return self._info
            try:
                self._info = self._load(report)
            except ModelError as err:
                report(LoadProgress("error", str(err)))
                raise
            report(LoadProgress("ready", self._ready_message(self._info), 1.0))
            return self._info

    def _load(self, report: ProgressCallback) -> ModelInfo:
        """The engine's load (called by load(), under its lock)."""
        raise NotImplementedError

    def _ready_message(self, info: ModelInfo) -> str:
        return f"{info.name} is loaded"

    def set_api_key(self, api_key: str) -> None:  # noqa: B027 - optional hook
        """Use this key from the next request on (remote engines; local ones have none)."""

    def _drafts_wanted(self, request: GenerationRequest) -> bool:
        """Whether `request` may be decoded speculatively by this backend.

        Drafting needs greedy decoding (a sampled token cannot be verified by argmax),
        text to copy from (`request.draft_source`, the code being edited; None when the
        request is not an edit), the `speculative` flag, and, for a request that wants
        plain decoding's exact output, a passed load-time check.
        """
        if request.draft_source is None or request.temperature > 0 or not self.speculative:
            return False
        return self.exact_drafts or not request.exact_drafts

    def generate(
        self,
        request: GenerationRequest,
        cancel: threading.Event,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        """Stream text pieces; stop promptly once `cancel` is set.

        Stop strings are not included in the output. `stats`, when given, is filled in.
        The shared frame (stats, the loaded check, one stream at a time, stop strings,
        marking a failed stream) lives here; engines implement `_generate`, and a stop
        string ends the engine's stream by closing it.
        """
        stats = stats if stats is not None else GenerationStats()
        stats.backend = self.name
        if not self.is_loaded:
            raise GenerationError("The model is not loaded yet.")
        with self._generation_guard():
            deadline = Deadline(cancel, request.timeout_s) if request.timeout_s else None
            stream = self._generate(request, deadline or cancel, stats)
            stops = StopStringFilter(self._stop_strings(request))
            try:
                for piece in stream:
                    text = stops.feed(piece)
                    if text:
                        yield text
                    if stops.stopped:
                        _close(stream)  # the engine stops generating (its cleanup runs)
                        stats.finish("stop")
                        return
                if deadline is not None and stats.stop_reason == "cancelled" and not (
                    cancel.is_set()
                ):  # the engine saw its event set, and not by the caller: time is up
                    raise _timed_out(deadline.seconds, stats)
                if stats.stop_reason != "cancelled":
                    tail = stops.flush()
                    if tail:
                        yield tail
            except ModelError:
                stats.finish("error")
                raise
            finally:
                _close(stream)

    def _stop_strings(self, request: GenerationRequest) -> tuple[str, ...]:
        """The stop strings the engine's text is cut at."""
        return request.stop

    @property
    @abstractmethod
    def is_loaded(self) -> bool:
        """Whether load() has succeeded (and close() has not been called since)."""

    def _generation_guard(self) -> AbstractContextManager[object]:
        """Held for a whole stream."""
        return self._generate_lock if self.one_stream_at_a_time else nullcontext()

    @abstractmethod
    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        """The engine's text, ending with stats.finish(reason) ("eos", "length",
        "cancelled"); called by generate(), which cuts it at stop strings."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model (for prompt budgets)."""

    @property
    def info(self) -> ModelInfo:
        """Model facts; only valid after load()."""
        if self._info is None:
            raise ModelLoadError("The model is not loaded yet.")
        return self._info

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model's memory."""


def collect(
    backend: Backend,
    request: GenerationRequest,
    cancel: threading.Event | None = None,
    stats: GenerationStats | None = None,
) -> str:
    """Run a generation to completion and return the text (handy for CLI and tests)."""
    return "".join(backend.generate(request, cancel or threading.Event(), stats))


class StopStringFilter:
    """Holds back text that might be the start of a stop string, and cuts at a stop.

    Backends stream text piece by piece; a stop string can straddle pieces, so we only
    release text that cannot be part of one.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self._pending += piece
        cut = -1
        for stop in self._stops:
            at = self._pending.find(stop)
            if at != -1 and (cut == -1 or at < cut):
                cut = at
        if cut != -1:
            out = self._pending[:cut]
            self._pending = ""
            self.stopped = True
            return out
        hold = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(self._pending)), 0, -1):
                if self._pending.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        out = self._pending[: len(self._pending) - hold]
        self._pending = self._pending[len(self._pending) - hold :]
        return out

    def flush(self) -> str:
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out


__all__ = [
    "MAX_DEFAULT_CONTEXT",
    "Backend",
    "GenerationRequest",
    "GenerationStats",
    "LoadProgress",
    "ModelError",
    "ModelInfo",
    "ProgressCallback",
    "StopStringFilter",
    "collect",
    "context_size",
    "token_budget",
]
