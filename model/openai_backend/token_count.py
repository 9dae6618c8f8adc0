"""Token counts for prompt budgets, from the server when it can tell.

vLLM and llama.cpp's server have /tokenize, llama-cpp-python's server has
/extras/tokenize/count; otherwise a token per 3 characters is assumed (code averages 3-4
for StarCoder). Counts are cached, as the same context is budgeted again and again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from model.openai_backend.http_client import ServerClient

log = logging.getLogger(__name__)

CACHED_COUNTS = 256


def estimate(text: str) -> int:
    return len(text) // 3 + 1


class TokenCounter:
    """Finds the server's tokenize endpoint at the first count and keeps using it."""

    def __init__(self, client: ServerClient) -> None:
        self._client = client
        self._method: str | None = None  # a server flavour, "estimate", or not tried yet
        self._counts: OrderedDict[str, int] = OrderedDict()

    def count(self, text: str, *, model: str, server_kind: str) -> int:
        cached = self._counts.get(text)
        if cached is not None:
            self._counts.move_to_end(text)
            return cached
        count: int | None = None
        if self._method is None:
            order = [m for m in (server_kind, "vllm", "llama.cpp", "extras") if m]
            for method in dict.fromkeys(order):
                count = self._remote(method, text, model)
                if count is not None:
                    self._method = method
                    break
            else:
                self._method = "estimate"
                log.info("%s has no tokenize endpoint; estimating token counts",
                         self._client.base_url)
        elif self._method != "estimate":
            count = self._remote(self._method, text, model)
        if count is None:
            count = estimate(text)
        self._counts[text] = count
        if len(self._counts) > CACHED_COUNTS:
            self._counts.popitem(last=False)
        return count

    def known_or_estimated(self, text: str) -> int:
        """A count without asking the server (which may still be busy with an answer we
        stopped reading): the cached count, else the estimate."""
        return self._counts.get(text) or estimate(text)

    def _remote(self, method: str, text: str, model: str) -> int | None:
        """Token count from one server flavour's tokenize endpoint, None if unsupported."""
        if method == "vllm":
            path, body = "/tokenize", {"model": model, "prompt": text}
        elif method == "llama.cpp":
            path, body = "/tokenize", {"content": text}
        else:  # llama-cpp-python's server
            path, body = "/extras/tokenize/count", {"model": model, "input": text}
        data = self._client.post_json_or_none(path, body)
        if isinstance(data, dict):
            if isinstance(data.get("count"), int):
                return int(data["count"])
            if isinstance(data.get("tokens"), list) and (data["tokens"] or not text):
                return len(data["tokens"])
        return None
