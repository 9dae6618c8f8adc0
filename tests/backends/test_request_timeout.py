"""requestTimeout as a real limit on a generation, for every backend: past it the model is
stopped the way a cancel stops it, the caller gets GenerationTimeoutError with the setting's
name, and the backend serves the next request as usual."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from model.base import Backend, GenerationRequest, GenerationStats
from model.deadline import Deadline
from model.errors import GenerationTimeoutError
from model.llamacpp_backend import LlamaCppBackend
from model.openai_backend import OpenAIBackend
from tests.fixtures.canned_openai import canned_openai
from tests.fixtures.tiny_model import TinyModel

PROMPT = "def fibonacci(n):\n"
LIMIT_S = 0.5


def timed(backend: Backend, **kwargs: Any) -> tuple[float, GenerationStats, BaseException | None]:
    stats = GenerationStats()
    cancel = kwargs.pop("cancel", None) or threading.Event()
    request = GenerationRequest(kwargs.pop("prompt", PROMPT), **kwargs)
    started = time.monotonic()
    error: BaseException | None = None
    try:
        "".join(backend.generate(request, cancel, stats))
    except GenerationTimeoutError as err:
        error = err
    return time.monotonic() - started, stats, error


def check_limit(backend: Backend, max_tokens: int) -> None:
    """`max_tokens` is far more than the backend writes within the limit on any machine:
    stopping short of it, with the error, is the limit at work."""
    took, stats, error = timed(backend, max_tokens=max_tokens, timeout_s=LIMIT_S)
    assert isinstance(error, GenerationTimeoutError), (took, stats)
    assert "requestTimeout" in str(error) and f"{LIMIT_S:g} s" in str(error)
    assert took < LIMIT_S + 1.5, took  # stopped, not run to the end
    assert stats.stop_reason == "error" and 0 < stats.completion_tokens < max_tokens
    # Still serving; a short answer within the limit is not affected.
    took, stats, error = timed(backend, max_tokens=4, timeout_s=60)
    assert error is None and stats.completion_tokens >= 1


def test_llamacpp(tiny_model: TinyModel) -> None:
    backend = LlamaCppBackend(str(tiny_model.gguf_path))
    backend.load()
    try:
        check_limit(backend, max_tokens=3000)
    finally:
        backend.close()


def test_transformers(tiny_model: TinyModel) -> None:
    pytest.importorskip("transformers")
    from model.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model.hf_dir), device="cpu")
    backend.load()
    try:
        check_limit(backend, max_tokens=2000)
    finally:
        backend.close()


def test_openai_streaming_past_the_limit() -> None:
    """An answer still streaming at the limit: the stream is closed (the server sees the
    client go, as with a cancel). A canned server rather than llama-cpp-python's, which
    goes on generating an abandoned answer and would hold up the tests after this one."""
    with canned_openai(pieces=["x = 1\n"] * 5000, delay_s=0.01) as server:
        backend = OpenAIBackend(server.url)
        backend.load()
        try:
            check_limit(backend, max_tokens=5000)
        finally:
            backend.close()


def test_openai_server_silent_past_the_limit() -> None:
    """A server that sends nothing for longer than the limit: stopped at the limit."""
    with canned_openai(pieces=["x"] * 3, delay_s=5) as server:
        backend = OpenAIBackend(server.url)
        backend.load()
        started = time.monotonic()
        with pytest.raises(GenerationTimeoutError, match="requestTimeout"):
            request = GenerationRequest("<|endoftext|>### Instruction\nx\n\n### Response\n",
                                        max_tokens=8, timeout_s=1)
            list(backend.generate(request, threading.Event()))
        assert time.monotonic() - started < 3
        backend.close()


def test_a_cancel_is_still_a_cancel(tiny_model: TinyModel) -> None:
    backend = LlamaCppBackend(str(tiny_model.gguf_path))
    backend.load()
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    try:
        took, stats, error = timed(backend, max_tokens=3000, timeout_s=60, cancel=cancel)
        assert error is None and stats.stop_reason == "cancelled" and took < 5
    finally:
        backend.close()


def test_deadline_reads_as_set_for_cancel_or_time() -> None:
    cancel = threading.Event()
    deadline = Deadline(cancel, 0.2)
    assert not deadline.is_set() and not deadline.wait(0.01)
    cancel.set()
    assert deadline.is_set() and not deadline.expired
    later = Deadline(threading.Event(), 0.1)
    started = time.monotonic()
    assert later.wait() and later.expired and 0.09 < time.monotonic() - started < 1
