"""The transformers backend itself: its state, tokens, and the generation stream.

Choices that matter (the pieces are in the modules beside this one):

* **weights** (weights.py): bf16 on CUDA, float32 on CPU, memory checked first.
* **one worker thread** runs every torch call. torch.compile's CUDA graphs
  (mode="reduce-overhead") are recorded per thread, so generating on a fresh thread per
  request would re-record them each time.
* **fast decoding** on CUDA (fast_decode.py), **prompt-prefix reuse** on the default
  path (prefix_cache.py), **speculative edits** there too (speculative_loop.py).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from model.base import (
    Backend,
    GenerationRequest,
    GenerationStats,
    LoadProgress,
    ModelInfo,
    ProgressCallback,
    context_size,
    token_budget,
)
from model.errors import GenerationError, ModelError, ModelLoadError, OutOfMemoryError
from model.pass_costs import PassCosts
from model.presets import Preset, family_from_chat_template
from model.queue_reader import QueueReader
from model.speculative import DraftConfig, PromptLookup, gpu_draft_config
from model.transformers_backend.exactness import probe
from model.transformers_backend.fast_decode import disable_fast_decode, enable_fast_decode
from model.transformers_backend.memory import free_cuda_memory, is_oom
from model.transformers_backend.prefix_cache import (
    PrefixCache,
    cache_keyword,
    supports_prefix_reuse,
)
from model.transformers_backend.speculative_loop import speculative_ids
from model.transformers_backend.token_stream import (
    END,
    Accepted,
    IncrementalDecoder,
    streamer_and_criteria,
)
from model.transformers_backend.weights import load_weights

log = logging.getLogger(__name__)


class TransformersBackend(Backend):
    """A Hugging Face model (hub id, local folder or preset name) run with transformers."""

    name = "transformers"
    one_stream_at_a_time = True
    # Prompt tokens per forward pass while pre-filling; cancel is checked between them.
    prefill_batch = 512

    def __init__(
        self,
        model: str,
        *,
        fast_decode: bool = True,
        n_ctx: int = 0,
        device: str = "auto",
        speculative: bool = True,
        draft_config: DraftConfig | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.fast_decode = fast_decode
        self.speculative = speculative
        self.draft_config = draft_config or DraftConfig()
        # Whether a verification pass computes its rows bit for bit as one-token passes
        # do (checked at load); drafts are exact only then, and no wider than the widest
        # such pass. What passes cost here (None: not measured).
        self.exact_drafts = False
        self.widest_exact_pass = 1
        self.pass_costs: PassCosts | None = None
        self.n_ctx = n_ctx
        self.device = device  # "auto" | "cuda" | "cpu"
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos_ids: set[int] = set()
        self._bos_id: int | None = None
        self._n_ctx = 0
        self._device = "cpu"
        self.fast_decode_active = False
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        # Prompt-prefix reuse: the KV cache of the last request; worker thread only.
        self._reuse_supported = False
        self._prefix = PrefixCache()

    def __repr__(self) -> str:
        return f"TransformersBackend({self.model!r}, device={self._device!r})"

    # ---- loading ---------------------------------------------------------------------

    def _run(self, fn: Any, *args: Any) -> concurrent.futures.Future[Any]:
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="transformers-worker"
            )
        return self._worker.submit(fn, *args)

    def _load(self, report: ProgressCallback) -> ModelInfo:
        try:
            info: ModelInfo = self._run(self._load_on_worker, report).result()
        except ModelError:
            raise
        except Exception as err:  # an engine bug or an unexpected model layout
            raise ModelLoadError(f"transformers could not load {self.model}: {err}") from err
        return info

    def _load_on_worker(self, report: ProgressCallback) -> ModelInfo:
        loaded = load_weights(self.model, self.device, report)
        model, tokenizer, name, cuda = (
            loaded.model, loaded.tokenizer, loaded.name, loaded.device == "cuda")
        self._model, self._tokenizer, self._device = model, tokenizer, loaded.device
        self._prefix.drop()
        self._reuse_supported = supports_prefix_reuse(model)
        trained = int(getattr(loaded.config, "max_position_embeddings", 0) or 0) or 4096
        self._n_ctx = context_size(self.n_ctx, trained)
        eos = model.generation_config.eos_token_id
        eos_list = eos if isinstance(eos, list) else [eos]
        self._eos_ids = {int(e) for e in [*eos_list, tokenizer.eos_token_id] if e is not None}
        self._bos_id = tokenizer.bos_token_id
        self.fast_decode_active = False
        if cuda and self.fast_decode:
            report(LoadProgress("loading", "compiling the decoder (about a minute)", 0.9))
            self._try_fast_decode()
        elif self.fast_decode and not cuda:
            log.info("fast_decode needs CUDA; decoding on the CPU the default way")
        self.exact_drafts = False
        self.widest_exact_pass, self.pass_costs = 1, None
        if self.speculative and self._reuse_active():
            probed = probe(model, self._encode)
            if probed is not None:
                self.widest_exact_pass, self.pass_costs = probed.widest_exact, probed.costs
            self.exact_drafts = self.widest_exact_pass >= 2
            if not self.exact_drafts:
                log.warning(
                    "%s on %s rounds a several-token pass differently from a one-token "
                    "pass, so speculative edits could differ from plain decoding; they are "
                    "off (the setting speculative=\"always\" allows them)", name, self._device
                )
        return self._read_info(name, loaded.preset)

    def _try_fast_decode(self) -> None:
        """Turn on the static cache + compiled decode step, keeping it only if it works."""
        try:
            enable_fast_decode(self._model, self._n_ctx)
            warm = self._encode("def hello_world():\n    print(")
            for _ in range(3):  # warm-up, CUDA graph recording, then a replay
                self._generate_ids(warm, 4, 0.0, threading.Event(), threading.Event(), None)
            self.fast_decode_active = True
        except Exception as err:
            log.warning("fast decoding (static cache + torch.compile) is unavailable, "
                        "using the default path: %s", err)
            disable_fast_decode(self._model)
            free_cuda_memory()

    def _read_info(self, name: str, preset: Preset | None) -> ModelInfo:
        tokenizer = self._tokenizer
        template = getattr(tokenizer, "chat_template", None)
        if not isinstance(template, str):
            template = None
        family = preset.prompt_family if preset else family_from_chat_template(template)
        return ModelInfo(
            name=name,
            context_length=self._n_ctx,
            prompt_family=family,
            chat_template=template,
            bos_token=tokenizer.bos_token or "",
            eos_token=tokenizer.eos_token or "",
            supports_fim="<fim_prefix>" in tokenizer.get_vocab(),
        )

    def close(self) -> None:
        with self._generate_lock, self._load_lock:
            self._prefix.drop()
            self._model = self._tokenizer = None
            self._info = None
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None
            free_cuda_memory()

    # ---- tokens ----------------------------------------------------------------------

    def _encode(self, text: str) -> list[int]:
        """Token ids with special tokens parsed; BOS only if the tokenizer adds one, and
        never twice (a prompt rendered from a chat template may already start with it)."""
        ids: list[int] = list(self._tokenizer(text, add_special_tokens=True)["input_ids"])
        if len(ids) >= 2 and self._bos_id is not None and ids[0] == ids[1] == self._bos_id:
            ids = ids[1:]
        return ids

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            self.load()
        return len(self._encode(text))

    # ---- prompt-prefix reuse ----------------------------------------------------------

    def reset_cache(self) -> None:
        """Forget the KV cache, so the next prompt is evaluated whole (benchmarks)."""
        with self._generate_lock:
            self._prefix.drop()

    def _reuse_active(self) -> bool:
        """Prefix reuse runs on the default (dynamic cache) path only."""
        config = getattr(self._model, "generation_config", None)
        return self._reuse_supported and getattr(config, "cache_implementation", None) is None

    # ---- generation ------------------------------------------------------------------

    def _generate_ids(
        self,
        ids: list[int],
        budget: int,
        temperature: float,
        cancel: threading.Event,
        halt: threading.Event,
        tokens: queue.Queue[Any] | None,
        stats: GenerationStats | None = None,
        lookup: PromptLookup | None = None,
        seed: int | None = None,
    ) -> None:
        """Run generate() (on the worker thread), feeding token ids into `tokens`; with a
        `lookup` (greedy, dynamic cache), the speculative loop instead."""
        import torch
        from transformers import StoppingCriteriaList

        sink: queue.Queue[Any] = tokens if tokens is not None else queue.Queue()
        stopped: Callable[[], bool] = lambda: cancel.is_set() or halt.is_set()  # noqa: E731
        try:
            if lookup is not None and temperature <= 0 and self._reuse_active():
                with torch.inference_mode():
                    speculative_ids(
                        self._model, self._prefix, ids, budget=budget,
                        batch=self.prefill_batch, lookup=lookup, eos_ids=self._eos_ids,
                        stopped=stopped, sink=sink, stats=stats, costs=self.pass_costs,
                    )
                return
            streamer, criteria = streamer_and_criteria(sink, cancel, halt)
            if temperature > 0 and seed is not None:
                torch.manual_seed(seed)
            input_ids = torch.tensor([ids], dtype=torch.long, device=self._model.device)
            sampling: dict[str, Any] = (
                {"do_sample": True, "temperature": temperature}
                if temperature > 0
                else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
            )
            with torch.inference_mode():
                kv = None
                if self._reuse_active():
                    kv = self._prefix.prefill(
                        self._model, ids, self.prefill_batch, stopped, stats
                    )
                    if kv is None:
                        return  # cancelled while pre-filling
                    # generate() runs only ids[len(cache):]
                    sampling[cache_keyword(self._model)] = kv
                else:
                    self._prefix.drop()
                    if stats is not None:
                        stats.prompt_tokens_evaluated = len(ids)
                output = self._model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    max_new_tokens=budget,
                    min_new_tokens=0,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([criteria]),
                    pad_token_id=min(self._eos_ids) if self._eos_ids else None,
                    **sampling,
                )
                if kv is not None:  # the last generated token is not in the cache yet
                    self._prefix.hold(getattr(output, "sequences", output)[0].tolist())
        except BaseException:
            self._prefix.drop()  # a half-written cache (OOM, an engine error) is not trusted
            raise
        finally:
            sink.put(END)

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def _draft_model(
        self, request: GenerationRequest, prompt_ids: list[int]
    ) -> PromptLookup | None:
        """Prompt-lookup drafter for `request`, or None for plain decoding (also on the
        static-cache fast path, which decodes plainly)."""
        if not self._drafts_wanted(request) or not self._reuse_active():
            return None
        assert request.draft_source is not None
        source = list(
            self._tokenizer(request.draft_source, add_special_tokens=False)["input_ids"]
        )
        config = self.draft_config
        if request.exact_drafts:
            config = dataclasses.replace(config, k_max=min(config.k_max,
                                                           self.widest_exact_pass - 1))
        if self.pass_costs is None and self._device == "cuda":
            config = gpu_draft_config(config)
        costs = self.pass_costs
        return PromptLookup(source, prompt_ids, config,
                            costs.relative if costs is not None else None)

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        ids = self._encode(request.prompt)
        stats.prompt_tokens = len(ids)
        stats.prompt_tokens_evaluated = 0  # set by the worker as it evaluates
        budget = token_budget(len(ids), self._n_ctx, request.max_tokens)
        if cancel.is_set() or budget <= 0:
            stats.finish("cancelled" if cancel.is_set() else "length")
            return
        tokens: queue.Queue[Any] = queue.Queue()
        halt = threading.Event()  # we stop it: stop string seen, or the caller went away
        lookup = self._draft_model(request, ids)  # None: plain decoding
        future = self._run(
            self._generate_ids, ids, budget, request.temperature, cancel, halt, tokens, stats,
            lookup, request.seed,
        )
        decoder = IncrementalDecoder(self._tokenizer)
        reason = "length"
        tokens_read = QueueReader(tokens, cancel, END)
        try:
            for token in tokens_read:
                stats.mark_first_token()
                if token in self._eos_ids:
                    reason = "eos"
                    break
                stats.completion_tokens += 1
                if isinstance(token, Accepted):  # counted when used, not past a stop
                    stats.accepted_draft_tokens += 1
                    token = int(token)
                text = decoder.add(token)
                if text:
                    yield text
                if cancel.is_set():
                    reason = "cancelled"
                    break
            if tokens_read.cancelled:
                reason = "cancelled"
        finally:
            halt.set()
            error = future.exception()  # waits: at most a token after `halt`
        if error is not None and reason != "cancelled":
            raise self._generation_failure(error, len(ids), budget)
        if cancel.is_set() and reason == "length":
            reason = "cancelled"
        stats.finish(reason)
        if reason in ("eos", "length"):
            tail = decoder.flush()
            if tail:
                yield tail

    def _generation_failure(self, err: BaseException, prompt: int, budget: int) -> ModelError:
        if is_oom(err):
            free_cuda_memory()
            return OutOfMemoryError(
                f"out of memory while generating (a {prompt}-token prompt plus up to {budget} "
                "new tokens); the model is still loaded: select less code or lower "
                "starcoder.maxTokens and try again."
            )
        if self.fast_decode_active and type(err).__module__.startswith("torch._"):
            log.warning("compiled decoding failed (%s); switching to the default path", err)
            self._run(disable_fast_decode, self._model).result()
            self.fast_decode_active = False
            return GenerationError(
                f"compiled decoding failed ({err}); it is now off, please try again."
            )
        return GenerationError(f"transformers failed while generating: {err}")
