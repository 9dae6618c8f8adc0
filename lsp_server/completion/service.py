"""The inline completion service: one request at a time from keystroke to answer.

Requests come with every keystroke, so the rules are: one completion at a time (a newer
request sets the older one's stop event, which the backend checks between tokens and
between prompt batches, so its *generation* stops, not only its answer); a debounce
before any work; a time budget after which the whole lines generated so far are
returned; and never an error to the client (failures are logged, the answer is empty).

The model: `completionModel` when set (a GGUF path, a preset name, or "auto" for the
StarCoder2 base preset that suits this machine's memory), else the edit model serves
fill-in-the-middle if its vocabulary has the FIM tokens (ModelInfo.supports_fim).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server.completion.fim_window import (
    DEFAULT_ORDER,
    FimBudget,
    FimPrompt,
    build_prompt,
    stop_strings,
)
from lsp_server.completion.jobs import Job
from lsp_server.completion.model_choice import loads_without_download, resolve_completion_model
from lsp_server.completion.multiline import is_multiline_position
from lsp_server.completion.snapshot import Snapshot, take_snapshot
from lsp_server.completion.stats import STATS_KEPT, completion_report
from lsp_server.completion.trimming import postprocess
from lsp_server.models import ModelHost
from lsp_server.prompts import templates as t

if TYPE_CHECKING:
    from lsp_server.server import StarcoderServer
    from model.base import Backend, ModelInfo

log = logging.getLogger(__name__)

# Prompt size when the context allows it: enough code around the cursor, small enough
# that a first request on a CPU stays in seconds (later ones reuse the cache).
PROMPT_TOKENS = 2048
CONTEXT_MARGIN = 16
SINGLE_LINE_TOKENS = 64
INITIAL_CHARS_PER_TOKEN = 3.0
CALIBRATION_CHARS = 8000
LOAD_RETRY_S = 30.0


@dataclass
class Answer:
    text: str
    replace_chars: int
    line: int
    column: int
    line_text: str
    language: str
    stats: dict[str, Any]


class InlineCompletions:
    """State shared by the completion requests of one server."""

    def __init__(self, server: StarcoderServer) -> None:
        self.ls = server
        self.order = DEFAULT_ORDER
        self.history: deque[dict[str, Any]] = deque(maxlen=STATS_KEPT)
        self.counters: Counter[str] = Counter()
        self._seq = 0
        self._current: Job | None = None
        self._loading: dict[int, asyncio.Future[Backend]] = {}
        self._load_failed: dict[int, tuple[float, str]] = {}
        self._chars_per_token: dict[int, float] = {}
        self._repo_form: dict[int, bool] = {}
        self._warned: set[str] = set()

    # ---- the model -------------------------------------------------------------------

    def host(self) -> ModelHost:
        """The completion model's host, created on first use; the edit model's host when
        no completion model is set."""
        ls = self.ls
        if not ls.settings.completion_model:
            return ls.models
        if ls.completion_models is None:
            ls.completion_models = ModelHost(ls.settings, self._status, completion=True)
        host = ls.completion_models
        name = host.settings.completion_model
        resolved = resolve_completion_model(name)
        if resolved != name:
            host.settings = dataclasses.replace(host.settings, completion_model=resolved)
        return host

    def _status(self, status: dict[str, Any]) -> None:
        self.ls._status_threadsafe({**status, "role": "completion"})

    async def _backend(self, host: ModelHost, job: Job) -> Backend | None:
        """The loaded backend. A load is started once and shared; requests that come
        while it runs give up when superseded (the load goes on: typing must not abort
        a download). A failed load is retried after LOAD_RETRY_S or a settings change."""
        if host.loaded:
            return host.get()
        if host is self.ls.models and not loads_without_download(host.settings):
            self._warn_once("wait", "inline completion waits for the edit model to be "
                            "downloaded and loaded (by an edit, starcoder/loadModel or "
                            "loadOnStart): typing never starts a download")
            return None
        key = id(host)
        name = host._model_name()
        failed = self._load_failed.get(key)
        if failed and failed[1] == name and time.monotonic() - failed[0] < LOAD_RETRY_S:
            return None
        future = self._loading.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self.ls.thread_pool, host.get)
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._loading[key] = future
        while not future.done():
            await asyncio.wait([future], timeout=0.05)
            if job.superseded:
                return None
        self._loading.pop(key, None)
        try:
            return future.result()
        except Exception as err:  # ModelError: the host already reported it
            log.warning("completion model unavailable: %s", err)
            self._load_failed[key] = (time.monotonic(), name)
            return None

    # ---- one request -----------------------------------------------------------------

    async def complete(self, uri: str, position: types.Position, *, invoked: bool,
                       source: str) -> Answer | None:
        """Serve one request; None when there is nothing to show (never raises, except
        asyncio.CancelledError for a request the client cancelled)."""
        settings = self.ls.settings
        if not settings.inline_completion:
            return None
        entered = time.perf_counter()
        self._seq += 1
        job = Job(self._seq)
        previous, self._current = self._current, job
        if previous is not None:
            previous.supersede()
        entry: dict[str, Any] = {"id": job.seq, "source": source, "uri": uri,
                                 "line": position.line, "character": position.character,
                                 "outcome": "", "debounce_ms": 0.0}
        try:
            debounce = 0.0 if invoked else settings.completion_debounce_ms / 1000
            if debounce:
                await asyncio.sleep(debounce)
                entry["debounce_ms"] = round((time.perf_counter() - entered) * 1000, 3)
            if job.superseded:
                self.counters["debounced"] += 1
                return None
            host = self.host()
            job.phase = "loading"
            backend = await self._backend(host, job)
            if backend is None:
                self.counters["superseded" if job.superseded else "no_model"] += 1
                return None
            loop = asyncio.get_running_loop()
            job.phase = "generating"
            work_start = time.perf_counter()
            # The time budget (never past requestTimeout, the limit on every generation):
            # on the loop, so no timer thread per keystroke.
            budget_s = min(settings.completion_time_budget_ms / 1000, settings.request_timeout_s)
            deadline = loop.call_later(budget_s, job.expire)
            try:
                answer = await loop.run_in_executor(
                    self.ls.thread_pool, self._work, host, backend, job, uri, position, entry)
            finally:
                deadline.cancel()
            entry["work_ms"] = round((time.perf_counter() - work_start) * 1000, 3)
            if job.superseded:
                entry["outcome"] = "superseded"
                return None
            if answer is None:
                return None
            doc = self.ls.documents.get(uri)
            if doc is None or doc.version != entry.get("version"):
                entry["outcome"] = "stale"
                return None
            return answer
        except asyncio.CancelledError:
            job.supersede()
            entry["outcome"] = "cancelled"
            raise
        except Exception:  # never let a completion failure reach the client
            log.exception("inline completion failed")
            entry["outcome"] = "error"
            return None
        finally:
            if self._current is job:
                self._current = None
            if "work_ms" in entry:
                total = (time.perf_counter() - entered) * 1000 - entry["debounce_ms"]
                entry["total_ms"] = round(total, 3)
                entry["server_overhead_ms"] = round(
                    total - entry.get("backend_ms", 0.0) - entry.get("queue_ms", 0.0), 3)
                self.counters[entry["outcome"] or "unknown"] += 1
                self.history.append(entry)

    def _work(self, host: ModelHost, backend: Backend, job: Job, uri: str,
              position: types.Position, entry: dict[str, Any]) -> Answer | None:
        """Worker thread: prompt, generation (stopped by `job.stop`), clean-up."""
        from model.errors import BusyError, ModelError
        from model.queue import CancelledWhileWaiting

        try:
            return self._generate(host, backend, job, uri, position, entry)
        except CancelledWhileWaiting:
            entry["outcome"] = "superseded" if job.superseded else "budget"
        except BusyError:
            entry["outcome"] = "busy"
        except ModelError as err:
            log.warning("inline completion: %s", err)
            entry["outcome"] = "error"
            entry["error"] = str(err)
        return None

    def _generate(self, host: ModelHost, backend: Backend, job: Job, uri: str,
                  position: types.Position, entry: dict[str, Any]) -> Answer | None:
        from lsp_server.edits.reindent import detect_indent_unit
        from model.base import GenerationRequest, GenerationStats
        from model.errors import GenerationError

        doc = self.ls.documents.get(uri)
        if doc is None:
            entry["outcome"] = "no_document"
            return None
        snap = take_snapshot(self.ls, doc, position)
        entry["version"] = snap.version
        info = backend.info
        if not info.supports_fim:
            self._warn_no_fim(info.name)
            entry["outcome"] = "no_fim"
            return None
        settings = self.ls.settings
        multiline = is_multiline_position(snap.text, snap.offset, snap.spec, snap.tree)
        max_tokens = settings.completion_max_tokens
        if not multiline:
            max_tokens = min(max_tokens, SINGLE_LINE_TOKENS)
        prompt_budget = self._prompt_tokens(info, max_tokens)
        prompt = self._prompt(backend, snap, prompt_budget)
        entry.update(mode="multi" if multiline else "single", order=prompt.order,
                     prompt_chars=len(prompt.text), prefix_start=prompt.prefix_start)
        request = GenerationRequest(prompt=prompt.text, max_tokens=max_tokens,
                                    stop=stop_strings(multiline),
                                    temperature=0.0, fim=True)
        stats = GenerationStats()
        pieces: list[str] = []
        queued = time.perf_counter()
        try:
            with host.queue.slot(job.stop):
                started = time.perf_counter()
                entry["queue_ms"] = round((started - queued) * 1000, 3)
                stats.started_at = started
                stream: Iterator[str] = backend.generate(request, job.stop, stats)
                try:
                    pieces.extend(stream)
                finally:
                    close = getattr(stream, "close", None)
                    if close is not None:
                        close()
                entry["backend_ms"] = round((time.perf_counter() - started) * 1000, 3)
        except GenerationError:
            self._learn(backend, stats, prompt_budget)
            raise
        self._learn(backend, stats, prompt_budget)
        raw = "".join(pieces)
        entry.update(
            prompt_tokens=stats.prompt_tokens,
            prompt_tokens_evaluated=stats.prompt_tokens_evaluated,
            completion_tokens=stats.completion_tokens, stop_reason=stats.stop_reason,
            raw=raw[:400],
        )
        if job.superseded:
            entry["outcome"] = "superseded"
            return None
        window = snap.text[prompt.prefix_start:snap.offset + prompt.suffix_chars]
        cleaned = postprocess(
            raw, text=snap.text, offset=snap.offset, multiline=multiline, spec=snap.spec,
            tree=snap.tree, indent_unit=lambda: detect_indent_unit(window),
            stopped_early=job.budget_hit or stats.stop_reason == "cancelled",
            length_limited=stats.stop_reason == "length",
        )
        entry.update(trims=cleaned.trims, text_chars=len(cleaned.text),
                     budget_hit=job.budget_hit)
        if not cleaned.text:
            entry["outcome"] = "empty"
            return None
        entry["outcome"] = "ok"
        language = snap.spec.fence if snap.spec is not None else ""
        return Answer(cleaned.text, cleaned.replace_chars, snap.line, snap.column,
                      snap.line_text, language, entry)

    # ---- prompt ----------------------------------------------------------------------

    def _prompt_tokens(self, info: ModelInfo, max_tokens: int) -> int:
        return max(128, min(PROMPT_TOKENS, info.context_length - max_tokens - CONTEXT_MARGIN))

    def _prompt(self, backend: Backend, snap: Snapshot, tokens: int) -> FimPrompt:
        key = id(backend)
        cpt = self._chars_per_token.get(key)
        if cpt is None:
            cpt = self._calibrate(backend, snap.text)
        repo_form = self._repo_form.get(key)
        if repo_form is None:
            try:
                repo_form = backend.count_tokens(t.FILE_SEP) == 1
            except Exception:
                repo_form = False
            self._repo_form[key] = repo_form
        budget = FimBudget.for_tokens(tokens, cpt)
        return build_prompt(
            snap.text, snap.offset, budget=budget, order=self.order, path=snap.path,
            repo=snap.repo, other_files=snap.others, repo_form=repo_form)

    def _calibrate(self, backend: Backend, text: str) -> float:
        """Characters per token of this model on real code, measured once on a sample
        of the document (a slightly low estimate keeps prompts within budget)."""
        sample = text[:CALIBRATION_CHARS]
        if len(sample) < 1000:
            return INITIAL_CHARS_PER_TOKEN  # too little to measure; try again later
        try:
            count = backend.count_tokens(sample)
        except Exception:
            count = 0
        cpt = min(6.0, max(1.0, 0.95 * len(sample) / count)) if count else (
            INITIAL_CHARS_PER_TOKEN)
        self._chars_per_token[id(backend)] = cpt
        return cpt

    def _learn(self, backend: Backend, stats: Any, tokens: int) -> None:
        """A prompt longer than its budget: lower the estimate (only ever lowered, so
        the windows do not oscillate)."""
        if stats.prompt_tokens > tokens * 1.05:
            key = id(backend)
            cpt = self._chars_per_token.get(key, INITIAL_CHARS_PER_TOKEN)
            self._chars_per_token[key] = max(0.5, cpt * 0.95 * tokens / stats.prompt_tokens)

    def _warn_no_fim(self, name: str) -> None:
        self._warn_once(name, f"{name} does not support fill-in-the-middle, so there are "
                        "no inline completions; set starcoder.completionModel (for example "
                        '"auto" or "starcoder2-3b")')

    def _warn_once(self, key: str, text: str) -> None:
        """Tell the user once (in the editor's log, never a pop-up)."""
        if key in self._warned:
            return
        self._warned.add(key)
        message = f"StarCoder: {text}"
        log.warning(message)
        loop = self.ls.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.ls.log_to_client, message,
                                      types.MessageType.Warning)

    # ---- stats -----------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The history and counters kept here, and the request running now."""
        return completion_report(self.history, self.counters, self._current)
