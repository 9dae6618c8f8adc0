"""Reading a streamed answer: server-sent events from a reader thread, each checked.

The HTTP stream is read by a helper thread so that cancelling returns at once even while
the server is still evaluating a long prompt; that thread closes the response at the next
event, which is how the server learns to stop (it sees the disconnect).
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import httpx

from model.errors import GenerationError, ModelError
from model.openai_backend.http_client import ServerClient, error_detail, excerpt

# Put on the events queue when the stream is over (also after an error).
END = object()


class RetryWithoutUsage:
    """Reader → consumer: the server rejected stream_options; ask again without it."""


def read_stream(client: ServerClient, path: str, payload: dict[str, Any],
                events: queue.Queue[Any], cancel: threading.Event,
                done: threading.Event, read_timeout_s: float) -> None:
    """Reader thread: parse SSE `data:` lines into events; exiting the `with` closes the
    response, which tells the server to stop generating."""
    try:
        with client.stream(path, payload, read_timeout_s) as response:
            if response.status_code >= 400:
                body = response.read().decode("utf-8", "replace")
                if "stream_options" in payload and "stream_options" in body \
                        and response.status_code in (400, 422):
                    events.put(RetryWithoutUsage())
                    return
                events.put(client.status_error(response, body))
                return
            kind = response.headers.get("content-type", "")
            if "application/json" in kind:  # the server ignored stream=True
                events.put(json_body(response.read().decode("utf-8", "replace")))
                return
            seen = False
            for line in response.iter_lines():
                if done.is_set() or cancel.is_set():
                    return
                event = sse_event(line)
                if event is None:
                    continue
                if event is END:
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
            events.put(client.transport_error(err, read_timeout_s))
    except Exception as err:  # never let the consumer wait forever
        events.put(GenerationError(f"reading the inference server's answer failed: {err}"))
    finally:
        events.put(END)


def sse_event(line: str) -> Any:
    """One SSE line → an event dict, END for [DONE], None for lines to skip."""
    line = line.strip()
    if not line or line.startswith(":"):  # blank separator or comment/ping
        return None
    field, _, value = line.partition(":")
    if field in ("event", "id", "retry"):
        return None
    if field != "data":
        raise GenerationError(
            f"the inference server did not send a server-sent event stream: {excerpt(line)}"
        )
    value = value.strip()
    if value == "[DONE]":
        return END
    try:
        event = json.loads(value)
    except ValueError as err:
        raise GenerationError(
            f"the inference server sent an event that is not JSON: {excerpt(value)}"
        ) from err
    if not isinstance(event, dict):
        raise GenerationError(f"the inference server sent an unexpected event: {excerpt(value)}")
    if "error" in event and "choices" not in event:
        raise GenerationError(f"the inference server reported an error: {error_detail(value)}")
    return event


def json_body(body: str) -> Any:
    """A whole (unstreamed) JSON answer as one event, or the error to raise."""
    try:
        event = json.loads(body)
    except ValueError:
        return GenerationError(f"the inference server sent something that is not JSON: "
                               f"{excerpt(body)}")
    if not isinstance(event, dict):
        return GenerationError(f"the inference server sent an unexpected answer: "
                               f"{excerpt(body)}")
    return event


def parse_chunk(event: dict[str, Any], chat: bool) -> tuple[str, str, bool]:
    """(text, finish_reason, stopped by a stop string) of one streamed chunk."""

    def unexpected() -> GenerationError:
        return GenerationError(
            f"the inference server sent an unexpected event: {excerpt(json.dumps(event))}"
        )

    choices = event.get("choices")
    if not isinstance(choices, list):
        raise unexpected()
    if not choices:  # the usage-only chunk
        return "", "", False
    choice = choices[0]
    if not isinstance(choice, dict):
        raise unexpected()
    if chat:
        delta = choice.get("delta") or choice.get("message") or {}
        text = delta.get("content") if isinstance(delta, dict) else None
    else:
        text = choice.get("text")
    if text is not None and not isinstance(text, str):
        raise unexpected()
    finish = choice.get("finish_reason") or ""
    # vLLM says which stop string ended it; others only say "stop" for both cases.
    server_stop = isinstance(choice.get("stop_reason"), str)
    return text or "", str(finish), server_stop
