"""The embedded GGUF backend: llama.cpp through llama-cpp-python.

`llama_cpp` is imported only inside load(), so the server starts (and can report a
clear error) on machines where it is not installed.

Two llama-cpp-python habits matter for a language server on stdio:

* With ``verbose=False``, ``Llama()`` silences loading by dup2-ing /dev/null over file
  descriptors 1 and 2 for the whole process. Any LSP message another thread writes to
  stdout meanwhile is lost. So we always pass ``verbose=True`` (no fd games) and instead
  mute Python-level stderr writes of the loading thread only; the muted text is kept so
  load errors can quote llama.cpp's own reason.
* Its ``detokenize`` uses a 32-byte buffer per token and silently corrupts longer pieces
  (code vocabularies have long whitespace tokens), so pieces are decoded here.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import ctypes
import dataclasses
import io
import logging
import mmap
import multiprocessing
import struct
import sys
import threading
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TextIO

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
    GenerationError,
    ModelError,
    ModelFileError,
    ModelLoadError,
    ModelNotFoundError,
    OutOfMemoryError,
)
from model.speculative import (
    PROBE_TEXT,
    DraftConfig,
    PromptLookup,
    verify_greedy,
    wide_pass_matches,
)

logger = logging.getLogger(__name__)

# Default context when the caller asks for the model's own (n_ctx=0): StarCoder2 is
# trained on 16k tokens, but a 16k KV cache costs too much memory for an editor helper.
MAX_DEFAULT_CONTEXT = 8192
STARCODER2_INSTRUCT = "starcoder2-instruct"
# Relative cost of one more token in a verification pass when layers run on a GPU.
GPU_COST_RATIO = 0.05
# ggml's CPU backend switches its quantised matrix kernels to tiled ones from 8 rows
# (ggml-cpu/tiled: ggml_tiled_min_batch), and those round differently from the one-row
# kernels. Verification passes stay below that on a CPU, so a drafted row is computed as
# plain decoding computes it; 6 rather than 7, as even widths suit llamafile's sgemm (see
# DraftConfig.even_widths: on Gemma 3 270M a 7-row pass costs 3.47 one-row passes, a
# 6-row pass 2.52).
CPU_MAX_PASS_ROWS = 6
# ggml type id of Q8_0, for the V cache (see _context_options).
_GGML_TYPE_Q8_0 = 8

# --------------------------------------------------------------------------------------
# GGUF header check: catch wrong/truncated files with a useful message before llama.cpp
# (which would only say "failed to load model").

GGUF_MAGIC = b"GGUF"
# ggml type id -> (elements per block, bytes per block); from gguf-py's GGML_QUANT_SIZES.
_GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
    8: (32, 34), 9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144),
    13: (256, 176), 14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74),
    18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
    40: (64, 36), 41: (128, 18),
}  # fmt: skip
# GGUF metadata value types with a fixed size: type id -> struct format.
_SCALAR_FORMATS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9


class _GGUFCorrupt(Exception):
    """Internal: the header does not parse."""


class _HeaderReader:
    def __init__(self, data: mmap.mmap | bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise _GGUFCorrupt("header ends early")
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if self.pos + length > len(self.data):
            raise _GGUFCorrupt("header ends early")
        raw = bytes(self.data[self.pos : self.pos + length])
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, count = self.unpack("<I"), self.unpack("<Q")
            if item_type in _SCALAR_FORMATS:  # skip fixed-size arrays without reading
                self.pos += count * struct.calcsize(_SCALAR_FORMATS[item_type])
                if self.pos > len(self.data):
                    raise _GGUFCorrupt("header ends early")
            else:
                for _ in range(count):
                    self.value(item_type)
            return None  # arrays (token lists) are not needed here
        raise _GGUFCorrupt(f"unknown metadata type {vtype}")


def read_gguf_header(path: Path) -> dict[str, Any]:
    """Validate a GGUF file's header and size; return its scalar metadata.

    Raises ModelNotFoundError / ModelFileError with the path and a fix in the message.
    """
    if not path.exists():
        raise ModelNotFoundError(
            f"Model file not found: {path}. Point --model at a local .gguf file "
            "(or use a model preset name to download one)."
        )
    if not path.is_file():
        raise ModelFileError(f"{path} is not a regular file; --model must name a .gguf file.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(64)
        if head.startswith(b"version https://git-lfs"):
            raise ModelFileError(
                f"{path} is a Git LFS pointer, not the model itself; download the real "
                "file (git lfs pull, or the hub's download link)."
            )
        if not head.startswith(GGUF_MAGIC):
            raise ModelFileError(
                f"{path} is not a GGUF model file (it does not start with 'GGUF'). The "
                "llama.cpp backend needs a .gguf file; convert safetensors models with "
                "llama.cpp's convert_hf_to_gguf.py or use the transformers backend."
            )
        if size < 24:
            raise ModelFileError(f"{path} is truncated ({size} bytes); download it again.")
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _parse_header(path, data, size)
    finally:
        data.close()


def _parse_header(path: Path, data: mmap.mmap, size: int) -> dict[str, Any]:
    reader = _HeaderReader(data)
    reader.pos = 4
    try:
        version = reader.unpack("<I")
        if version not in (2, 3):
            raise ModelFileError(
                f"{path} uses GGUF version {version}, which this backend does not support."
            )
        n_tensors, n_kv = reader.unpack("<Q"), reader.unpack("<Q")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise _GGUFCorrupt("implausible tensor/metadata counts")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = reader.string()
            metadata[key] = reader.value(reader.unpack("<I"))
        data_end = 0
        for _ in range(n_tensors):
            reader.string()
            n_dims = reader.unpack("<I")
            if n_dims > 8:
                raise _GGUFCorrupt("implausible tensor rank")
            elements = 1
            for _ in range(n_dims):
                elements *= reader.unpack("<Q")
            ggml_type, offset = reader.unpack("<I"), reader.unpack("<Q")
            block, block_bytes = _GGML_TYPE_SIZES.get(ggml_type, (1, 0))
            data_end = max(data_end, offset + elements // block * block_bytes)
    except _GGUFCorrupt as err:
        raise ModelFileError(f"{path} is truncated or corrupt ({err}); download it again.") from err
    alignment = metadata.get("general.alignment") or 32
    data_start = (reader.pos + alignment - 1) // alignment * alignment
    expected = data_start + data_end
    if size < expected:
        raise ModelFileError(
            f"{path} is truncated: it has {size:,} bytes but its header describes "
            f"{expected:,}. The download was probably interrupted; download it again."
        )
    return metadata


# --------------------------------------------------------------------------------------


class _MutedThreadStream(io.TextIOBase):
    """Stands in for sys.stderr: drops (but remembers) writes from one thread only."""

    def __init__(self, inner: TextIO, thread_id: int) -> None:
        self._inner = inner
        self._thread_id = thread_id
        self.captured: collections.deque[str] = collections.deque(maxlen=200)

    def write(self, text: str) -> int:
        if threading.get_ident() == self._thread_id:
            self.captured.append(text)
            return len(text)
        return self._inner.write(text)

    def flush(self) -> None:
        self._inner.flush()

    def fileno(self) -> int:
        return self._inner.fileno()

    def error_lines(self) -> str:
        """The lines llama.cpp logged that look like the reason for a failure."""
        lines = "".join(self.captured).splitlines()
        hits = [ln.strip() for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
        return "; ".join(hits[-3:])


class _Cancelled(Exception):
    """Internal: the cancel event was seen between two evaluation batches."""


def _llama_class(llama_cpp: Any) -> Any:
    """A Llama subclass that counts evaluated tokens and can stop between batches.

    Counting what eval() receives is the exact number of tokens llama-cpp-python had to
    run after it reused the longest common prefix with the previous call's KV cache.
    """

    class CountingLlama(llama_cpp.Llama):  # type: ignore[misc, name-defined]
        tokens_evaluated = 0
        cancel_event: threading.Event | None = None

        def eval(self, tokens: Any) -> None:
            tokens = list(tokens)
            step = max(1, self.n_batch)
            for start in range(0, len(tokens), step):
                if self.cancel_event is not None and self.cancel_event.is_set():
                    raise _Cancelled
                chunk = tokens[start : start + step]
                super().eval(chunk)
                self.tokens_evaluated += len(chunk)

    return CountingLlama


@contextlib.contextmanager
def _without_repacking(llama_cpp: Any, enabled: bool) -> Iterator[None]:
    """Load without llama.cpp's CPU weight repacking ("extra buffer types").

    Repacked quantised weights use one kernel for a single token and another for several
    (gemv vs gemm), which round differently: a near tie between two tokens could then go
    one way in plain decoding and the other in a speculative verification pass.
    llama-cpp-python's Llama() has no argument for this, so the default model parameters
    are patched while it loads (under the backend's load lock).
    """
    module = llama_cpp.llama_cpp
    original = module.llama_model_default_params
    if not enabled or not hasattr(original(), "use_extra_bufts"):
        yield
        return

    def without_repacking() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    module.llama_model_default_params = without_repacking
    try:
        yield
    finally:
        module.llama_model_default_params = original


class LlamaCppBackend(Backend):
    """Runs a local GGUF model in-process with llama.cpp (CPU, CUDA or Metal)."""

    name = "llama.cpp"

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
        self.model_path = Path(model_path).expanduser()
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers
        self.n_threads = n_threads
        self.verbose = verbose
        # Prompt-lookup speculative decoding for requests with a draft_source (edits);
        # False forces plain decoding whatever the request says.
        self.speculative = speculative
        # Whether a verification pass was seen to compute its rows bit for bit as
        # one-token passes do (checked at load); drafts are exact only then.
        self.exact_drafts = False
        self.draft_config = draft_config or DraftConfig()
        self._llm: Any = None
        self._llama_cpp: Any = None
        self._vocab: Any = None
        self._info: ModelInfo | None = None
        self._load_lock = threading.Lock()
        # One generation at a time: the KV cache and sampler are per model.
        self._generate_lock = threading.Lock()
        self._pieces: dict[int, bytes] = {}

    # ---- loading ---------------------------------------------------------------------

    def load(self, progress: ProgressCallback | None = None) -> ModelInfo:
        report = progress or (lambda _p: None)
        with self._load_lock:
            if self._info is not None:
                report(LoadProgress("ready", f"{self._info.name} is loaded"))
                return self._info
            try:
                self._info = self._load(report)
            except ModelError as err:
                report(LoadProgress("error", str(err)))
                raise
            report(LoadProgress("ready", f"{self._info.name} is loaded", 1.0))
            return self._info

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
        trained = int(header.get(f"{arch}.context_length") or 4096)
        n_ctx = self.n_ctx if self.n_ctx > 0 else min(trained, MAX_DEFAULT_CONTEXT)

        muted = _MutedThreadStream(sys.stderr, threading.get_ident())
        saved_stderr = sys.stderr
        if not self.verbose:
            sys.stderr = muted
        options = self._context_options(llama_cpp, header)
        try:
            with _without_repacking(llama_cpp, self.speculative):
                llm = _llama_class(llama_cpp)(
                    model_path=str(self.model_path),
                    n_ctx=n_ctx,
                    n_gpu_layers=self.n_gpu_layers,
                    verbose=True,  # see the module docstring: False would hijack fd 1
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
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._pieces.clear()
        self.exact_drafts = False
        # Flash attention on several decode threads without a Q8_0 V cache: the
        # split single-query path (see _context_options).
        split = options.get("flash_attn") and options["n_threads"] > 1 and "type_v" not in options
        if self.speculative:
            if split:
                why = "its head size is not a multiple of 32 (see _context_options)"
            elif not self._rows_match_one_token_passes():
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

    def _on_cpu(self, llama_cpp: Any) -> bool:
        return self.n_gpu_layers == 0 or not bool(llama_cpp.llama_supports_gpu_offload())

    def _context_options(self, llama_cpp: Any, header: dict[str, Any]) -> dict[str, Any]:
        """Threads and attention settings; on a CPU, ones under which a row of a
        several-token pass is computed exactly as a one-token pass computes it.

        * Flash attention: without it the attention scores are a matrix product that
          llamafile's sgemm computes from two rows up, rounding unlike the one-row dot
          product. With it each query row is its own loop. It is also faster on CPU
          (Gemma 3 270M, 1 thread: prompt 13 %, decoding 6 %) and llama.cpp's own default.
        * With several threads, flash attention splits a single query's keys across them
          once the context reaches 512 (ggml-cpu ops.cpp, use_split_kv_path) and adds the
          parts up in a different order. That path needs K and V of one type, so the V
          cache is Q8_0 then (half the memory; a common, near-lossless choice). Q8_0
          needs head sizes in multiples of 32; with other sizes drafts are not exact.
        """
        threads = self.n_threads or max(multiprocessing.cpu_count() // 2, 1)
        options: dict[str, Any] = {
            "n_threads": threads,
            # Like llama.cpp's -t: batches (prompts, verification passes) too.
            "n_threads_batch": self.n_threads or None,
        }
        if self.speculative and self._on_cpu(llama_cpp):
            options["flash_attn"] = True
            if threads > 1:
                arch = header.get("general.architecture", "")
                heads = int(header.get(f"{arch}.attention.head_count") or 1)
                width = int(header.get(f"{arch}.embedding_length") or 0) // max(heads, 1)
                head_v = int(header.get(f"{arch}.attention.value_length") or width)
                if head_v > 0 and head_v % 32 == 0:
                    options["type_v"] = _GGML_TYPE_Q8_0
        return options

    def _rows_match_one_token_passes(self) -> bool:
        """Evaluate a probe one token at a time and in one pass; compare the logits.

        What drafting relies on, checked on this model, build and device rather than
        assumed: another GGUF type, a GPU or a new llama.cpp may round differently.
        """
        llm = self._llm

        def restart(head: list[int]) -> None:
            llm.reset()
            llm.eval(head)

        try:
            return wide_pass_matches(
                self._tokenize(PROBE_TEXT), restart,
                lambda step: self._decode_rows(step, llm.n_tokens).copy(),
            )
        except Exception as err:  # a failed probe must not fail the load
            logger.warning("speculative exactness check failed: %s", err)
            return False
        finally:
            llm.reset()

    def _decode_rows(self, step: list[int], n_past: int) -> Any:
        """One forward pass over `step` at positions n_past...; the logits of every row
        (a view into llama.cpp's buffer, valid until the next pass)."""
        import numpy as np

        llm, llama_cpp = self._llm, self._llama_cpp
        raw = llm._batch.batch
        raw.n_tokens = len(step)
        for i, token in enumerate(step):
            raw.token[i] = token
            raw.pos[i] = n_past + i
            raw.seq_id[i][0] = 0
            raw.n_seq_id[i] = 1
            raw.logits[i] = True
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + len(step)] = step
        llm.n_tokens = n_past + len(step)
        return np.ctypeslib.as_array(
            llama_cpp.llama_get_logits(llm._ctx.ctx), shape=(len(step), llm.n_vocab())
        )

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
        family = None
        if template and "### Instruction" in template and "### Response" in template:
            family = STARCODER2_INSTRUCT
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        fim = self._tokenize("<fim_prefix>")
        return ModelInfo(
            name=meta.get("general.name") or self.model_path.stem,
            context_length=llm.n_ctx() or n_ctx,
            prompt_family=family,
            chat_template=template,
            bos_token=self._piece(bos_id).decode("utf-8", "replace") if bos_id >= 0 else "",
            eos_token=self._piece(eos_id).decode("utf-8", "replace") if eos_id >= 0 else "",
            supports_fim=len(fim) == 1 and self._piece(fim[0]) == b"<fim_prefix>",
        )

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise ModelLoadError("The model is not loaded yet.")
        return self._info

    def close(self) -> None:
        with self._generate_lock, self._load_lock:
            if self._llm is not None:
                self._llm.close()
            self._llm = None
            self._info = None

    # ---- tokens ----------------------------------------------------------------------

    def _tokenize(self, text: str) -> list[int]:
        """Tokens of `text`, parsing special tokens; BOS only if the model wants one."""
        tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        bos = self._llm.token_bos()
        # A prompt rendered from a chat template may already start with the BOS text;
        # then a model that prepends BOS itself (not StarCoder2) would get it twice.
        doubled = len(tokens) >= 2 and tokens[0] == bos and tokens[1] == bos
        if doubled and self._llama_cpp.llama_vocab_get_add_bos(self._vocab):
            tokens = tokens[1:]
        return tokens

    def _piece(self, token: int, special: bool = True) -> bytes:
        """The bytes of one token (llama-cpp-python's own helper truncates at 32 bytes)."""
        key = token if special else -token - 1
        cached = self._pieces.get(key)
        if cached is not None:
            return cached
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, special)
            if n >= 0:
                break
            size = -n
        piece = buf.raw[:n]
        self._pieces[key] = piece
        return piece

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

    def _generation_guard(self) -> AbstractContextManager[object]:
        return self._generate_lock

    def _draft_model(
        self, request: GenerationRequest, prompt_tokens: list[int]
    ) -> PromptLookup | None:
        """Prompt-lookup drafter for `request`, or None for plain decoding.

        Drafting needs greedy decoding (a sampled token cannot be verified by argmax),
        text to copy from (`request.draft_source`, the code being edited; None when
        the `speculative` setting is off or the request is not an edit), and, for a
        request that wants plain decoding's exact output, a passed load-time check.
        """
        if request.draft_source is None or request.temperature > 0 or not self.speculative:
            return None
        if request.exact_drafts and not self.exact_drafts:
            return None
        source = self._llm.tokenize(
            request.draft_source.encode("utf-8"), add_bos=False, special=False
        )
        return PromptLookup(source, prompt_tokens, self._draft_config_for_device())

    def _generate(
        self, request: GenerationRequest, cancel: threading.Event, stats: GenerationStats
    ) -> Iterator[str]:
        llm = self._llm
        tokens = self._tokenize(request.prompt)
        n_ctx = llm.n_ctx()
        stats.prompt_tokens = len(tokens)
        if not tokens:
            raise GenerationError("The prompt is empty.")
        if len(tokens) >= n_ctx:
            raise GenerationError(
                f"The prompt has {len(tokens)} tokens but the model's context is {n_ctx}; "
                "select less code."
            )
        budget = min(request.max_tokens, n_ctx - len(tokens))
        lookup = self._draft_model(request, tokens)  # None: plain decoding
        if cancel.is_set():
            stats.finish("cancelled")
            return

        stops = StopStringFilter(request.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        evaluated_before = llm.tokens_evaluated
        llm.cancel_event = cancel
        sampler: Generator[int, Any, None]
        if lookup is not None:
            sampler = self._speculative_tokens(tokens, budget, lookup, stats)
        else:
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
                if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    reason = "eos"
                    break
                stats.completion_tokens += 1
                text = stops.feed(decoder.decode(self._piece(token, special=False)))
                if text:
                    yield text
                if stops.stopped:
                    reason = "stop"
                    break
                if cancel.is_set():
                    reason = "cancelled"
                    break
                if stats.completion_tokens >= budget:
                    break
        except _Cancelled:
            reason = "cancelled"
        except RuntimeError as err:  # llama_decode failures
            raise GenerationError(f"llama.cpp failed while generating: {err}") from err
        finally:
            sampler.close()
            llm.cancel_event = None
            if first:  # stopped during the prompt: report what was evaluated
                stats.prompt_tokens_evaluated = llm.tokens_evaluated - evaluated_before
        if reason in ("eos", "length"):
            tail = stops.feed(decoder.decode(b"", final=True))
            tail += stops.flush()
            if stops.stopped:
                reason = "stop"
            if tail:
                yield tail
        stats.finish(reason)

    def _draft_config_for_device(self) -> DraftConfig:
        """A wide pass costs almost nothing more than a one-token pass on a GPU, so
        draft longer there (unless the caller chose the cost themselves); on a CPU,
        passes stay under the tiled kernels' row count."""
        config = self.draft_config
        if self._on_cpu(self._llama_cpp):
            return dataclasses.replace(
                config, k_max=min(config.k_max, CPU_MAX_PASS_ROWS - 1), even_widths=True
            )
        if config.cost_ratio == DraftConfig.cost_ratio:
            return dataclasses.replace(config, cost_ratio=GPU_COST_RATIO)
        return config

    def _speculative_tokens(
        self, tokens: list[int], budget: int, lookup: PromptLookup, stats: GenerationStats
    ) -> Generator[int, Any, None]:
        """Greedy tokens, several per forward pass when the drafts are right.

        Our own draft-and-verify loop on llama-cpp-python's low-level API (its
        LlamaPromptLookupDecoding drafts a fixed number of tokens and re-evaluates the
        prompt suffix through the high-level sampler, which made it barely faster on
        CPU). Each step decodes ``[last] + draft`` with logits for every position,
        keeps the longest draft prefix the argmax agrees with plus the model's own token
        at the first disagreement (exactly plain greedy decoding's tokens), and removes
        the rejected positions from the KV cache. `llm.input_ids`/`n_tokens` are kept
        in step with the cache so the next request's prefix reuse works either way.
        """
        import numpy as np  # a dependency of llama-cpp-python, so present here

        llm, llama_cpp = self._llm, self._llama_cpp
        ctx = llm._ctx
        n_vocab, n_ctx = llm.n_vocab(), llm.n_ctx()
        # Reuse the longest common prefix of the KV cache (as Llama.generate does), but
        # always evaluate at least the last prompt token: its logits give token one.
        limit = min(llm.n_tokens, len(tokens) - 1)
        same = np.asarray(llm.input_ids[:limit]) == np.asarray(tokens[:limit], dtype=np.intc)
        reuse = limit if same.all() else int(np.argmin(same))
        if reuse > 0 and ctx.kv_cache_seq_rm(-1, reuse, -1):
            llm.n_tokens = reuse
        else:
            llm.reset()
        llm._requires_eval = True  # the context's logits will not be the prompt's own
        llm.eval(tokens[llm.n_tokens :])
        last_row = llama_cpp.llama_get_logits_ith(ctx.ctx, -1)
        last = int(np.ctypeslib.as_array(last_row, shape=(n_vocab,)).argmax())
        lookup.observe([last])
        yield last
        produced = 1
        while True:
            n_past = llm.n_tokens
            # Draft no further than the answer's budget and the context allow.
            room = min(budget - produced, n_ctx - n_past) - 1
            draft = lookup.draft(room) if room > 0 else []
            logits = self._decode_rows([last, *draft], n_past)
            result = verify_greedy(draft, logits.argmax(axis=1).tolist())
            # Keep the cache for `last` and the accepted drafts; the last token is the
            # model's own and is evaluated by the next pass.
            keep = n_past + len(result.tokens)
            if keep < llm.n_tokens:
                ctx.kv_cache_seq_rm(-1, keep, -1)
            llm.n_tokens = keep
            lookup.update(result)
            stats.drafted_tokens += result.drafted
            last = result.tokens[-1]
            for index, token in enumerate(result.tokens):
                if index < result.accepted:  # counted when used, not past a stop
                    stats.accepted_draft_tokens += 1
                yield token
                produced += 1
