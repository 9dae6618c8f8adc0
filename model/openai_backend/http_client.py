"""One OpenAI-compatible server over HTTP, and its failures as errors a user can act on.

The API key is sent as ``Authorization: Bearer`` and never logged or shown in repr().
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from model.errors import BackendUnavailableError, GenerationError, ModelError

_EXCERPT = 300


def excerpt(text: str) -> str:
    """`text` on one line, cut to a length that fits in an error message."""
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def error_detail(body: str) -> str:
    """The server's own error message when the body is the usual JSON, else an excerpt."""
    try:
        data = json.loads(body)
    except ValueError:
        return excerpt(body)
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return excerpt(error if isinstance(error, str) else json.dumps(error))
    return excerpt(body)


class ServerClient:
    """The HTTP client of one server (created on first use) and its error mapping.

    The key and the read timeout are applied per request, not fixed in the client, so a
    corrected key (setting apiKey) or a new time limit (requestTimeout) is used by the very
    next request.
    """

    def __init__(
        self, base_url: str, *, api_key: str, timeout_s: float, connect_timeout_s: float
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._client: httpx.Client | None = None

    @property
    def has_key(self) -> bool:
        return bool(self._api_key)

    def set_api_key(self, api_key: str) -> None:
        self._api_key = api_key

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
                headers={"Accept": "application/json"},
            )
        return self._client

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def stream(self, path: str, payload: dict[str, Any], read_timeout_s: float) -> Any:
        """A streamed POST (a context manager, as httpx's own)."""
        return self._http().stream(
            "POST", self.base_url + path, json=payload, headers=self._headers(),
            timeout=httpx.Timeout(read_timeout_s, connect=self.connect_timeout_s),
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def transport_error(self, err: httpx.HTTPError, read_timeout_s: float = 0) -> ModelError:
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
                f"{read_timeout_s or self.timeout_s:g} s (setting starcoder.requestTimeout)."
            )
        return GenerationError(f"the connection to the inference server failed: {err}")

    def status_error(self, response: httpx.Response, body: str) -> ModelError:
        detail = error_detail(body) or response.reason_phrase
        hint = ""
        if response.status_code in (401, 403):
            hint = " Check the API key (setting starcoder.apiKey or STARCODER_API_KEY)."
        return GenerationError(
            f"the inference server answered HTTP {response.status_code} for "
            f"{response.request.url.path}: {detail}.{hint}"
        )

    def get_json(self, path: str) -> Any:
        try:
            response = self._http().get(self.base_url + path, headers=self._headers())
        except httpx.HTTPError as err:
            raise self.transport_error(err) from err
        if response.status_code >= 400:
            raise self.status_error(response, response.text)
        try:
            return response.json()
        except ValueError as err:
            raise BackendUnavailableError(
                f"{self.base_url}{path} did not return JSON ({excerpt(response.text)}); "
                "is this an OpenAI-compatible server?"
            ) from err

    def post_json_or_none(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON answer to a POST, or None for any failure (optional endpoints)."""
        try:
            response = self._http().post(self.base_url + path, json=body,
                                         headers=self._headers())
            return response.json() if response.status_code < 400 else None
        except (httpx.HTTPError, ValueError):
            return None
