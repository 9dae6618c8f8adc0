"""The Hugging Face transformers backend: bf16 weights on a CUDA GPU (float32 on CPU).

torch and transformers are imported only inside methods, so the language server starts
(and reports a clear error) where they are not installed.

Choices that matter:

* **dtype**: bfloat16 on CUDA (the weights' own precision, half the memory of float32);
  float32 on CPU, because CPU bf16 matmuls are emulated on most CPUs and several times
  slower than float32 (the GGUF backend is the right tool on CPU anyway).
* **memory check first**: the parameter count is estimated from config.json before any
  weight is read, so "15B on a laptop" fails in a second with numbers and advice instead
  of swapping the machine to death (or, on CUDA, silently offloading layers to the CPU).
* **one worker thread** runs every torch call. torch.compile's CUDA graphs
  (mode="reduce-overhead") are recorded per thread, so generating on a fresh thread per
  request would re-record them each time.
* **fast decoding** (CUDA only, setting `fast_decode`): a static KV cache sized to the
  context plus transformers' automatic compilation of the decode step with CUDA graphs.
  One cache size means one compiled graph for every request. The graph is built during
  load(); if compiling fails the backend logs a warning and decodes the default way.
* **prompt-prefix reuse** (the default path, like llama.cpp's): the KV cache of the last
  request (prompt + answer) is kept, and the next prompt only evaluates the tokens after
  the longest common prefix, so completions as the user types cost a few tokens each.
  The cache is a plain `DynamicCache` of full-attention layers, also for sliding-window
  models (StarCoder2: the window is applied by the attention mask, which uses absolute
  positions): a window-sized cache drops old keys and cannot be cropped back once the
  window is reached, while a full one can always be cropped to any prefix, at the price
  of holding up to the context length instead of the window (StarCoder2-15B at 8192
  tokens: 0.6 GB in bf16). The prompt is pre-filled in batches of `prefill_batch` tokens
  with a cancel check between them. Greedy output is the same as without reuse. The
  fast path's static cache is not reused (every request evaluates its whole prompt):
  rewinding a static cache under CUDA graphs cannot be verified without a GPU here.
* **speculative edit decoding** (constructor flag `speculative`, on by default): a greedy
  request that carries `draft_source` (an edit) runs our own draft-and-verify loop
  (`_speculative_ids`) instead of generate(): prompt-lookup drafts from model/speculative.py,
  checked in one forward pass over ``[last] + draft``, the rejected positions cropped from
  the DynamicCache. Its tokens are plain greedy decoding's provided a row of a wide pass
  is computed bit for bit as a one-token pass computes it, which depends on the kernels
  the device picks: `exact_drafts` records a check of that at load, and requests that ask
  for exact drafts (the default) draft only when it held. Only on the dynamic-cache path
  (CPU, or CUDA with fast_decode off); the static-cache fast path decodes plainly, as a
  compiled step with verification passes of varying width is future work.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import logging
import os
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from model.base import (
    Backend,
    GenerationRequest,
    GenerationStats,
    LoadProgress,
    ModelInfo,
    ProgressCallback,
    StopStringFilter,
)
from model.errors import (
    BackendUnavailableError,
    DownloadError,
    GenerationError,
    ModelError,
    ModelFileError,
    ModelLoadError,
    ModelNotFoundError,
    OutOfMemoryError,
)
from model.presets import PRESETS, Preset, find
from model.speculative import (
    PROBE_TEXT,
    DraftConfig,
    PromptLookup,
    verify_greedy,
    wide_pass_matches,
)

log = logging.getLogger(__name__)

# Same default cap as the llama.cpp backend, so prompts are budgeted identically whichever
# backend serves them (StarCoder2 trains on 16k; pass n_ctx to use more).
MAX_DEFAULT_CONTEXT = 8192
STARCODER2_INSTRUCT = "starcoder2-instruct"
# Weights plus KV cache and activations (the same factor as loader.bf16_needed_gb).
MEMORY_HEADROOM = 1.15
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# Architectures whose MLP has three matrices (gate, up, down) instead of two.
_GATED_MLP = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "phi3"}
_END = object()
# Attention layer kinds a full-length DynamicCache serves correctly (see prefix reuse).
_REUSABLE_LAYERS = {"full_attention", "sliding_attention"}
# DraftConfig.cost_ratio on a GPU: a wider verification pass costs almost nothing more.
GPU_COST_RATIO = 0.05


class _Accepted(int):
    """A token id queued by the speculative loop that was an accepted draft token (the
    consumer counts it in stats.accepted_draft_tokens only if it uses it)."""


# ---- memory --------------------------------------------------------------------------


def estimate_params(config: Any) -> float:
    """Parameter count of a decoder-only model from its config (0 when unknown).

    Covers the StarCoder families: starcoder2 (and llama-style configs) and gpt_bigcode.
    """

    def get(*names: str) -> Any:
        for name in names:
            value = getattr(config, name, None)
            if value is not None:
                return value
        return None

    hidden = get("hidden_size", "n_embd")
    layers = get("num_hidden_layers", "n_layer")
    heads = get("num_attention_heads", "n_head")
    vocab = get("vocab_size")
    if not (hidden and layers and heads and vocab):
        return 0.0
    ff = get("intermediate_size", "n_inner") or 4 * hidden
    multi_query = getattr(config, "multi_query", False)  # gpt_bigcode: one K/V head
    kv_heads = 1 if multi_query else get("num_key_value_heads") or heads
    head_dim = get("head_dim") or hidden // heads
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    mlp = (3 if getattr(config, "model_type", "") in _GATED_MLP else 2) * hidden * ff
    embeddings = vocab * hidden
    tied = getattr(config, "tie_word_embeddings", True)
    return float(layers * (attention + mlp) + embeddings * (1 if tied else 2))


def _cpu_available_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("inf")  # unknown: do not block loading on a guess


def available_memory_gb(device: str) -> float:
    """Free memory where the weights will live: all CUDA devices together, or RAM."""
    if device == "cuda":
        import torch

        return sum(
            torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())
        ) / 2**30
    return _cpu_available_gb()


def check_fits(name: str, config: Any, device: str, dtype_bytes: int) -> None:
    """Raise OutOfMemoryError before loading when the weights cannot fit."""
    params = estimate_params(config)
    if not params:
        return
    needed = params * dtype_bytes * MEMORY_HEADROOM / 2**30
    free = available_memory_gb(device)
    if needed <= free:
        return
    dtype = "bfloat16" if dtype_bytes == 2 else "float32"
    where = (
        f"the GPU{'s have' if device == 'cuda' else ' has'} {free:.1f} GB free"
        if device == "cuda"
        else f"this machine has {free:.1f} GB of RAM available and no CUDA GPU was found"
    )
    raise OutOfMemoryError(
        f"{name} has about {params / 1e9:.1f}B parameters and needs about {needed:.1f} GB "
        f"in {dtype}, but {where}. Use the GGUF backend instead (--backend llama.cpp, "
        "setting starcoder.backend): a Q4_K_M file needs about a third of the bf16 size "
        "(StarCoder2-15B: 9.9 GB)."
    )


# ---- fast decoding -------------------------------------------------------------------


def enable_fast_decode(model: Any, max_cache_len: int) -> None:
    """Static KV cache + torch.compile'd decode step with CUDA graphs.

    With transformers' CompileConfig (>= 4.47) generate() compiles only the one-token
    decode step itself (the prefill, whose shape changes with every prompt, stays eager);
    a fixed `max_cache_len` keeps that step's shapes identical across requests. Older
    versions get the documented manual recipe: compile the whole forward.
    """
    import torch
    import transformers

    config = model.generation_config
    config.cache_implementation = "static"
    config.max_cache_len = max_cache_len
    compile_config = getattr(transformers, "CompileConfig", None)
    if compile_config is not None:
        config.compile_config = compile_config(fullgraph=True, mode="reduce-overhead")
    else:  # pragma: no cover - transformers < 4.47
        model._eager_forward = model.forward
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)


def disable_fast_decode(model: Any) -> None:
    """Back to the default dynamic cache and eager decoding."""
    import torch

    config = model.generation_config
    config.cache_implementation = None
    config.compile_config = None
    config.max_cache_len = None
    eager = getattr(model, "_eager_forward", None)
    if eager is not None:  # pragma: no cover - transformers < 4.47
        model.forward = eager
        del model._eager_forward
    torch._dynamo.reset()


# ---- helpers -------------------------------------------------------------------------


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def supports_prefix_reuse(model: Any) -> bool:
    """True when a full-length DynamicCache can be kept and cropped for `model`."""
    if getattr(model, "_is_stateful", False):  # recurrent state: no rewinding
        return False
    supports = getattr(model, "_supports_default_dynamic_cache", None)
    if callable(supports) and not supports():
        return False
    config = model.config
    get_text = getattr(config, "get_text_config", None)
    text = get_text(decoder=True) if callable(get_text) else config
    types = getattr(text, "layer_types", None)
    return types is None or set(types) <= _REUSABLE_LAYERS


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    name = type(err).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(err).lower()


def _free_cuda_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort
        pass


class _IncrementalDecoder:
    """Token ids → text as it becomes complete (no half UTF-8 characters).

    Decodes a small window of recent tokens and emits what grew, holding back text that
    ends in U+FFFD (a byte-level token that splits a multi-byte character).
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def _decode(self, ids: list[int]) -> str:
        text: str = self._tokenizer.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return text

    def add(self, token: int) -> str:
        self._ids.append(token)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :]


def _streamer_and_criteria(
    tokens: queue.Queue[Any], cancel: threading.Event, halt: threading.Event
) -> tuple[Any, Any]:
    """A streamer that queues token ids, and a StoppingCriteria reading the events."""
    import torch
    from transformers import StoppingCriteria
    from transformers.generation.streamers import BaseStreamer

    class QueueStreamer(BaseStreamer):  # type: ignore[misc]
        prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate() first sends the prompt ids
                self.prompt_seen = True
                return
            for token in value.reshape(-1).tolist():
                tokens.put(int(token))

        def end(self) -> None:
            pass  # the worker puts _END itself, also when generate() raises

    class EventStop(StoppingCriteria):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            stop = cancel.is_set() or halt.is_set()
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool,
                              device=input_ids.device)

    return QueueStreamer(), EventStop()


# ---- the backend -----------------------------------------------------------------------


class TransformersBackend(Backend):
    """A Hugging Face model (hub id, local folder or preset name) run with transformers."""

    name = "transformers"
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
        self.model = model
        self.fast_decode = fast_decode
        # Prompt-lookup speculative decoding for greedy requests with a draft_source.
        self.speculative = speculative
        self.draft_config = draft_config or DraftConfig()
        # Whether a verification pass computes its rows bit for bit as one-token passes
        # do (checked at load); drafts are exact only then.
        self.exact_drafts = False
        self.n_ctx = n_ctx
        self.device = device  # "auto" | "cuda" | "cpu"
        self._model: Any = None
        self._tokenizer: Any = None
        self._info: ModelInfo | None = None
        self._eos_ids: set[int] = set()
        self._bos_id: int | None = None
        self._n_ctx = 0
        self._device = "cpu"
        self.fast_decode_active = False
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        # Prompt-prefix reuse: the KV cache of the last request and the token ids in it
        # (always len(_cache_ids) == _cache.get_seq_length()); worker thread only.
        self._reuse_supported = False
        self._cache: Any = None
        self._cache_ids: list[int] = []

    def __repr__(self) -> str:
        return f"TransformersBackend({self.model!r}, device={self._device!r})"

    # ---- loading ---------------------------------------------------------------------

    def _run(self, fn: Any, *args: Any) -> concurrent.futures.Future[Any]:
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="transformers-worker"
            )
        return self._worker.submit(fn, *args)

    def load(self, progress: ProgressCallback | None = None) -> ModelInfo:
        report = progress or (lambda _p: None)
        with self._load_lock:
            if self._info is not None:
                report(LoadProgress("ready", f"{self._info.name} is loaded"))
                return self._info
            try:
                self._info = self._run(self._load, report).result()
            except ModelError as err:
                report(LoadProgress("error", str(err)))
                raise
            except Exception as err:  # an engine bug or an unexpected model layout
                failure = ModelLoadError(f"transformers could not load {self.model}: {err}")
                report(LoadProgress("error", str(failure)))
                raise failure from err
            report(LoadProgress("ready", f"{self._info.name} is loaded", 1.0))
            return self._info

    def _resolve(self, report: ProgressCallback) -> tuple[Path, str, Preset | None]:
        """(local folder, display name, preset) for `self.model`; downloads hub models."""
        raw = self.model.strip()
        path = Path(raw).expanduser()
        if path.exists():
            if not path.is_dir():
                raise ModelFileError(
                    f"{path} is a file; the transformers backend needs a Hugging Face model "
                    "folder (config.json, *.safetensors, tokenizer files) or a hub id. "
                    "For a .gguf file use --backend llama.cpp."
                )
            return path, path.resolve().name, None
        preset = find(raw)
        repo = preset.hf_repo if preset else raw
        if preset is None:
            looks_local = raw.startswith(("/", ".", "~")) or raw.count("/") > 1
            if looks_local or raw.endswith(".gguf") or not _HUB_ID.match(raw):
                raise ModelNotFoundError(
                    f"model folder {path} does not exist; pass --model a Hugging Face model "
                    "folder, a hub id such as bigcode/starcoder2-15b-instruct-v0.1, or a "
                    f"preset ({', '.join(PRESETS)})"
                )
            preset = next(
                (p for p in PRESETS.values() if p.hf_repo.lower() == raw.lower()), None
            )
        return self._download(repo, report), repo, preset

    def _download(self, repo: str, report: ProgressCallback) -> Path:
        try:
            from huggingface_hub import snapshot_download
        except ImportError as err:  # pragma: no cover - a dependency
            raise BackendUnavailableError("huggingface_hub is not installed") from err
        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]
        try:
            return Path(snapshot_download(repo, allow_patterns=patterns, local_files_only=True))
        except Exception:
            pass  # not cached yet
        from model.download import _progress_tqdm

        report(LoadProgress("downloading", f"downloading {repo}", 0.0))
        try:
            folder = snapshot_download(
                repo, allow_patterns=patterns, tqdm_class=_progress_tqdm(report, repo, None)
            )
        except Exception as err:
            reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else repr(err)
            raise DownloadError(
                f"could not download {repo} from the Hugging Face hub: {reason}. If this "
                "machine is offline, download the model folder elsewhere and pass --model "
                "/path/to/folder; gated models need HF_TOKEN set."
            ) from err
        report(LoadProgress("downloading", f"downloaded {repo}", 1.0))
        return Path(folder)

    def _load(self, report: ProgressCallback) -> ModelInfo:
        try:
            import torch
            import transformers
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        except ImportError as err:
            raise BackendUnavailableError(
                "The transformers backend needs torch and transformers: "
                "pip install 'starcoder-lsp[gpu]' (or use --backend llama.cpp)."
            ) from err
        folder, name, preset = self._resolve(report)
        if not (folder / "config.json").is_file():
            raise ModelFileError(
                f"{folder} has no config.json, so it is not a Hugging Face model folder."
            )
        try:
            config = AutoConfig.from_pretrained(folder)
        except Exception as err:
            raise ModelFileError(f"cannot read {folder / 'config.json'}: {err}") from err

        cuda = torch.cuda.is_available() and self.device != "cpu"
        if self.device == "cuda" and not cuda:
            raise BackendUnavailableError("device 'cuda' was asked for but CUDA is not available")
        self._device = "cuda" if cuda else "cpu"
        dtype = torch.bfloat16 if cuda else torch.float32
        check_fits(name, config, self._device, 2 if cuda else 4)

        transformers.utils.logging.disable_progress_bar()  # stderr noise in editor logs
        report(LoadProgress("loading", f"loading {name} ({dtype} on {self._device})", 0.0))
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        kwargs: dict[str, Any] = {dtype_key: dtype}
        # device_map="auto" (accelerate) spreads layers over several GPUs; the memory
        # check above keeps it from offloading to the CPU.
        has_accelerate = importlib.util.find_spec("accelerate") is not None
        if cuda and has_accelerate:
            kwargs["device_map"] = "auto"
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model: Any = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
            if cuda and not has_accelerate:
                model = model.to("cuda")
        except Exception as err:
            _free_cuda_memory()
            if _is_oom(err):
                raise OutOfMemoryError(
                    f"out of memory while loading {name} on {self._device}: {err}. Use the "
                    "GGUF backend (--backend llama.cpp) or a smaller model."
                ) from err
            if isinstance(err, (OSError, EnvironmentError)):
                raise ModelFileError(f"{folder} is not a usable model folder: {err}") from err
            raise ModelLoadError(f"transformers could not load {name}: {err}") from err
        model.eval()
        self._model, self._tokenizer = model, tokenizer
        self._drop_cache()
        self._reuse_supported = supports_prefix_reuse(model)
        trained = int(getattr(config, "max_position_embeddings", 0) or 0) or 4096
        self._n_ctx = self.n_ctx if self.n_ctx > 0 else min(trained, MAX_DEFAULT_CONTEXT)
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
        if self.speculative and self._reuse_active():
            self.exact_drafts = self._rows_match_one_token_passes()
            if not self.exact_drafts:
                log.warning(
                    "%s on %s rounds a several-token pass differently from a one-token "
                    "pass, so speculative edits could differ from plain decoding; they are "
                    "off (the setting speculative=\"always\" allows them)", name, self._device
                )
        return self._read_info(name, preset, trained)

    def _rows_match_one_token_passes(self) -> bool:
        """Evaluate a probe one token at a time and in one pass; compare the logits
        (worker thread). What drafting relies on, checked on this model and device."""
        import torch
        from transformers import DynamicCache

        model, device = self._model, self._model.device
        cache: list[Any] = []  # the probe's own cache, replaced by each restart

        def rows(tokens: list[int]) -> Any:
            step = torch.tensor([tokens], dtype=torch.long, device=device)
            return model(input_ids=step, past_key_values=cache[0], use_cache=True).logits[0]

        def restart(head: list[int]) -> None:
            cache[:] = [DynamicCache()]
            rows(head)

        try:
            with torch.inference_mode():
                return wide_pass_matches(self._encode(PROBE_TEXT), restart, rows)
        except Exception as err:  # a failed probe must not fail the load
            log.warning("speculative exactness check failed: %s", err)
            return False

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
            _free_cuda_memory()

    def _read_info(self, name: str, preset: Preset | None, trained: int) -> ModelInfo:
        tokenizer = self._tokenizer
        template = getattr(tokenizer, "chat_template", None)
        if not isinstance(template, str):
            template = None
        family = preset.prompt_family if preset else None
        if family is None and template and "### Instruction" in template \
                and "### Response" in template:
            family = STARCODER2_INSTRUCT
        return ModelInfo(
            name=name,
            context_length=self._n_ctx,
            prompt_family=family,
            chat_template=template,
            bos_token=tokenizer.bos_token or "",
            eos_token=tokenizer.eos_token or "",
            supports_fim="<fim_prefix>" in tokenizer.get_vocab(),
        )

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise ModelLoadError("The model is not loaded yet.")
        return self._info

    def close(self) -> None:
        with self._generate_lock, self._load_lock:
            self._drop_cache()
            self._model = self._tokenizer = None
            self._info = None
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None
            _free_cuda_memory()

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

    def _drop_cache(self) -> None:
        self._cache = None
        self._cache_ids = []

    def reset_cache(self) -> None:
        """Forget the KV cache, so the next prompt is evaluated whole (benchmarks)."""
        with self._generate_lock:
            self._drop_cache()

    def _reuse_active(self) -> bool:
        """Prefix reuse runs on the default (dynamic cache) path only."""
        config = getattr(self._model, "generation_config", None)
        return self._reuse_supported and getattr(config, "cache_implementation", None) is None

    def _prefill(
        self,
        ids: list[int],
        cancel: threading.Event,
        halt: threading.Event,
        stats: GenerationStats | None,
    ) -> Any:
        """Bring the kept cache to ids[:-1] (worker thread, inference mode).

        Keeps the longest common prefix with the previous request (always leaving the
        last prompt token for generate(), which needs one new token to produce logits),
        then evaluates the rest in batches, checking for cancellation between them. The
        cache and `_cache_ids` stay consistent after every batch, so a cancelled request
        leaves a usable prefix. Returns the cache, or None when cancelled.
        """
        import torch
        from transformers import DynamicCache

        keep = min(common_prefix(self._cache_ids, ids), len(ids) - 1)
        if self._cache is None or keep == 0:
            self._drop_cache()  # free the old tensors before the new ones grow
            self._cache, keep = DynamicCache(), 0  # full layers (see the module docstring)
        else:
            length = self._cache.get_seq_length()
            if length > keep:
                self._cache.crop(keep - length)  # a negative count: tokens to remove
            self._cache_ids = self._cache_ids[:keep]
        cache = self._cache
        end = len(ids) - 1
        if stats is not None:
            stats.prompt_tokens_evaluated = 0
        decoder = self._model.base_model  # no vocabulary projection for the prompt
        device = self._model.device
        for start in range(keep, end, max(1, self.prefill_batch)):
            if cancel.is_set() or halt.is_set():
                return None
            stop = min(start + max(1, self.prefill_batch), end)
            batch = torch.tensor([ids[start:stop]], dtype=torch.long, device=device)
            decoder(input_ids=batch, past_key_values=cache, use_cache=True)
            self._cache_ids = ids[:stop]
            if stats is not None:
                stats.prompt_tokens_evaluated = stop - keep
        if cancel.is_set() or halt.is_set():
            return None
        if stats is not None:
            stats.prompt_tokens_evaluated = len(ids) - keep  # generate() runs the last one
        return cache

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
    ) -> None:
        """Run generate() (on the worker thread), feeding token ids into `tokens`; with a
        `lookup` (greedy, dynamic cache), the speculative loop instead."""
        import torch
        from transformers import StoppingCriteriaList

        sink: queue.Queue[Any] = tokens if tokens is not None else queue.Queue()
        try:
            if lookup is not None and temperature <= 0 and self._reuse_active():
                with torch.inference_mode():
                    self._speculative_ids(ids, budget, lookup, cancel, halt, sink, stats)
                return
            streamer, criteria = _streamer_and_criteria(sink, cancel, halt)
            device = self._model.device
            input_ids = torch.tensor([ids], dtype=torch.long, device=device)
            sampling: dict[str, Any] = (
                {"do_sample": True, "temperature": temperature}
                if temperature > 0
                else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
            )
            with torch.inference_mode():
                cache = None
                if self._reuse_active():
                    cache = self._prefill(ids, cancel, halt, stats)
                    if cache is None:
                        return  # cancelled while pre-filling
                    sampling["past_key_values"] = cache  # generate() runs ids[len(cache):]
                else:
                    self._drop_cache()
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
                if cache is not None:  # the last generated token is not in the cache yet
                    sequence = getattr(output, "sequences", output)[0].tolist()
                    self._cache_ids = sequence[: cache.get_seq_length()]
        except BaseException:
            self._drop_cache()  # a half-written cache (OOM, an engine error) is not trusted
            raise
        finally:
            sink.put(_END)

    def _speculative_ids(
        self,
        ids: list[int],
        budget: int,
        lookup: PromptLookup,
        cancel: threading.Event,
        halt: threading.Event,
        sink: queue.Queue[Any],
        stats: GenerationStats | None,
    ) -> None:
        """Greedy tokens, several per forward pass when the drafts are right (worker
        thread, inference mode, dynamic cache).

        After the prefix-reusing prefill, each pass runs ``[last] + draft`` over the
        cache, keeps the longest draft prefix the argmax agrees with plus the model's own
        token at the first disagreement (plain greedy decoding's tokens), and crops the
        rejected positions from the cache. Cancel and halt are checked between passes;
        at most `budget` tokens are produced and none after an end-of-sequence token.
        Afterwards the cache holds the prompt and all but the last generated token, and
        `_cache_ids` says so, as after generate().
        """
        import torch

        cache = self._prefill(ids, cancel, halt, stats)
        if cache is None:
            return  # cancelled while pre-filling
        model = self._model
        device = model.device
        generated: list[int] = []
        try:
            step = torch.tensor([ids[-1:]], dtype=torch.long, device=device)
            out = model(input_ids=step, past_key_values=cache, use_cache=True,
                        logits_to_keep=1)
            last = int(out.logits[0, -1].argmax())
            generated.append(last)
            lookup.observe([last])
            sink.put(last)
            while (
                len(generated) < budget
                and last not in self._eos_ids
                and not (cancel.is_set() or halt.is_set())
            ):
                pos = cache.get_seq_length()
                room = budget - len(generated) - 1  # the pass's own token needs one
                draft = lookup.draft(room) if room > 0 else []
                step = torch.tensor([[last, *draft]], dtype=torch.long, device=device)
                out = model(input_ids=step, past_key_values=cache, use_cache=True)
                result = verify_greedy(draft, out.logits[0].argmax(-1).tolist())
                # Keep `last` and the accepted drafts; the pass's own token is evaluated
                # by the next pass.
                keep = pos + len(result.tokens)
                length = cache.get_seq_length()
                if length > keep:
                    cache.crop(keep - length)  # a negative count: tokens to remove
                lookup.update(result)
                if stats is not None:
                    stats.drafted_tokens += result.drafted
                for index, token in enumerate(result.tokens):
                    generated.append(token)
                    sink.put(_Accepted(token) if index < result.accepted else token)
                    last = token
                    if token in self._eos_ids:
                        break
        finally:
            # The cache holds the prompt and the answer but its last token (drop anything
            # evaluated past an end-of-sequence token), and `_cache_ids` says so.
            held = ids + generated
            length = cache.get_seq_length()
            if length > len(held) - 1:
                cache.crop(len(held) - 1 - length)
            self._cache_ids = held[: cache.get_seq_length()]

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def _generation_guard(self) -> AbstractContextManager[object]:
        return self._generate_lock

    def _draft_model(
        self, request: GenerationRequest, prompt_ids: list[int]
    ) -> PromptLookup | None:
        """Prompt-lookup drafter for `request`, or None for plain decoding.

        Drafting needs greedy decoding (a sampled token cannot be verified by argmax),
        text to copy from (`request.draft_source`, the code being edited), the
        `speculative` flag, and the dynamic-cache path (not the static-cache fast path).
        """
        if (
            request.draft_source is None
            or request.temperature > 0
            or not self.speculative
            or not self._reuse_active()
            or (request.exact_drafts and not self.exact_drafts)
        ):
            return None
        source = list(
            self._tokenizer(request.draft_source, add_special_tokens=False)["input_ids"]
        )
        return PromptLookup(source, prompt_ids, self._draft_config_for_device())

    def _draft_config_for_device(self) -> DraftConfig:
        """A wider pass costs almost nothing more than a one-token pass on a GPU, so
        draft longer there (unless the caller chose the cost themselves)."""
        config = self.draft_config
        if self._device == "cuda" and config.cost_ratio == DraftConfig.cost_ratio:
            return dataclasses.replace(config, cost_ratio=GPU_COST_RATIO)
        return config

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        ids = self._encode(request.prompt)
        stats.prompt_tokens = len(ids)
        stats.prompt_tokens_evaluated = 0  # set by the worker as it evaluates
        if not ids:
            raise GenerationError("The prompt is empty.")
        if len(ids) >= self._n_ctx:
            raise GenerationError(
                f"The prompt has {len(ids)} tokens but the model's context is {self._n_ctx}; "
                "select less code."
            )
        budget = min(request.max_tokens, self._n_ctx - len(ids))
        if cancel.is_set() or budget <= 0:
            stats.finish("cancelled" if cancel.is_set() else "length")
            return
        tokens: queue.Queue[Any] = queue.Queue()
        halt = threading.Event()  # we stop it: stop string seen, or the caller went away
        lookup = self._draft_model(request, ids)  # None: plain decoding
        future = self._run(
            self._generate_ids, ids, budget, request.temperature, cancel, halt, tokens, stats,
            lookup,
        )
        stops = StopStringFilter(request.stop)
        decoder = _IncrementalDecoder(self._tokenizer)
        reason = "length"
        try:
            while True:
                try:
                    token = tokens.get(timeout=0.05)
                except queue.Empty:
                    if cancel.is_set():
                        reason = "cancelled"
                        break
                    continue
                if token is _END:
                    break
                stats.mark_first_token()
                if token in self._eos_ids:
                    reason = "eos"
                    break
                stats.completion_tokens += 1
                if isinstance(token, _Accepted):  # counted when used, not past a stop
                    stats.accepted_draft_tokens += 1
                    token = int(token)
                text = stops.feed(decoder.add(token))
                if text:
                    yield text
                if stops.stopped:
                    reason = "stop"
                    break
                if cancel.is_set():
                    reason = "cancelled"
                    break
        finally:
            halt.set()
            error = future.exception()  # waits: at most a token after `halt`
        if error is not None and reason != "cancelled":
            raise self._generation_failure(error, len(ids), budget)
        if cancel.is_set() and reason == "length":
            reason = "cancelled"
        if reason in ("eos", "length"):
            tail = stops.feed(decoder.flush()) + stops.flush()
            if stops.stopped:
                reason = "stop"
            if tail:
                yield tail
        stats.finish(reason)

    def _generation_failure(self, err: BaseException, prompt: int, budget: int) -> ModelError:
        if _is_oom(err):
            _free_cuda_memory()
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
