"""Speculative edit decoding (prompt-lookup draft-and-verify) in TransformersBackend, on
CPU with the tiny random StarCoder2 in float32.

torch's CPU kernels do not compute a row of a wide pass bit for bit as a one-token pass,
so the load-time check says drafts are not exact and a default request does not draft.
The loop's mechanics are tested with requests that accept inexact drafts (the setting
speculative="always"): on these prompts the two kinds of pass still pick the same argmax,
so the output must equal plain greedy decoding exactly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from model.base import GenerationRequest, GenerationStats
from model.speculative import VerifyResult
from tests.fixtures.tiny_model import TinyModel

pytest.importorskip("torch")
pytest.importorskip("transformers")

from model.transformers_backend import TransformersBackend, speculative_loop

PROMPT = (
    "<|endoftext|>### Instruction\nRename x to count.\n\n```python\ndef f(x):\n"
    "    return x + 1\n```\n\n### Response\n"
)
SOURCE = "def f(x):\n    return x + 1\n"
PROMPTS = [
    PROMPT,
    "<|endoftext|>### Instruction\nAdd a docstring.\n\n```python\nclass A:\n    def run(self):"
    "\n        return [i * 2 for i in range(10)]\n```\n\n### Response\n",
    "def main(argv):\n    result = function_3(",
]


@pytest.fixture(scope="module")
def spec(tiny_model: TinyModel) -> Iterator[TransformersBackend]:
    model = TransformersBackend(str(tiny_model.hf_dir))
    model.load()
    yield model
    model.close()


@pytest.fixture(scope="module")
def plain(tiny_model: TinyModel) -> Iterator[TransformersBackend]:
    model = TransformersBackend(str(tiny_model.hf_dir), speculative=False)
    model.load()
    yield model
    model.close()


def run(backend: TransformersBackend, prompt: str = PROMPT,
        cancel: threading.Event | None = None, **kwargs: Any
        ) -> tuple[list[str], GenerationStats]:
    stats = GenerationStats()
    kwargs.setdefault("exact_drafts", False)
    request = GenerationRequest(prompt, **kwargs)
    pieces = list(backend.generate(request, cancel or threading.Event(), stats))
    return pieces, stats


def reference(plain: TransformersBackend, prompt: str, max_tokens: int, **kwargs: Any) -> str:
    plain.reset_cache()
    pieces, stats = run(plain, prompt, max_tokens=max_tokens, **kwargs)
    assert stats.drafted_tokens == 0
    return "".join(pieces)


def test_output_is_plain_greedy_output(spec: TransformersBackend,
                                       plain: TransformersBackend) -> None:
    for prompt in PROMPTS:
        expected = reference(plain, prompt, 60)
        # Sources the answer copies (its own text: every draft is right for a while),
        # the edited code, and something unrelated.
        for source in (expected, SOURCE, expected[: len(expected) // 2] + SOURCE, "zzz"):
            spec.reset_cache()
            pieces, stats = run(spec, prompt, max_tokens=60, draft_source=source)
            assert "".join(pieces) == expected, (prompt, source)
            assert stats.completion_tokens == 60 and stats.stop_reason == "length"
            assert stats.accepted_draft_tokens <= stats.drafted_tokens
            assert len(spec._prefix.ids) == spec._prefix.kv.get_seq_length()


def test_default_requests_draft_only_where_the_check_passed(
    spec: TransformersBackend, plain: TransformersBackend
) -> None:
    expected = reference(plain, PROMPT, 40)
    pieces, stats = run(spec, PROMPT, max_tokens=40, draft_source=expected, exact_drafts=True)
    assert "".join(pieces) == expected
    assert (stats.drafted_tokens > 0) == spec.exact_drafts
    checked = spec.exact_drafts, spec.widest_exact_pass
    spec.exact_drafts, spec.widest_exact_pass = True, 8  # as on a device that passed
    try:
        _, stats = run(spec, PROMPT, max_tokens=40, draft_source=expected, exact_drafts=True)
        assert stats.accepted_draft_tokens > 0
    finally:
        spec.exact_drafts, spec.widest_exact_pass = checked


def test_copying_accepts_drafts(spec: TransformersBackend, plain: TransformersBackend) -> None:
    expected = reference(plain, PROMPT, 80)
    _, stats = run(spec, PROMPT, max_tokens=80, draft_source=expected)
    assert stats.accepted_draft_tokens > 20
    assert stats.drafted_tokens >= stats.accepted_draft_tokens
    assert stats.backend == "transformers"


def test_no_drafting_without_source_when_sampling_or_switched_off(
    spec: TransformersBackend, plain: TransformersBackend
) -> None:
    expected = reference(plain, PROMPT, 30)
    pieces, stats = run(spec, PROMPT, max_tokens=30)  # no draft_source
    assert "".join(pieces) == expected and stats.drafted_tokens == 0
    _, stats = run(spec, PROMPT, max_tokens=8, temperature=0.8, draft_source=expected)
    assert stats.drafted_tokens == 0 and stats.completion_tokens == 8
    pieces, stats = run(plain, PROMPT, max_tokens=30, draft_source=expected)
    assert "".join(pieces) == expected
    assert stats.drafted_tokens == stats.accepted_draft_tokens == 0


@pytest.mark.parametrize("max_tokens", [1, 2, 7])
def test_max_tokens_is_exact(spec: TransformersBackend, plain: TransformersBackend,
                             max_tokens: int) -> None:
    source = reference(plain, PROMPT, 40)
    expected = reference(plain, PROMPT, max_tokens)
    spec.reset_cache()
    pieces, stats = run(spec, PROMPT, max_tokens=max_tokens, draft_source=source)
    assert stats.completion_tokens == max_tokens and stats.stop_reason == "length"
    assert "".join(pieces) == expected
    assert len(spec._prefix.ids) == spec._prefix.kv.get_seq_length()
    assert len(spec._prefix.ids) == spec.count_tokens(PROMPT) + max_tokens - 1


def test_stop_string_inside_an_accepted_draft_is_cut(
    spec: TransformersBackend, plain: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = reference(plain, PROMPT, 80)
    passes: list[VerifyResult] = []
    verify = speculative_loop.verify_greedy

    def recording(draft: Any, predicted: Any) -> VerifyResult:
        result = verify(draft, predicted)
        passes.append(result)
        return result

    monkeypatch.setattr(speculative_loop, "verify_greedy", recording)
    spec.reset_cache()
    pieces, _ = run(spec, PROMPT, max_tokens=80, draft_source=full)
    assert "".join(pieces) == full
    # Find a stop string whose first occurrence starts in the middle of an accepted run.
    tokenizer = spec._tokenizer
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    generated = spec._prefix.ids[spec.count_tokens(PROMPT) :]  # all but the last token
    stop, at = "", 0
    done = 1  # tokens before the first pass's tokens (the first token)
    for result in passes:
        if result.accepted >= 4:
            at = done + 2  # the third accepted token of this pass
            before, candidate = decode(generated[:at]), decode(generated[at : at + 2])
            if (candidate.isprintable() and candidate.strip() and full.startswith(before)
                    and full.find(candidate) == len(before)):
                stop = candidate
                break
        done += len(result.tokens)
    assert stop, "no accepted run with a usable stop string"
    monkeypatch.setattr(speculative_loop, "verify_greedy", verify)
    cut, stats = run(spec, PROMPT, max_tokens=80, draft_source=full, stop=(stop,))
    assert "".join(cut) == full[: full.index(stop)]
    assert stats.stop_reason == "stop"
    # Tokens after the stop are not counted as used.
    assert stats.accepted_draft_tokens < stats.completion_tokens <= at + 2
    assert "".join(run(plain, PROMPT, max_tokens=80, stop=(stop,))[0]) == "".join(cut)


def test_cancel_mid_generation_stops(spec: TransformersBackend,
                                     plain: TransformersBackend) -> None:
    source = reference(plain, PROMPT, 200)
    cancel = threading.Event()
    stats = GenerationStats()
    request = GenerationRequest(PROMPT, max_tokens=2000, draft_source=source * 3)
    for received, _piece in enumerate(spec.generate(request, cancel, stats), 1):
        if received == 3:
            cancel.set()
    assert stats.stop_reason == "cancelled"
    assert stats.completion_tokens <= 6
    assert len(spec._prefix.ids) == spec._prefix.kv.get_seq_length() < 400
    # Still serves, and answers as before.
    pieces, after = run(spec, PROMPT, max_tokens=20, draft_source=source)
    assert after.completion_tokens == 20
    assert "".join(pieces) == reference(plain, PROMPT, 20)


def test_prefix_reuse_after_a_speculative_call(spec: TransformersBackend,
                                               plain: TransformersBackend) -> None:
    source = reference(plain, PROMPT, 40)
    spec.reset_cache()
    pieces, stats = run(spec, PROMPT, max_tokens=40, draft_source=source)
    assert stats.prompt_tokens_evaluated == stats.prompt_tokens
    answer = "".join(pieces)
    assert answer == source
    # The cache holds the prompt and all but the last generated token.
    prompt_ids = spec._encode(PROMPT)
    assert spec._prefix.ids[: len(prompt_ids)] == prompt_ids
    assert len(spec._prefix.ids) == spec._prefix.kv.get_seq_length() == len(prompt_ids) + 39
    # The same prompt again (plain, then speculative): only its last token is evaluated.
    pieces, again = run(spec, PROMPT, max_tokens=40)
    assert again.prompt_tokens_evaluated == 1 and "".join(pieces) == source
    pieces, again = run(spec, PROMPT, max_tokens=40, draft_source=source)
    assert again.prompt_tokens_evaluated == 1 and "".join(pieces) == source
    # A longer prompt that starts with this one evaluates only what it adds.
    longer = PROMPT + "def f(count):\n"
    pieces, more = run(spec, longer, max_tokens=30, draft_source=SOURCE)
    assert more.prompt_tokens_evaluated < more.prompt_tokens - len(prompt_ids) + 2
    assert "".join(pieces) == reference(plain, longer, 30)


def test_end_of_sequence_inside_an_accepted_draft_ends_the_answer(
    spec: TransformersBackend, plain: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = reference(plain, PROMPT, 40)
    spec.reset_cache()
    run(spec, PROMPT, max_tokens=40, draft_source=source)
    answer = spec._prefix.ids[spec.count_tokens(PROMPT) :]
    eos = next(t for t in answer[8:] if t not in answer[:8])  # first seen after 8 tokens
    monkeypatch.setattr(spec, "_eos_ids", spec._eos_ids | {eos})
    monkeypatch.setattr(plain, "_eos_ids", plain._eos_ids | {eos})
    pieces, stats = run(spec, PROMPT, max_tokens=40, draft_source=source)
    assert stats.stop_reason == "eos"
    assert stats.completion_tokens == answer.index(eos)
    assert "".join(pieces) == reference(plain, PROMPT, 40)
    # Nothing past the end-of-sequence token stays in the cache.
    assert len(spec._prefix.ids) == spec._prefix.kv.get_seq_length()
    assert spec._prefix.ids[-1] == answer[answer.index(eos) - 1]
