"""Several samples of one prompt in one request, for servers that honour OpenAI's `n`
(vLLM, TGI): the server evaluates the prompt once and decodes the samples as a batch.
Servers that ignore `n` (llama-cpp-python's) answer with one choice; the caller then
asks for the rest one at a time."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from model.base import StopStringFilter
from model.errors import GenerationError
from model.openai_backend.http_client import ServerClient, excerpt


def choice_texts(data: Any, chat: bool, stops: tuple[str, ...]) -> list[str]:
    """The texts of a non-streamed answer's choices, in `index` order, cut at stops."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise GenerationError(f"the inference server sent an unexpected answer: "
                              f"{excerpt(str(data))}")
    texts: list[tuple[int, str]] = []
    for position, choice in enumerate(data["choices"]):
        if not isinstance(choice, dict):
            continue
        text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
        if not isinstance(text, str):
            continue
        index = choice.get("index")
        cut = StopStringFilter(stops)
        texts.append((index if isinstance(index, int) else position,
                      cut.feed(text) + cut.flush()))
    return [text for _, text in sorted(texts, key=lambda pair: pair[0])]


def complete_many(client: ServerClient, path: str, payload: dict[str, Any], n: int,
                  cancel: threading.Event, read_timeout_s: float) -> Any:
    """POST one request for `n` choices (not streamed); returns the JSON answer, or None
    when cancelled (the request is left to finish on its own thread). `read_timeout_s`
    limits the whole answer (setting requestTimeout)."""
    body = {**payload, "n": n, "stream": False}
    body.pop("stream_options", None)
    outcome: dict[str, Any] = {}

    def post() -> None:
        try:
            response = client.post(path, body, read_timeout_s)
            if response.status_code >= 400:
                outcome["error"] = client.status_error(response, response.text)
            else:
                outcome["data"] = response.json()
        except httpx.HTTPError as err:
            outcome["error"] = client.transport_error(err, read_timeout_s)
        except ValueError as err:
            outcome["error"] = GenerationError(f"the inference server's answer is not JSON: "
                                               f"{err}")

    worker = threading.Thread(target=post, name="openai-many", daemon=True)
    worker.start()
    while worker.is_alive():
        if cancel.is_set():
            return None
        worker.join(0.05)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("data")
