"""Prompt-lookup speculative decoding: the drafter on its own, then the llama.cpp
backend's draft-and-verify loop, whose greedy output must equal plain decoding's.

The tiny model is random, so it does not copy code by itself; a prompt "copies" when
its draft source is the model's own plain answer, which makes every draft checkable.
The loop runs on the tiny model's Q8_0 GGUF, on which llama.cpp computes a row of a
wide pass bit for bit as a one-token pass (its F32 file is the counter-example).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from model.base import GenerationRequest, GenerationStats
from model.pass_costs import PROBE_TEXT, PassCosts
from model.speculative import (
    DraftConfig,
    DraftLength,
    PromptLookup,
    rows_match,
    verify_greedy,
)
from tests.fixtures.tiny_model import TinyModel

# ---- the drafter (no model) ---------------------------------------------------------


def eager(**kwargs: int) -> DraftConfig:
    """A config whose adaptive length is k_max (drafts are free and always accepted)."""
    return DraftConfig(p_init=0.99, cost_ratio=0.0, **kwargs)  # type: ignore[arg-type]


def test_verify_greedy_accepts_the_matching_prefix_plus_one() -> None:
    assert verify_greedy([5, 6, 7], [5, 6, 9, 1]).tokens == [5, 6, 9]
    assert verify_greedy([5, 6, 7], [5, 6, 9, 1]).accepted == 2
    full = verify_greedy([5, 6], [5, 6, 8])
    assert (full.tokens, full.drafted, full.accepted) == ([5, 6, 8], 2, 2)
    assert verify_greedy([], [4]).tokens == [4]
    assert verify_greedy([3], [4, 3]).tokens == [4]
    with pytest.raises(ValueError):
        verify_greedy([1, 2], [1, 2])


def test_lookup_drafts_what_followed_the_suffix_in_the_source() -> None:
    source = [10, 11, 12, 13, 14, 15, 16]
    lookup = PromptLookup(source, [1, 2, 3], eager(k_max=4))
    lookup.observe([10, 11])
    assert lookup.draft(3) == [12, 13, 14]
    lookup.update(verify_greedy([12, 13, 14], [12, 13, 14, 15]))
    assert lookup.draft(8)[:1] == [16]  # continues where copying stands
    assert lookup.draft(0) == []


def test_lookup_prefers_the_occurrence_after_the_cursor() -> None:
    # "7 8" occurs twice in the source; copying has passed the first one.
    source = [7, 8, 1, 2, 3, 7, 8, 4, 5, 6]
    lookup = PromptLookup(source, [], eager(k_max=3, max_ngram=2))
    lookup.observe([7, 8])
    assert lookup.draft(2) == [1, 2]
    lookup.update(verify_greedy([1, 2], [1, 2, 3]))
    lookup.observe([7, 8])
    assert lookup.draft(2) == [4, 5]


def test_lookup_resyncs_after_a_substituted_token() -> None:
    source = [20, 21, 22, 23, 24, 25]
    lookup = PromptLookup(source, [], eager(k_max=8, resync=3))
    lookup.observe([20])
    assert lookup.draft(1) == [21]
    # The model wrote 99 instead of 21 (a rename): the rest of the line still follows.
    lookup.update(verify_greedy([21], [99, 0]))
    assert lookup.draft(8) == [22, 23, 24]


def test_lookup_finds_nothing_without_a_match() -> None:
    lookup = PromptLookup([1, 2, 3], [4, 5], eager())
    lookup.observe([42])
    assert lookup.draft(5) == []


def test_lookup_also_drafts_from_the_prompt_and_the_answer() -> None:
    lookup = PromptLookup([], [30, 31, 32, 33], eager(k_max=2))
    lookup.observe([31])
    assert lookup.draft(2) == [32, 33]
    lookup = PromptLookup([], [], eager(k_max=2))
    lookup.observe([1, 2, 3, 1])
    assert lookup.draft(2) == [2, 3]


def test_draft_length_grows_with_acceptance_and_backs_off() -> None:
    length = DraftLength(DraftConfig(k_max=16, cost_ratio=0.3))
    start = length.k
    for _ in range(5):
        length.update(length.k or 1, length.k or 1)
    assert length.k > start
    for _ in range(12):
        length.update(4, 0)
    assert length.k == 0  # a wide pass that is always rejected is not worth it
    for _ in range(20):
        length.update(0, 0)  # not drafting: the estimate drifts back, drafting resumes
    assert length.k > 0


def test_even_widths_make_every_pass_an_even_number_of_rows() -> None:
    """[last] + k drafts: with even_widths k is odd (or 0), within k_max."""
    for k_max in (1, 4, 5, 6):
        length = DraftLength(DraftConfig(k_max=k_max, cost_ratio=0.3, even_widths=True))
        seen = set()
        for accepted in [1] * 8 + [0] * 14 + [0] * 20:
            k = length.k
            seen.add(k)
            assert k == 0 or (k % 2 == 1 and k <= k_max), (k_max, k)
            length.update(k, min(k, accepted * k))
        assert seen - {0}, k_max
    plain = DraftLength(DraftConfig(k_max=4, cost_ratio=0.0, p_init=0.99))
    assert plain.k == 4


def test_rows_match_is_bitwise() -> None:
    import numpy as np

    rows = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    assert rows_match(rows, rows.copy())
    assert not rows_match(rows, rows + np.float32(1e-7) * rows)  # one ulp is a difference
    assert not rows_match(rows, rows[:1])


# ---- the llama.cpp backend ----------------------------------------------------------

pytest.importorskip("llama_cpp")

from model.llamacpp_backend import LlamaCppBackend  # noqa: E402

PROMPTS = [
    "### Instruction\nAdd type hints.\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "### Response\n```python\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1)",
    "<fim_prefix>def f(<fim_suffix>)\n<fim_middle>",
    "x = 1\n" * 40,
]


@pytest.fixture(scope="module")
def backend(tiny_model: TinyModel) -> Iterator[LlamaCppBackend]:
    """The draft-and-verify loop's mechanics. On the tiny model a wide pass costs about
    as many one-row passes as it has rows, so by its measured costs drafting never pays
    (see test_measured_costs_that_do_not_pay_mean_plain_steps); these tests use the
    fixed cost model instead so that the loop drafts."""
    llm = LlamaCppBackend(str(tiny_model.gguf_q8_path), n_threads=1)
    llm.load()
    assert llm.exact_drafts and llm.pass_costs is not None
    llm.pass_costs = None
    yield llm
    llm.close()


def test_measured_costs_that_do_not_pay_mean_plain_steps(tiny_model: TinyModel) -> None:
    """The load-time probe times every width it allows; when those figures say a wide
    pass costs more one-row passes than it has rows, the backend decodes plainly even
    with a draft source that would be accepted in full. (The tiny model's own figures
    sit near that line, where timing noise decides, so the figures are set here.)"""
    llm = LlamaCppBackend(str(tiny_model.gguf_q8_path), n_threads=1)
    llm.load()
    try:
        costs = llm.pass_costs
        assert costs is not None and llm.widest_exact_pass >= 2
        assert set(range(1, llm.widest_exact_pass + 1)) <= set(costs.measured)
        one_row = costs.seconds(1)
        llm.pass_costs = PassCosts({w: one_row * w * 1.2 if w > 1 else one_row
                                    for w in costs.measured}, max_width=costs.max_width)
        text = "".join(run(llm, PROMPTS[0], max_tokens=60)[0])
        pieces, stats = run(llm, PROMPTS[0], max_tokens=60, draft_source=text)
        assert "".join(pieces) == text
        assert stats.drafted_tokens == 0
        cheap = PassCosts({w: one_row * (1 + 0.05 * (w - 1)) for w in costs.measured},
                          max_width=costs.max_width)
        llm.pass_costs = cheap  # control: the same request drafts when passes are cheap
        pieces, stats = run(llm, PROMPTS[0], max_tokens=60, draft_source=text)
        assert "".join(pieces) == text
        assert stats.drafted_tokens > 0
    finally:
        llm.close()


def run(
    backend: LlamaCppBackend, prompt: str, cancel_after: int = 0, **kwargs: object
) -> tuple[list[str], GenerationStats]:
    stats = GenerationStats()
    cancel = threading.Event()
    pieces: list[str] = []
    request = GenerationRequest(prompt, **kwargs)  # type: ignore[arg-type]
    for piece in backend.generate(request, cancel, stats):
        pieces.append(piece)
        if cancel_after and len(pieces) == cancel_after:
            cancel.set()
    return pieces, stats


@pytest.mark.parametrize("prompt", PROMPTS)
def test_drafting_gives_the_plain_greedy_output(backend: LlamaCppBackend, prompt: str) -> None:
    plain_pieces, plain = run(backend, prompt, max_tokens=60)
    text = "".join(plain_pieces)
    sources = [text, prompt, "unrelated text\n" * 5, ""]
    for source in sources:
        pieces, stats = run(backend, prompt, max_tokens=60, draft_source=source)
        assert "".join(pieces) == text
        assert stats.completion_tokens == plain.completion_tokens
        assert stats.stop_reason == plain.stop_reason
    assert plain.drafted_tokens == 0


def test_copying_prompt_accepts_drafts(backend: LlamaCppBackend) -> None:
    prompt = PROMPTS[0]
    text = "".join(run(backend, prompt, max_tokens=80)[0])
    pieces, stats = run(backend, prompt, max_tokens=80, draft_source=text)
    assert "".join(pieces) == text
    assert stats.accepted_draft_tokens > 20
    assert stats.drafted_tokens >= stats.accepted_draft_tokens
    assert stats.completion_tokens == 80


def test_max_tokens_is_exact_with_drafts(backend: LlamaCppBackend) -> None:
    prompt = PROMPTS[1]
    text = "".join(run(backend, prompt, max_tokens=50)[0])
    for limit in (1, 2, 7, 23):
        pieces, stats = run(backend, prompt, max_tokens=limit, draft_source=text)
        want = "".join(run(backend, prompt, max_tokens=limit)[0])
        assert "".join(pieces) == want
        assert stats.completion_tokens == limit
        assert stats.stop_reason == "length"


def test_cancel_stops_mid_draft(backend: LlamaCppBackend) -> None:
    prompt = PROMPTS[0]
    text = "".join(run(backend, prompt, max_tokens=200)[0])
    pieces, stats = run(backend, prompt, cancel_after=2, max_tokens=200, draft_source=text)
    assert stats.stop_reason == "cancelled"
    assert len(pieces) == 2
    assert stats.completion_tokens <= 4
    assert "".join(pieces) == text[: len("".join(pieces))]


def test_stop_string_inside_an_accepted_draft(backend: LlamaCppBackend) -> None:
    prompt = PROMPTS[0]
    pieces = run(backend, prompt, max_tokens=80)[0]
    text = "".join(pieces)
    # A stop that straddles two pieces well inside the answer, where drafts are accepted.
    i = next(i for i in range(20, len(pieces) - 1) if len(pieces[i]) >= 2 and pieces[i + 1])
    stop = pieces[i][-2:] + pieces[i + 1][:1]
    expected = text[: text.index(stop)]
    got, stats = run(backend, prompt, max_tokens=80, stop=("never", stop), draft_source=text)
    assert "".join(got) == expected
    assert stats.stop_reason == "stop"
    assert stats.accepted_draft_tokens > 0
    assert stats.completion_tokens < 80


def test_sampling_and_the_switch_turn_drafting_off(
    backend: LlamaCppBackend, tiny_model: TinyModel
) -> None:
    _, sampled = run(backend, PROMPTS[0], max_tokens=10, temperature=0.7, draft_source="x")
    assert sampled.drafted_tokens == 0
    plain = LlamaCppBackend(str(tiny_model.gguf_q8_path), speculative=False)
    plain.load()
    text = "".join(run(plain, PROMPTS[0], max_tokens=30)[0])
    _, stats = run(plain, PROMPTS[0], max_tokens=30, draft_source=text)
    assert stats.drafted_tokens == 0
    plain.close()


def test_kv_cache_stays_consistent_between_modes(backend: LlamaCppBackend) -> None:
    """Rolled-back drafts leave the cache as plain decoding would: prefix reuse after a
    speculative request gives the same answers, with only the new suffix evaluated."""
    prompt = PROMPTS[1]
    fresh = "".join(run(backend, prompt, max_tokens=40)[0])
    _, first = run(backend, prompt, max_tokens=40, draft_source=fresh)
    assert first.accepted_draft_tokens > 0
    again, second = run(backend, prompt + "\n", max_tokens=40)
    _, third = run(backend, prompt + "\n", max_tokens=40, draft_source=fresh)
    assert second.prompt_tokens_evaluated < 5
    assert third.prompt_tokens_evaluated <= 2
    run(backend, "something else entirely\n", max_tokens=2)
    assert "".join(run(backend, prompt + "\n", max_tokens=40)[0]) == "".join(again)


def test_drafts_stay_inside_the_context(tiny_model: TinyModel) -> None:
    llm = LlamaCppBackend(str(tiny_model.gguf_q8_path), n_ctx=256)
    llm.load()
    prompt = "x = 1\n" * 38
    text = "".join(run(llm, prompt, max_tokens=500)[0])
    pieces, stats = run(llm, prompt, max_tokens=500, draft_source=text + text)
    assert "".join(pieces) == text
    assert stats.prompt_tokens + stats.completion_tokens <= 256
    llm.close()


def test_verification_passes_stay_within_the_widest_exact_pass(
    backend: LlamaCppBackend,
) -> None:
    """On a CPU a pass is never wider than the load-time probe found exact (ggml's tiled
    kernels, which round differently, take over at some width)."""
    widths: list[int] = []
    decode = backend._decode_rows

    def recording(step: list[int], n_past: int) -> object:
        widths.append(len(step))
        return decode(step, n_past)

    assert backend.widest_exact_pass >= 2
    text = "".join(run(backend, PROMPTS[0], max_tokens=80)[0])
    backend._decode_rows = recording  # type: ignore[method-assign]
    try:
        pieces, stats = run(backend, PROMPTS[0], max_tokens=80, draft_source=text)
    finally:
        del backend._decode_rows
    assert "".join(pieces) == text
    assert 2 <= max(widths) <= backend.widest_exact_pass
    assert stats.accepted_draft_tokens > 20


def test_an_engine_that_rounds_wide_passes_differently_does_not_draft(
    tiny_model: TinyModel,
) -> None:
    """The F32 file: llama.cpp multiplies F32 matrices with sgemm from two rows up and
    with a dot product for one, so the load-time check fails and exact drafting is off;
    a request that accepts inexact drafts (speculative="always") still drafts."""
    llm = LlamaCppBackend(str(tiny_model.gguf_path), n_threads=1)
    llm.load()
    llm.pass_costs = None  # the fixed cost model, so that drafting pays (see `backend`)
    try:
        assert not llm.exact_drafts
        text = "".join(run(llm, PROMPTS[0], max_tokens=40)[0])
        _, exact = run(llm, PROMPTS[0], max_tokens=40, draft_source=text)
        assert exact.drafted_tokens == 0
        _, fast = run(llm, PROMPTS[0], max_tokens=40, draft_source=text, exact_drafts=False)
        assert fast.accepted_draft_tokens > 0
    finally:
        llm.close()


@pytest.fixture(scope="module")
def head32(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A tiny model with 32-wide heads (the Q8_0 V cache needs multiples of 32)."""
    from tests.conftest import tiny_model_cache_dir
    from tests.fixtures.tiny_model import TinyParams, build_tiny_model

    return build_tiny_model(tiny_model_cache_dir(), TinyParams(hidden=128, heads=4, kv_heads=2))


def logits_one_by_one_and_wide(
    llm: LlamaCppBackend, head: int, width: int
) -> tuple[object, object]:
    import numpy as np

    tokens = llm._tokenize(PROBE_TEXT * 40)[: head + width]
    assert len(tokens) == head + width
    inner = llm._llm
    inner.reset()
    inner.eval(tokens[:head])
    single = np.stack([llm._decode_rows([t], inner.n_tokens)[0].copy() for t in tokens[head:]])
    inner.reset()
    inner.eval(tokens[:head])
    wide = llm._decode_rows(tokens[head:], inner.n_tokens).copy()
    inner.reset()
    return single, wide


def test_rows_match_with_several_threads_and_a_long_context(head32: TinyModel) -> None:
    """Past 512 cached tokens, several threads split one query's attention; the backend
    then keeps V in Q8_0 so that the split path (which wants K and V alike) is not taken."""
    llm = LlamaCppBackend(str(head32.gguf_q8_path), n_threads=2, n_ctx=1024)
    llm.load()
    try:
        assert llm.exact_drafts
        single, wide = logits_one_by_one_and_wide(llm, 600, 6)
        assert rows_match(single, wide)
    finally:
        llm.close()


def test_the_split_attention_path_is_what_the_v_cache_type_avoids(
    head32: TinyModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: with K and V both F16, rows differ."""
    real = LlamaCppBackend._context_options

    def same_kv(self: LlamaCppBackend, llama_cpp: object, header: dict[str, object]) -> object:
        options = real(self, llama_cpp, header)
        options.pop("type_v", None)
        return options

    monkeypatch.setattr(LlamaCppBackend, "_context_options", same_kv)
    llm = LlamaCppBackend(str(head32.gguf_q8_path), n_threads=2, n_ctx=1024)
    llm.load()
    try:
        single, wide = logits_one_by_one_and_wide(llm, 600, 6)
        assert not rows_match(single, wide)
        short_single, short_wide = logits_one_by_one_and_wide(llm, 100, 6)
        assert rows_match(short_single, short_wide)  # below 512 the path is not taken
    finally:
        llm.close()
