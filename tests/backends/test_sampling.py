"""Sampling for validation's candidates (model/sampling.py): seeded samples that reuse the
prompt's KV cache (llama.cpp on the tiny GGUF), and `n` on OpenAI-compatible servers that
honour it (the canned server), one request per sample on those that do not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.base import GenerationRequest, GenerationStats
from model.sampling import Sampler
from tests.fixtures.canned_openai_server import run_canned_server
from tests.fixtures.tiny_model import TinyModel

PROMPT = ("<|endoftext|>You are an exceptionally intelligent coding assistant.\n\n"
          "### Instruction\nWrite a function.\n\n### Response\n```python\n")


@pytest.fixture(scope="module")
def llama(tiny_model: TinyModel) -> Iterator[object]:
    pytest.importorskip("llama_cpp")
    from model.llamacpp_backend import LlamaCppBackend

    backend = LlamaCppBackend(str(tiny_model.gguf_path))
    backend.load()
    yield backend
    backend.close()


def _samples(backend: object, seed: int, count: int = 3) -> tuple[list[str], list[int]]:
    backend.reset_cache()  # type: ignore[attr-defined]
    sampler = Sampler(backend, GenerationRequest(PROMPT, max_tokens=16, temperature=0.7),  # type: ignore[arg-type]
                      count=count, seed=seed)
    texts, evaluated = [], []
    for _ in range(count):
        stats = GenerationStats()
        texts.append(sampler.next(threading.Event(), stats))
        evaluated.append(stats.prompt_tokens_evaluated)
    assert sampler.next(threading.Event()) == ""  # `count` reached
    return texts, evaluated


def test_seeded_samples_repeat_and_reuse_the_prompt_cache(llama: object) -> None:
    first, evaluated = _samples(llama, seed=11)
    again, _ = _samples(llama, seed=11)
    assert first == again  # same seeds, same samples
    assert len(set(first)) > 1  # different seeds, different samples
    prompt_tokens = llama.count_tokens(PROMPT)  # type: ignore[attr-defined]
    assert evaluated[0] == prompt_tokens
    # Later samples run only the prompt's last token again (llama.cpp prefix reuse).
    assert all(n <= 1 for n in evaluated[1:]), evaluated


def test_sampling_needs_a_temperature(llama: object) -> None:
    with pytest.raises(ValueError, match="temperature"):
        Sampler(llama, GenerationRequest(PROMPT), count=2)  # type: ignore[arg-type]


def _canned(honour_n: bool) -> dict[str, object]:
    return {"honour_n": honour_n, "rules": [
        {"contains": "Write", "sampled": True,
         "answers": ["zero\n```", "one\n```", "two\n```", "three\n```"]}]}


@pytest.mark.parametrize("honour_n", [True, False])
def test_openai_n_in_one_request_where_the_server_honours_it(honour_n: bool,
                                                             tmp_path: Path) -> None:
    from model.openai_backend import OpenAIBackend

    with run_canned_server(_canned(honour_n), tmp_path) as canned:
        backend = OpenAIBackend(canned.url, model=canned.model)
        backend.load()
        request = GenerationRequest(PROMPT, max_tokens=16, temperature=0.7, stop=("\n```",))
        sampler = Sampler(backend, request, count=3, seed=1)
        texts = [sampler.next(threading.Event(), GenerationStats()) for _ in range(3)]
        assert texts == ["one", "two", "three"]  # seeds 1, 2, 3, cut at the stop string
        requests = canned.requests()
        if honour_n:
            assert [(r["n"], r["seed"], r["stream"]) for r in requests] == [(3, 1, False)]
        else:  # it answered one choice to n=3: the rest are asked for one at a time
            assert [(r["n"], r["seed"]) for r in requests] == [(3, 1), (None, 2), (None, 3)]
        assert all(r["temperature"] == 0.7 for r in requests)
        backend.close()
