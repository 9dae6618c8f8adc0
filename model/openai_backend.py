"""A backend for any server speaking the OpenAI API: vLLM, TGI, llama.cpp's server,
llama-cpp-python's server. Teams share one GPU box; every editor talks to it.

Which endpoint:

* ``/v1/completions`` with our exact prompt text whenever the prompt family is known
  (the served model name matches a preset, or `prompt_family` is given), so e.g.
  StarCoder2-Instruct gets the template it was trained on, exactly as the embedded
  backends send it;
* ``/v1/chat/completions`` with `GenerationRequest.messages` otherwise: the server then
  applies the model's chat template (ModelInfo.uses_chat_api is True).

The HTTP stream is read by a helper thread so that cancelling returns at once even while
the server is still evaluating a long prompt; that thread closes the response at the next
event, which is how the server learns to stop (it sees the disconnect).

The API key is sent as ``Authorization: Bearer`` and never logged or shown in repr().
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import httpx

from model.base import (
    Backend,
    GenerationRequest,
    GenerationStats,
    LoadProgress,
    ModelInfo,
    ProgressCallback,
    StopStringFilter,
)
from model.errors import (
    BackendUnavailableError,
    GenerationError,
    ModelError,
    ModelLoadError,
)
from model.presets import PRESETS, Preset

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 8192
CONNECT_TIMEOUT_S = 5.0
MAX_STOPS = 4  # OpenAI's limit; longer lists are still applied locally
_EXCERPT = 300
_END = object()


def match_preset(model: str) -> Preset | None:
    """The preset a served model name refers to: its preset name, its hub id, or a GGUF
    file name of it ("…/starcoder2-15b-instruct-v0.1-Q4_K_M.gguf"). Longest name wins,
    so "starcoder2-15b-instruct-v0.1" is not taken for "starcoder2-15b"."""
    name = model.strip().lower().rstrip("/")
    base = name.rsplit("/", 1)[-1].removesuffix(".gguf")
    for preset in sorted(PRESETS.values(), key=lambda p: -len(p.name)):
        repo = preset.hf_repo.lower()
        if name in (preset.name, repo) or base == repo.rsplit("/", 1)[-1]:
            return preset
        if base == preset.name or base.startswith(preset.name + "-"):
            # A quantisation suffix, e.g. -Q4_K_M; not another model ("-instruct").
            rest = base[len(preset.name) + 1 :]
            if not rest or rest.startswith(("q", "f16", "bf16", "f32", "iq")):
                return preset
    return None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def _error_detail(body: str) -> str:
    """The server's own error message when the body is the usual JSON, else an excerpt."""
    try:
        data = json.loads(body)
    except ValueError:
        return _excerpt(body)
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return _excerpt(error if isinstance(error, str) else json.dumps(error))
    return _excerpt(body)


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
        base = endpoint.strip().rstrip("/")
        self.base_url = base.removesuffix("/v1")
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.prompt_family = prompt_family
        self.context_length = context_length
        self.connect_timeout_s = connect_timeout_s
        self._client: httpx.Client | None = None
        self._info: ModelInfo | None = None
        self._load_lock = threading.Lock()
        self._tokenize_method: str | None = None  # found at the first count_tokens
        self._server_kind = ""
        self._token_counts: OrderedDict[str, int] = OrderedDict()
        self._include_usage = True

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "''"
        return f"OpenAIBackend({self.base_url!r}, model={self.model!r}, api_key={key})"

    # ---- HTTP ------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"Accept": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                headers=headers,
            )
        return self._client

    def _transport_error(self, err: httpx.HTTPError) -> ModelError:
        if isinstance(err, httpx.ConnectTimeout):
            return BackendUnavailableError(
                f"cannot reach the inference server at {self.base_url}: no connection within "
                f"{self.connect_timeout_s:g} s. Check starcoder.endpoint and that the server "
                "is running."
            )
        if isinstance(err, httpx.ConnectError):
            return BackendUnavailableError(
                f"cannot reach the inference server at {self.base_url}: {err}. Is it "
                "running? Check starcoder.endpoint."
            )
        if isinstance(err, httpx.TimeoutException):
            return GenerationError(
                f"the inference server at {self.base_url} did not answer within "
                f"{self.timeout_s:g} s (setting starcoder.requestTimeout)."
            )
        return GenerationError(f"the connection to the inference server failed: {err}")

    def _status_error(self, response: httpx.Response, body: str) -> ModelError:
        detail = _error_detail(body) or response.reason_phrase
        hint = ""
        if response.status_code in (401, 403):
            hint = " Check the API key (setting starcoder.apiKey or STARCODER_API_KEY)."
        return GenerationError(
            f"the inference server answered HTTP {response.status_code} for "
            f"{response.request.url.path}: {detail}.{hint}"
        )

    def _get_json(self, path: str) -> Any:
        try:
            response = self._http().get(self.base_url + path)
        except httpx.HTTPError as err:
            raise self._transport_error(err) from err
        if response.status_code >= 400:
            raise self._status_error(response, response.text)
        try:
            return response.json()
        except ValueError as err:
            raise BackendUnavailableError(
                f"{self.base_url}{path} did not return JSON ({_excerpt(response.text)}); "
                "is this an OpenAI-compatible server?"
            ) from err

    # ---- loading ---------------------------------------------------------------------

    def load(self, progress: ProgressCallback | None = None) -> ModelInfo:
        report = progress or (lambda _p: None)
        with self._load_lock:
            if self._info is not None:
                report(LoadProgress("ready", f"{self._info.name} is served"))
                return self._info
            report(LoadProgress("loading", f"connecting to {self.base_url}", 0.0))
            try:
                self._info = self._load()
            except ModelError as err:
                if isinstance(err, GenerationError):  # an HTTP error at load time
                    err = BackendUnavailableError(str(err))
                report(LoadProgress("error", str(err)))
                raise err from None
            report(LoadProgress("ready", f"{self._info.name} is served by {self.base_url}",
                                1.0))
            return self._info

    def _load(self) -> ModelInfo:
        listing = self._get_json("/v1/models")
        entries = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(entries, list):
            raise BackendUnavailableError(
                f"{self.base_url}/v1/models did not list models ({_excerpt(str(listing))}); "
                "is this an OpenAI-compatible server?"
            )
        entries = [e for e in entries if isinstance(e, dict) and e.get("id")]
        if not self.model:
            if not entries:
                raise BackendUnavailableError(f"the server at {self.base_url} serves no model")
            self.model = str(entries[0]["id"])
        entry = next((e for e in entries if e["id"] == self.model), None)
        if entry is None and entries:
            log.warning("the server does not list model %r (it serves %s); sending it anyway",
                        self.model, ", ".join(str(e["id"]) for e in entries))
        entry = entry or {}  # an unlisted name: no facts about it
        owner = str(entry.get("owned_by", "")).lower()
        meta: dict[str, Any] = entry["meta"] if isinstance(entry.get("meta"), dict) else {}
        if owner == "vllm" or "max_model_len" in entry:
            self._server_kind = "vllm"
        elif owner == "llamacpp" or meta:
            self._server_kind = "llama.cpp"
        preset = match_preset(self.model)
        served_ctx = next(
            (int(v) for v in (entry.get("max_model_len"), meta.get("n_ctx_train"),
                              entry.get("context_length"), entry.get("max_context_length"))
             if isinstance(v, int) and v > 0),
            0,
        )
        context = (self.context_length or served_ctx
                   or (preset.context_length if preset else 0) or DEFAULT_CONTEXT)
        family = self.prompt_family or (preset.prompt_family if preset else None)
        return ModelInfo(
            name=self.model,
            context_length=context,
            prompt_family=family,
            chat_template=None,
            bos_token="<|endoftext|>" if family else "",
            eos_token="<|endoftext|>",
            supports_fim=bool(family) and preset is not None,
            uses_chat_api=family is None,
        )

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise ModelLoadError("The model is not loaded yet.")
        return self._info

    def close(self) -> None:
        with self._load_lock:
            if self._client is not None:
                self._client.close()
            self._client = None
            self._info = None

    # ---- tokens ----------------------------------------------------------------------

    def _tokenize_remote(self, method: str, text: str) -> int | None:
        """Token count from one server flavour's tokenize endpoint, None if unsupported."""
        if method == "vllm":
            path, body = "/tokenize", {"model": self.model, "prompt": text}
        elif method == "llama.cpp":
            path, body = "/tokenize", {"content": text}
        else:  # llama-cpp-python's server
            path, body = "/extras/tokenize/count", {"model": self.model, "input": text}
        try:
            response = self._http().post(self.base_url + path, json=body)
            data = response.json() if response.status_code < 400 else None
        except (httpx.HTTPError, ValueError):
            return None
        if isinstance(data, dict):
            if isinstance(data.get("count"), int):
                return int(data["count"])
            if isinstance(data.get("tokens"), list) and (data["tokens"] or not text):
                return len(data["tokens"])
        return None

    def count_tokens(self, text: str) -> int:
        """Exact count from the server's tokenize endpoint when it has one (vLLM and
        llama.cpp: /tokenize; llama-cpp-python: /extras/tokenize/count); otherwise an
        estimate of a token per 3 characters (code averages 3-4 for StarCoder)."""
        if self._info is None:
            self.load()
        cached = self._token_counts.get(text)
        if cached is not None:
            self._token_counts.move_to_end(text)
            return cached
        count: int | None = None
        if self._tokenize_method is None:
            order = [m for m in (self._server_kind, "vllm", "llama.cpp", "extras") if m]
            for method in dict.fromkeys(order):
                count = self._tokenize_remote(method, text)
                if count is not None:
                    self._tokenize_method = method
                    break
            else:
                self._tokenize_method = "estimate"
                log.info("%s has no tokenize endpoint; estimating token counts",
                         self.base_url)
        elif self._tokenize_method != "estimate":
            count = self._tokenize_remote(self._tokenize_method, text)
        if count is None:
            count = len(text) // 3 + 1
        self._token_counts[text] = count
        if len(self._token_counts) > 256:
            self._token_counts.popitem(last=False)
        return count

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

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        """Stream the answer. In chat mode the request's stop strings are not used: they
        belong to our completion prompt format (a closing-fence stop would cut a chat
        answer at its opening fence); the server ends the turn itself."""
        chat = self.info.uses_chat_api
        if not chat and not request.prompt:
            raise GenerationError("The prompt is empty.")
        if cancel.is_set():
            stats.finish("cancelled")
            return
        path = "/v1/chat/completions" if chat else "/v1/completions"
        stops = StopStringFilter(() if chat else request.stop)
        events: queue.Queue[Any] = queue.Queue()
        done = threading.Event()
        reader = threading.Thread(
            target=self._read_stream,
            args=(path, self._payload(request, chat), events, cancel, done),
            name="openai-stream",
            daemon=True,
        )
        reader.start()
        reason = "length"
        usage: dict[str, Any] = {}
        pieces = 0
        try:
            while True:
                try:
                    event = events.get(timeout=0.05)
                except queue.Empty:
                    if cancel.is_set():
                        reason = "cancelled"
                        break
                    continue
                if event is _END:
                    break
                if isinstance(event, _RetryWithoutUsage):
                    reader.join()
                    self._include_usage = False
                    yield from self._generate(request, cancel, stats)
                    return
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                text, finish, server_stop = self._parse_chunk(event, chat)
                if text:
                    stats.mark_first_token()
                    pieces += 1
                    out = stops.feed(text)
                    if out:
                        yield out
                    if stops.stopped:
                        reason = "stop"
                        break
                if finish:
                    reason = {"length": "length"}.get(finish, "stop" if server_stop else "eos")
                if cancel.is_set():
                    reason = "cancelled"
                    break
        finally:
            done.set()  # the reader closes the response at its next event
        if reason not in ("stop", "cancelled"):
            tail = stops.flush()
            if tail:
                yield tail
        self._fill_stats(stats, request, usage, pieces, chat)
        stats.finish(reason)

    @staticmethod
    def _parse_chunk(event: dict[str, Any], chat: bool) -> tuple[str, str, bool]:
        """(text, finish_reason, stopped by a stop string) of one streamed chunk."""
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise GenerationError(
                f"the inference server sent an unexpected event: {_excerpt(json.dumps(event))}"
            )
        if not choices:  # the usage-only chunk
            return "", "", False
        choice = choices[0]
        if not isinstance(choice, dict):
            raise GenerationError(
                f"the inference server sent an unexpected event: {_excerpt(json.dumps(event))}"
            )
        if chat:
            delta = choice.get("delta") or choice.get("message") or {}
            text = delta.get("content") if isinstance(delta, dict) else None
        else:
            text = choice.get("text")
        if text is not None and not isinstance(text, str):
            raise GenerationError(
                f"the inference server sent an unexpected event: {_excerpt(json.dumps(event))}"
            )
        finish = choice.get("finish_reason") or ""
        # vLLM says which stop string ended it; others only say "stop" for both cases.
        server_stop = isinstance(choice.get("stop_reason"), str)
        return text or "", str(finish), server_stop

    def _fill_stats(self, stats: GenerationStats, request: GenerationRequest,
                    usage: dict[str, Any], pieces: int, chat: bool) -> None:
        prompt_tokens = usage.get("prompt_tokens")
        if isinstance(prompt_tokens, int):
            stats.prompt_tokens = prompt_tokens
        else:
            text = ("\n".join(m.get("content", "") for m in request.messages)
                    if chat and request.messages else request.prompt)
            try:
                stats.prompt_tokens = self.count_tokens(text)
            except ModelError:
                stats.prompt_tokens = len(text) // 3 + 1
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        stats.prompt_tokens_evaluated = stats.prompt_tokens - (
            cached if isinstance(cached, int) else 0
        )
        completion = usage.get("completion_tokens")
        stats.completion_tokens = completion if isinstance(completion, int) else pieces

    def _read_stream(self, path: str, payload: dict[str, Any], events: queue.Queue[Any],
                     cancel: threading.Event, done: threading.Event) -> None:
        """Reader thread: parse SSE `data:` lines into events; exiting the `with` closes
        the response, which tells the server to stop generating."""
        try:
            with self._http().stream("POST", self.base_url + path, json=payload) as response:
                if response.status_code >= 400:
                    body = response.read().decode("utf-8", "replace")
                    if self._include_usage and "stream_options" in body \
                            and response.status_code in (400, 422):
                        events.put(_RetryWithoutUsage())
                        return
                    events.put(self._status_error(response, body))
                    return
                kind = response.headers.get("content-type", "")
                if "application/json" in kind:  # the server ignored stream=True
                    events.put(self._json_body(response.read().decode("utf-8", "replace")))
                    return
                seen = False
                for line in response.iter_lines():
                    if done.is_set() or cancel.is_set():
                        return
                    event = self._sse_event(line)
                    if event is None:
                        continue
                    if event is _END:
                        return
                    seen = True
                    events.put(event)
                if not seen:
                    events.put(GenerationError(
                        "the inference server closed the stream without sending an answer"
                    ))
        except ModelError as err:
            events.put(err)
        except httpx.HTTPError as err:
            if not (done.is_set() or cancel.is_set()):
                events.put(self._transport_error(err))
        except Exception as err:  # never let the consumer wait forever
            events.put(GenerationError(f"reading the inference server's answer failed: {err}"))
        finally:
            events.put(_END)

    @staticmethod
    def _sse_event(line: str) -> Any:
        """One SSE line → an event dict, _END for [DONE], None for lines to skip."""
        line = line.strip()
        if not line or line.startswith(":"):  # blank separator or comment/ping
            return None
        field, _, value = line.partition(":")
        if field in ("event", "id", "retry"):
            return None
        if field != "data":
            raise GenerationError(
                f"the inference server did not send a server-sent event stream: "
                f"{_excerpt(line)}"
            )
        value = value.strip()
        if value == "[DONE]":
            return _END
        try:
            event = json.loads(value)
        except ValueError as err:
            raise GenerationError(
                f"the inference server sent an event that is not JSON: {_excerpt(value)}"
            ) from err
        if not isinstance(event, dict):
            raise GenerationError(
                f"the inference server sent an unexpected event: {_excerpt(value)}"
            )
        if "error" in event and "choices" not in event:
            raise GenerationError(f"the inference server reported an error: "
                                  f"{_error_detail(value)}")
        return event

    @staticmethod
    def _json_body(body: str) -> Any:
        try:
            event = json.loads(body)
        except ValueError:
            return GenerationError(f"the inference server sent something that is not JSON: "
                                   f"{_excerpt(body)}")
        if not isinstance(event, dict):
            return GenerationError(f"the inference server sent an unexpected answer: "
                                   f"{_excerpt(body)}")
        return event


class _RetryWithoutUsage:
    """Reader → consumer: the server rejected stream_options; ask again without it."""
