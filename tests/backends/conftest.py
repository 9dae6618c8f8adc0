"""Fixtures for backend tests: a real llama-cpp-python server for the OpenAI backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.llama_server import LlamaServer, run_llama_server, server_available
from tests.fixtures.tiny_model import TinyModel


@pytest.fixture(scope="session")
def llama_server(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[LlamaServer]:
    """llama-cpp-python's OpenAI-compatible server serving the tiny GGUF (session-wide)."""
    if not server_available():
        pytest.skip("llama-cpp-python's server extra is not installed "
                    "(pip install uvicorn fastapi sse-starlette starlette-context "
                    "pydantic-settings)")
    with run_llama_server(tiny_model.gguf_path, tmp_path_factory.mktemp("llama-server")
                          ) as server:
        yield server
