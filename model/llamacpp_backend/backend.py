"""The llama.cpp backend itself: loading a GGUF, its facts, and the generation stream."""

from __future__ import annotations

import codecs
import dataclasses
import logging
import sys
import threading
from collections.abc import Generator, Iterator
from pathlib import Path
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
from model.errors import (
    BackendUnavailableError,
    GenerationError,
    ModelError,
    ModelFileError,
    ModelLoadError,
    OutOfMemoryError,
)
from model.llamacpp_backend.context import (
    context_options,
    runs_on_cpu,
    splits_attention,
    without_repacking,
)
from model.llamacpp_backend.engine import Cancelled, counting_llama_class, decode_rows
from model.llamacpp_backend.exactness import probe
from model.llamacpp_backend.gguf_header import read_gguf_header
from model.llamacpp_backend.speculative_loop import speculative_tokens
from model.llamacpp_backend.stderr_capture import MutedThreadStream
from model.llamacpp_backend.vocab import Vocabulary
from model.pass_costs import PassCosts
from model.presets import family_from_chat_template
from model.speculative import DraftConfig, PromptLookup, gpu_draft_config

logger = logging.getLogger(__name__)


class LlamaCppBackend(Backend):
    """Runs a local GGUF model in-process with llama.cpp (CPU, CUDA or Metal)."""

    name = "llama.cpp"
    one_stream_at_a_time = True

    def __init__(
        self,
        model_path: str,
        n_ctx: int = 0,
        n_gpu_layers: int = -1,
        n_threads: int = 0,
        verbose: bool = False,
        speculative: bool = True,
        draft_config: DraftConfig | None = None,
    ) -> None:
        super().__init__()
        self.model_path = Path(model_path).expanduser()
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers
        self.n_threads = n_threads
        self.verbose = verbose
        self.speculative = speculative
        # Whether a verification pass was seen to compute its rows bit for bit as
        # one-token passes do (checked at load); drafts are exact only then.
        self.exact_drafts = False
        # From the load-time probe: the widest pass whose rows are exact (1: none), and
        # what passes cost here (None: not measured), refreshed by the passes that run.
        self.widest_exact_pass = 1
        self.pass_costs: PassCosts | None = None
        self.draft_config = draft_config or DraftConfig()
        self._llm: Any = None
        self._llama_cpp: Any = None
        self._vocab: Vocabulary | None = None

    # ---- loading ---------------------------------------------------------------------

    def _load(self, report: ProgressCallback) -> ModelInfo:
        header = read_gguf_header(self.model_path)
        try:
            import llama_cpp
        except ImportError as err:
            raise BackendUnavailableError(
                "The llama.cpp backend needs llama-cpp-python: "
                "pip install 'starcoder-lsp[llama]' (see the README for GPU builds)."
            ) from err
        report(LoadProgress("loading", f"Loading {self.model_path.name}", 0.0))
        arch = header.get("general.architecture", "")
        n_ctx = context_size(self.n_ctx, int(header.get(f"{arch}.context_length") or 4096))

        muted = MutedThreadStream(sys.stderr, threading.get_ident())
        saved_stderr = sys.stderr
        if not self.verbose:
            sys.stderr = muted
        options = self._context_options(llama_cpp, header)
        try:
            with without_repacking(llama_cpp, self.speculative):
                llm = counting_llama_class(llama_cpp)(
                    model_path=str(self.model_path),
                    n_ctx=n_ctx,
                    n_gpu_layers=self.n_gpu_layers,
                    verbose=True,  # see stderr_capture.py: False would hijack fd 1
                    **options,
                )
        except Exception as err:  # llama-cpp raises ValueError/RuntimeError
            raise self._load_failure(err, muted.error_lines(), n_ctx) from err
        finally:
            if sys.stderr is muted:
                sys.stderr = saved_stderr
            # llama.cpp's log callback prints to stderr; keep only errors afterwards.
            logging.getLogger("llama-cpp-python").setLevel(
                logging.DEBUG if self.verbose else logging.ERROR
            )
        llm.verbose = self.verbose  # quiets the "prefix-match hit" prints of generate()
        self._llm = llm
        self._llama_cpp = llama_cpp
        self._vocab = Vocabulary(llm, llama_cpp)
        self.exact_drafts = False
        self.widest_exact_pass, self.pass_costs = 1, None
        if self.speculative:
            report(LoadProgress("loading", "measuring speculative passes on this machine",
                                0.9))
            probed = probe(llm, self._tokenize, self._decode_rows)
            if probed is not None:
                self.widest_exact_pass, self.pass_costs = probed.widest_exact, probed.costs
                logger.info("%s: passes exact up to %d rows; cost in one-row passes: %s",
                            self.model_path.name, probed.widest_exact, probed.costs.describe())
            if splits_attention(options):
                why = "its head size is not a multiple of 32 (see context_options)"
            elif self.widest_exact_pass < 2:
                why = "this llama.cpp build rounds a several-token pass differently here"
            else:
                self.exact_drafts = True
            if not self.exact_drafts:
                logger.warning(
                    "%s: speculative edits could differ from plain decoding (%s), so they "
                    "are off; the setting speculative=\"always\" allows them",
                    self.model_path.name, why,
                )
        return self._read_info(llm, n_ctx)

    def _on_cpu(self) -> bool:
        return runs_on_cpu(self._llama_cpp, self.n_gpu_layers)

    def _context_options(self, llama_cpp: Any, header: dict[str, Any]) -> dict[str, Any]:
        """Options for Llama(): the exact-rows set-up where speculative edits run on a
        CPU (see context.context_options)."""
        exact_rows = self.speculative and runs_on_cpu(llama_cpp, self.n_gpu_layers)
        return context_options(header, n_threads=self.n_threads, exact_rows=exact_rows)

    def _decode_rows(self, step: list[int], n_past: int) -> Any:
        """One forward pass over `step`; every row's logits (see engine.decode_rows)."""
        return decode_rows(self._llm, self._llama_cpp, step, n_past)

    def _load_failure(self, err: Exception, reason: str, n_ctx: int) -> ModelError:
        """Turn llama-cpp-python's generic ValueError into an error a user can act on."""
        detail = reason or str(err)
        text = f"{err} {reason}".lower()
        path = self.model_path
        if "memory" in text or "alloc" in text or "llama_context" in text:
            return OutOfMemoryError(
                f"llama.cpp could not allocate memory for {path} with a {n_ctx}-token "
                f"context ({detail}). Try a smaller context, fewer GPU layers, or a "
                "smaller quantisation."
            )
        if "architecture" in text:
            return ModelLoadError(
                f"llama.cpp does not support the model in {path} ({detail}); it may need "
                "a newer llama-cpp-python."
            )
        file_words = ("tensor", "key not found", "corrupt", "invalid", "failed to read", "end of")
        if any(word in text for word in file_words):
            return ModelFileError(
                f"{path} is not a usable model ({detail}); the file may be corrupt or "
                "incomplete. Download it again."
            )
        return ModelLoadError(f"llama.cpp failed to load {path}: {detail}")

    def _read_info(self, llm: Any, n_ctx: int) -> ModelInfo:
        meta: dict[str, str] = llm.metadata or {}
        template = meta.get("tokenizer.chat_template")
        vocab = self._vocabulary()
        fim = vocab.tokenize("<fim_prefix>")
        return ModelInfo(
            name=meta.get("general.name") or self.model_path.stem,
            context_length=llm.n_ctx() or n_ctx,
            prompt_family=family_from_chat_template(template),
            chat_template=template,
            bos_token=vocab.text_of(llm.token_bos()),
            eos_token=vocab.text_of(llm.token_eos()),
            supports_fim=len(fim) == 1 and vocab.piece(fim[0]) == b"<fim_prefix>",
        )

    def close(self) -> None:
        with self._generate_lock, self._load_lock:
            if self._llm is not None:
                self._llm.close()
            self._llm = None
            self._vocab = None
            self._info = None

    # ---- tokens ----------------------------------------------------------------------

    def _vocabulary(self) -> Vocabulary:
        if self._vocab is None:
            raise ModelLoadError("The model is not loaded yet.")
        return self._vocab

    def _tokenize(self, text: str) -> list[int]:
        return self._vocabulary().tokenize(text)

    def reset_cache(self) -> None:
        """Forget the KV cache, so the next prompt is evaluated whole (benchmarks)."""
        with self._generate_lock:
            if self._llm is not None:
                self._llm.reset()

    def count_tokens(self, text: str) -> int:
        if self._llm is None:
            self.load()
        return len(self._tokenize(text))

    # ---- generation ------------------------------------------------------------------

    @property
    def is_loaded(self) -> bool:
        return self._llm is not None

    def _draft_model(
        self, request: GenerationRequest, prompt_tokens: list[int]
    ) -> PromptLookup | None:
        """Prompt-lookup drafter for `request`, or None for plain decoding."""
        if not self._drafts_wanted(request):
            return None
        assert request.draft_source is not None
        source = self._vocabulary().tokenize_plain(request.draft_source)
        config = self._draft_config_for_device()
        if not request.exact_drafts:  # "always": widths past the exact ones are allowed
            config = dataclasses.replace(config, k_max=self.draft_config.k_max)
        costs = self.pass_costs
        return PromptLookup(source, prompt_tokens, config,
                            costs.relative if costs is not None else None)

    def _draft_config_for_device(self) -> DraftConfig:
        """Passes no wider than the probe found exact, for requests that want exact
        drafts (ggml's CPU kernels change at some batch size); without a measurement of
        pass costs, longer drafts on a GPU."""
        config = self.draft_config
        if self.exact_drafts:
            config = dataclasses.replace(
                config, k_max=min(config.k_max, self.widest_exact_pass - 1))
        if self.pass_costs is None and not self._on_cpu():
            config = gpu_draft_config(config)
        return config

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        llm, vocab = self._llm, self._vocabulary()
        tokens = vocab.tokenize(request.prompt)
        stats.prompt_tokens = len(tokens)
        budget = token_budget(len(tokens), llm.n_ctx(), request.max_tokens)
        lookup = self._draft_model(request, tokens)  # None: plain decoding
        if cancel.is_set():
            stats.finish("cancelled")
            return

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        evaluated_before = llm.tokens_evaluated
        llm.cancel_event = cancel
        sampler: Generator[int, Any, None]
        if lookup is not None:
            sampler = speculative_tokens(
                llm, self._llama_cpp, tokens, budget, lookup, stats, self._decode_rows,
                self.pass_costs,
            )
        else:
            if request.temperature > 0 and request.seed is not None:
                llm.set_seed(request.seed)
            # temp 0 makes llama-cpp-python use its greedy sampler; reset=True keeps
            # the longest common prefix of the previous prompt in the KV cache.
            sampler = llm.generate(
                tokens, temp=max(0.0, request.temperature), repeat_penalty=1.0, reset=True
            )
        reason = "length"
        first = True
        try:
            for token in sampler:
                if first:
                    first = False
                    stats.prompt_tokens_evaluated = llm.tokens_evaluated - evaluated_before
                    stats.mark_first_token()
                if vocab.is_end(token):
                    reason = "eos"
                    break
                stats.completion_tokens += 1
                text = decoder.decode(vocab.piece(token, special=False))
                if text:
                    yield text
                if cancel.is_set():
                    reason = "cancelled"
                    break
                if stats.completion_tokens >= budget:
                    break
        except Cancelled:
            reason = "cancelled"
        except RuntimeError as err:  # llama_decode failures
            raise GenerationError(f"llama.cpp failed while generating: {err}") from err
        finally:
            sampler.close()
            llm.cancel_event = None
            if first:  # stopped during the prompt: report what was evaluated
                stats.prompt_tokens_evaluated = llm.tokens_evaluated - evaluated_before
        stats.finish(reason)
        if reason in ("eos", "length"):
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
