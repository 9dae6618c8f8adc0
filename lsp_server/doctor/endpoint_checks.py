"""Checks of an OpenAI-compatible endpoint: its `/v1/models` and a 1-token generation
with its latency, through the OpenAI backend's own client and loader."""

from __future__ import annotations

import dataclasses
import threading
import time

from lsp_server.doctor.report import FAIL, OK, SKIP, WARN, Check
from model.base import Backend, GenerationRequest, GenerationStats, collect
from model.errors import ModelError
from model.loader import BackendConfig, create_backend

# A doctor waits less than an edit would.
TIMEOUT_S = 30.0
ENDPOINT_FIX = (
    "check starcoder.endpoint (`--endpoint URL`): is the server running, and can this machine "
    "reach it? An API key goes in STARCODER_API_KEY"
)


def endpoint_checks(config: BackendConfig) -> tuple[list[Check], Backend | None]:
    """[/v1/models, 1-token generation] and the loaded backend (None on failure)."""
    if not config.endpoint:
        return [Check("endpoint", OK, "none set: the model runs in this process")], None
    from model.openai_backend.http_client import ServerClient
    from model.openai_backend.served_model import describe_served_model

    config = dataclasses.replace(config, backend="openai",
                                 request_timeout_s=min(TIMEOUT_S, config.request_timeout_s))
    backend = create_backend(config)
    assert hasattr(backend, "base_url")
    base_url: str = backend.base_url
    wanted = config.endpoint_model or config.model
    client = ServerClient(base_url, api_key=config.api_key, timeout_s=TIMEOUT_S,
                          connect_timeout_s=5.0)
    start = time.perf_counter()
    try:
        listing = client.get_json("/v1/models")
        served = describe_served_model(listing, base_url=base_url, model=wanted,
                                       prompt_family=None, context_length=config.n_ctx)
    except ModelError as err:
        return [Check("endpoint /v1/models", FAIL, str(err), ENDPOINT_FIX),
                Check("endpoint generation", SKIP, "not tried: the endpoint did not answer")], None
    finally:
        client.close()
    took_ms = (time.perf_counter() - start) * 1000
    ids = [str(e.get("id")) for e in listing.get("data", []) if isinstance(e, dict)]
    detail = (f"{base_url}/v1/models answered in {took_ms:.0f} ms, serving "
              f"{', '.join(ids) or 'nothing'}")
    if wanted and ids and wanted not in ids:
        models = Check("endpoint /v1/models", WARN, f"{detail}; it does not list {wanted!r}",
                       f"set starcoder.endpointModel to one of: {', '.join(ids)}")
    else:
        models = Check("endpoint /v1/models", OK,
                       f"{detail}; using {served.info.name}")
    generation, loaded = one_token(backend)
    return [models, generation], loaded


def one_token(backend: Backend) -> tuple[Check, Backend | None]:
    """Load the backend and generate one token; the latency is the check's figure."""
    name = "endpoint generation"
    try:
        info = backend.load()
        request = GenerationRequest(
            prompt="def hello():\n", max_tokens=1,
            messages=({"role": "user", "content": "Say hello."},),
        )
        stats = GenerationStats()
        start = time.perf_counter()
        collect(backend, request, threading.Event(), stats)
        took_ms = (time.perf_counter() - start) * 1000
    except ModelError as err:
        return Check(name, FAIL, str(err), ENDPOINT_FIX), None
    path = "/v1/chat/completions" if info.uses_chat_api else "/v1/completions"
    return Check(name, OK, f"1 token from {path} in {took_ms:.0f} ms"), backend
