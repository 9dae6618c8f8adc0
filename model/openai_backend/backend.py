"""The OpenAI-compatible backend itself: which endpoint, the payload, the answer's stream
and its statistics."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from model.base import (
    Backend,
    GenerationRequest,
    GenerationStats,
    LoadProgress,
    ModelInfo,
    ProgressCallback,
)
from model.errors import BackendUnavailableError, GenerationError, ModelError
from model.openai_backend.http_client import ServerClient
from model.openai_backend.served_model import describe_served_model
from model.openai_backend.sse_stream import END, RetryWithoutUsage, parse_chunk, read_stream
from model.openai_backend.token_count import TokenCounter, estimate
from model.queue_reader import QueueReader

CONNECT_TIMEOUT_S = 5.0
MAX_STOPS = 4  # OpenAI's limit; longer lists are still applied locally


class OpenAIBackend(Backend):
    """Streams from an OpenAI-compatible HTTP server."""

    name = "openai"

    def __init__(
        self,
        endpoint: str,
        *,
        model: str = "",
        api_key: str = "",
        timeout_s: float = 120.0,
        prompt_family: str | None = None,
        context_length: int = 0,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        super().__init__()
        base = endpoint.strip().rstrip("/")
        self.base_url = base.removesuffix("/v1")
        self.model = model
        self.timeout_s = timeout_s
        self.prompt_family = prompt_family
        self.context_length = context_length
        self.connect_timeout_s = connect_timeout_s
        self._client = ServerClient(self.base_url, api_key=api_key, timeout_s=timeout_s,
                                    connect_timeout_s=connect_timeout_s)
        self._tokens = TokenCounter(self._client)
        self._server_kind = ""
        self._include_usage = True

    def __repr__(self) -> str:
        key = "'***'" if self._client.has_key else "''"
        return f"OpenAIBackend({self.base_url!r}, model={self.model!r}, api_key={key})"

    # ---- loading ---------------------------------------------------------------------

    def _load(self, report: ProgressCallback) -> ModelInfo:
        report(LoadProgress("loading", f"connecting to {self.base_url}", 0.0))
        try:
            served = describe_served_model(
                self._client.get_json("/v1/models"), base_url=self.base_url,
                model=self.model, prompt_family=self.prompt_family,
                context_length=self.context_length,
            )
        except GenerationError as err:  # an HTTP error at load time
            raise BackendUnavailableError(str(err)) from None
        self.model = served.info.name
        self._server_kind = served.server_kind
        return served.info

    def set_api_key(self, api_key: str) -> None:
        self._client.set_api_key(api_key)

    def _ready_message(self, info: ModelInfo) -> str:
        return f"{info.name} is served by {self.base_url}"

    def close(self) -> None:
        with self._load_lock:
            self._client.close()
            self._info = None

    # ---- tokens ----------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Exact from the server's tokenize endpoint when it has one, else estimated."""
        if self._info is None:
            self.load()
        return self._tokens.count(text, model=self.model, server_kind=self._server_kind)

    # ---- generation ------------------------------------------------------------------

    def _payload(self, request: GenerationRequest, chat: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": max(0.0, request.temperature),
            "stream": True,
        }
        if self._include_usage:
            payload["stream_options"] = {"include_usage": True}
        if chat:
            payload["messages"] = list(request.messages) or [
                {"role": "user", "content": request.prompt}
            ]
        else:
            payload["prompt"] = request.prompt
            if request.stop:
                payload["stop"] = list(request.stop[:MAX_STOPS])
        return payload

    @property
    def is_loaded(self) -> bool:
        return self._info is not None

    def _stop_strings(self, request: GenerationRequest) -> tuple[str, ...]:
        """In chat mode the request's stop strings are not used: they belong to our
        completion prompt format (a closing-fence stop would cut a chat answer at its
        opening fence); the server ends the turn itself."""
        return () if self.info.uses_chat_api else request.stop

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        """Stream the answer from a reader thread."""
        chat = self.info.uses_chat_api
        if not chat and not request.prompt:
            raise GenerationError("The prompt is empty.")
        if cancel.is_set():
            stats.finish("cancelled")
            return
        path = "/v1/chat/completions" if chat else "/v1/completions"
        events: queue.Queue[Any] = queue.Queue()
        done = threading.Event()
        reader = threading.Thread(
            target=read_stream,
            args=(self._client, path, self._payload(request, chat), events, cancel, done,
                  request.timeout_s or self.timeout_s),
            name="openai-stream",
            daemon=True,
        )
        reader.start()
        reason = "length"
        usage: dict[str, Any] = {}
        pieces = 0
        events_read = QueueReader(events, cancel, END)
        finished = False
        try:
            for event in events_read:
                if isinstance(event, RetryWithoutUsage):
                    reader.join()
                    self._include_usage = False
                    yield from self._generate(request, cancel, stats)
                    return
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                text, finish, server_stop = parse_chunk(event, chat)
                if text:
                    stats.mark_first_token()
                    pieces += 1
                    yield text
                if finish:
                    finished = True
                    reason = {"length": "length"}.get(finish, "stop" if server_stop else "eos")
                if cancel.is_set():
                    reason = "cancelled"
                    break
            if events_read.cancelled or (cancel.is_set() and not finished):
                # (the reader thread may see the cancel first and end the stream)
                reason = "cancelled"
        except GeneratorExit:  # generate() cut the answer at a stop string
            done.set()
            self._fill_stats(stats, request, usage, pieces, chat, ask_server=True)
            raise
        finally:
            done.set()  # the reader closes the response at its next event
        self._fill_stats(stats, request, usage, pieces, chat,
                         ask_server=reason != "cancelled")
        stats.finish(reason)

    def _fill_stats(self, stats: GenerationStats, request: GenerationRequest,
                    usage: dict[str, Any], pieces: int, chat: bool, *,
                    ask_server: bool) -> None:
        """Counts from the usage chunk; without one, the prompt is counted by the server,
        except after a cancel or a time limit: the server may still be busy with the
        answer being abandoned, and a cancel must not wait for it."""
        prompt_tokens = usage.get("prompt_tokens")
        if isinstance(prompt_tokens, int):
            stats.prompt_tokens = prompt_tokens
        else:
            text = ("\n".join(m.get("content", "") for m in request.messages)
                    if chat and request.messages else request.prompt)
            try:
                stats.prompt_tokens = (self.count_tokens(text) if ask_server
                                       else self._tokens.known_or_estimated(text))
            except ModelError:
                stats.prompt_tokens = estimate(text)
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        stats.prompt_tokens_evaluated = stats.prompt_tokens - (
            cached if isinstance(cached, int) else 0
        )
        completion = usage.get("completion_tokens")
        stats.completion_tokens = completion if isinstance(completion, int) else pieces
