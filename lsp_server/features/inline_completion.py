"""textDocument/inlineCompletion (LSP 3.18) and, for clients without it,
textDocument/completion carrying the same completion; starcoder/completionStats.

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
import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server import completion
from lsp_server.models import ModelHost
from lsp_server.positions import from_code_points

if TYPE_CHECKING:
    from tree_sitter import Tree

    from lsp_server.documents import Document
    from lsp_server.extraction.languages import LanguageSpec
    from lsp_server.server import StarcoderServer
    from lsp_server.settings import Settings
    from model.base import Backend, ModelInfo

log = logging.getLogger(__name__)

REQ_COMPLETION_STATS = "starcoder/completionStats"
STATS_KEPT = 256
# Prompt size when the context allows it: enough code around the cursor, small enough
# that a first request on a CPU stays in seconds (later ones reuse the cache).
PROMPT_TOKENS = 2048
CONTEXT_MARGIN = 16
SINGLE_LINE_TOKENS = 64
INITIAL_CHARS_PER_TOKEN = 3.0
CALIBRATION_CHARS = 8000
LOAD_RETRY_S = 30.0
MAX_OTHER_FILES = 8
_WORD_RE = re.compile(r"[\w$]*$")


class _Job:
    """One request's cancellation state. `stop` is what the backend watches."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.stop = threading.Event()
        self.superseded = False
        self.budget_hit = False
        self.phase = "debounce"  # then "loading", "generating"

    def supersede(self) -> None:
        self.superseded = True
        self.stop.set()

    def expire(self) -> None:
        self.budget_hit = True
        self.stop.set()


@dataclass
class _Snapshot:
    """The document as the worker sees it (taken under the document's lock)."""

    version: int
    text: str
    offset: int
    line: int
    column: int
    line_text: str
    spec: LanguageSpec | None
    tree: completion.TreeSource
    path: str | None
    repo: str | None
    others: list[tuple[str, str]]


class _LazyTree:
    """The document's tree at the snapshot's version, parsed only if a rule asks for it
    (None once the document has moved on: the rules then parse the snapshot text)."""

    def __init__(self, doc: Document, version: int) -> None:
        self._doc, self._version = doc, version
        self._tree: Tree | None = None
        self._done = False

    def __call__(self) -> Tree | None:
        if not self._done:
            self._done = True
            with self._doc.lock:
                if self._doc.version == self._version:
                    tree = self._doc.tree
                    # didChange edits the tree in place: keep our own copy
                    self._tree = tree.copy() if tree is not None else None
        return self._tree


@dataclass
class Answer:
    text: str
    replace_chars: int
    line: int
    column: int
    line_text: str
    language: str
    stats: dict[str, Any]


def resolve_completion_model(name: str) -> str:
    """`auto`: the StarCoder2 base preset whose size suits this machine's memory."""
    if name.strip().lower() != "auto":
        return name
    from model.presets import default_completion_preset

    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, OSError, ValueError):
        memory_gb = 16.0
    return default_completion_preset(memory_gb)


def _loads_without_download(settings: Settings) -> bool:
    """Whether loading the edit model needs no download: a served model, a local file
    or folder, or a preset whose GGUF is already in the models folder."""
    if settings.endpoint or settings.backend == "openai":
        return True
    from pathlib import Path

    from model.download import local_gguf_path, models_dir

    if settings.model.endswith(".gguf") or Path(settings.model).expanduser().exists():
        return True  # a file or folder (a missing .gguf fails fast, it is not fetched)
    try:
        return local_gguf_path(settings.model, models_dir(settings.models_dir)).exists()
    except Exception:  # not a preset (a hub id): the transformers backend would download
        return False


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class InlineCompletions:
    """State shared by the completion requests of one server."""

    def __init__(self, server: StarcoderServer) -> None:
        self.ls = server
        self.order = completion.DEFAULT_ORDER
        self.history: deque[dict[str, Any]] = deque(maxlen=STATS_KEPT)
        self.counters: Counter[str] = Counter()
        self._seq = 0
        self._current: _Job | None = None
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

    async def _backend(self, host: ModelHost, job: _Job) -> Backend | None:
        """The loaded backend. A load is started once and shared; requests that come
        while it runs give up when superseded (the load goes on: typing must not abort
        a download). A failed load is retried after LOAD_RETRY_S or a settings change."""
        if host.loaded:
            return host.get()
        if host is self.ls.models and not _loads_without_download(host.settings):
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
        job = _Job(self._seq)
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
            # The time budget: on the loop, so no timer thread per keystroke.
            deadline = loop.call_later(settings.completion_time_budget_ms / 1000, job.expire)
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

    def _work(self, host: ModelHost, backend: Backend, job: _Job, uri: str,
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

    def _generate(self, host: ModelHost, backend: Backend, job: _Job, uri: str,
                  position: types.Position, entry: dict[str, Any]) -> Answer | None:
        from lsp_server.edits.reindent import detect_indent_unit
        from model.base import GenerationRequest, GenerationStats
        from model.errors import GenerationError

        doc = self.ls.documents.get(uri)
        if doc is None:
            entry["outcome"] = "no_document"
            return None
        snap = self._snapshot(doc, position)
        entry["version"] = snap.version
        info = backend.info
        if not info.supports_fim:
            self._warn_no_fim(info.name)
            entry["outcome"] = "no_fim"
            return None
        settings = self.ls.settings
        multiline = completion.is_multiline_position(snap.text, snap.offset, snap.spec,
                                                     snap.tree)
        max_tokens = settings.completion_max_tokens
        if not multiline:
            max_tokens = min(max_tokens, SINGLE_LINE_TOKENS)
        prompt_budget = self._prompt_tokens(info, max_tokens)
        prompt = self._prompt(backend, snap, prompt_budget)
        entry.update(mode="multi" if multiline else "single", order=prompt.order,
                     prompt_chars=len(prompt.text), prefix_start=prompt.prefix_start)
        request = GenerationRequest(prompt=prompt.text, max_tokens=max_tokens,
                                    stop=completion.stop_strings(multiline),
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
        cleaned = completion.postprocess(
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

    def _snapshot(self, doc: Document, position: types.Position) -> _Snapshot:
        encoding = self.ls.encoding
        with doc.lock:
            version, text = doc.version, doc.text
            line, column = doc.client_to_points(position.line, position.character, encoding)
            offset = doc.offset_at(line, column)
            spec = doc.spec
        line_start = text.rfind("\n", 0, offset) + 1
        line_end = text.find("\n", offset)
        line_text = text[line_start:len(text) if line_end == -1 else line_end].rstrip("\r")
        path, repo = self._paths(doc.uri)
        others: list[tuple[int, str, str]] = []
        for other in self.ls.documents.all():
            if other.uri == doc.uri:
                continue
            same = spec is not None and other.spec is not None and other.spec.id == spec.id
            others.append((0 if same else 1, self._paths(other.uri)[0] or other.uri,
                           other.text))
        others.sort(key=lambda item: (item[0], item[1]))
        return _Snapshot(version, text, offset, line, column, line_text, spec,
                         _LazyTree(doc, version), path, repo,
                         [(p, c) for _, p, c in others[:MAX_OTHER_FILES]])

    def _paths(self, uri: str) -> tuple[str | None, str | None]:
        """Path relative to the workspace root (the repository form's file name) and the
        root's folder name (its repository name)."""
        from pygls.uris import to_fs_path

        fs_path = to_fs_path(uri)
        if not fs_path:
            return None, None
        try:
            root = self.ls.workspace.root_path
        except RuntimeError:
            root = None
        try:
            inside = bool(root) and os.path.commonpath([root, fs_path]) == os.path.normpath(
                root)
        except ValueError:  # another drive, or a relative path
            inside = False
        if root and inside:
            return (os.path.relpath(fs_path, root).replace(os.sep, "/"),
                    os.path.basename(os.path.normpath(root)) or None)
        return os.path.basename(fs_path), None

    def _prompt_tokens(self, info: ModelInfo, max_tokens: int) -> int:
        return max(128, min(PROMPT_TOKENS, info.context_length - max_tokens - CONTEXT_MARGIN))

    def _prompt(self, backend: Backend, snap: _Snapshot, tokens: int) -> completion.FimPrompt:
        key = id(backend)
        cpt = self._chars_per_token.get(key)
        if cpt is None:
            cpt = self._calibrate(backend, snap.text)
        repo_form = self._repo_form.get(key)
        if repo_form is None:
            try:
                repo_form = backend.count_tokens(completion.t.FILE_SEP) == 1
            except Exception:
                repo_form = False
            self._repo_form[key] = repo_form
        budget = completion.FimBudget.for_tokens(tokens, cpt)
        return completion.build_prompt(
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
        """Recent requests and their p50/p95 (for starcoder/completionStats)."""
        served = [e for e in self.history if "prompt_tokens" in e]
        ratios = [e["prompt_tokens_evaluated"] / e["prompt_tokens"] for e in served
                  if e.get("prompt_tokens")]
        overheads = [e["server_overhead_ms"] for e in served if "server_overhead_ms" in e]
        totals = [e["total_ms"] for e in served if "total_ms" in e]
        summary = {
            "generated": len(served),
            "evaluated_ratio_p50": round(_percentile(ratios, 0.5), 4),
            "evaluated_ratio_p95": round(_percentile(ratios, 0.95), 4),
            "server_overhead_ms_p50": round(_percentile(overheads, 0.5), 3),
            "latency_ms_p50": round(_percentile(totals, 0.5), 3),
            "latency_ms_p95": round(_percentile(totals, 0.95), 3),
            "mean_prompt_tokens": round(
                sum(e["prompt_tokens"] for e in served) / max(1, len(served)), 1),
        }
        current = self._current
        running = {"id": current.seq, "phase": current.phase} if current else None
        return {"requests": list(self.history), "counters": dict(self.counters),
                "summary": summary, "running": running}


# ---- LSP side ----------------------------------------------------------------------------


def _client_edits_lines(ls: StarcoderServer) -> bool:
    """Whether the client's completion UI can insert several lines. Clients without
    snippet support (Neovim's omnifunc) insert an item's text as a Vim word, where a
    newline becomes a NUL: they get the first line only."""
    try:
        text_document = ls.client_capabilities.text_document
        item = text_document.completion.completion_item  # type: ignore[union-attr]
        return bool(item is not None and item.snippet_support)
    except Exception:
        return False


def client_has_inline_completion(ls: StarcoderServer) -> bool:
    try:
        text_document = ls.client_capabilities.text_document
    except Exception:  # before initialize
        return False
    return text_document is not None and text_document.inline_completion is not None


def _advertise(ls: StarcoderServer, caps: types.ServerCapabilities) -> None:
    """pygls does not build inlineCompletionProvider; the completion fallback is offered
    only to clients that lack inline completion (the same text twice would be noise)."""
    enabled = ls.settings.inline_completion
    caps.inline_completion_provider = types.InlineCompletionOptions() if enabled else None
    if not enabled or client_has_inline_completion(ls):
        caps.completion_provider = None


def _units(answer: Answer, ls: StarcoderServer, column: int) -> int:
    return from_code_points(answer.line_text, column, ls.encoding)


def inline_items(ls: StarcoderServer, answer: Answer | None,
                 position: types.Position) -> types.InlineCompletionList:
    if answer is None:
        return types.InlineCompletionList(items=[])
    rng = None
    if answer.replace_chars:
        end = _units(answer, ls, answer.column + answer.replace_chars)
        rng = types.Range(start=position,
                          end=types.Position(line=position.line, character=end))
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=answer.text, range=rng)])


def completion_items(ls: StarcoderServer, answer: Answer | None,
                     position: types.Position) -> types.CompletionList:
    """One item whose textEdit replaces the word before the cursor with that word plus
    the completion, so clients that filter by the typed word keep it (and Neovim's
    omnifunc, which replaces from the word start, inserts the right text)."""
    if answer is None:
        return types.CompletionList(is_incomplete=True, items=[])
    if "\n" in answer.text and not _client_edits_lines(ls):
        first_line = answer.text.split("\n", 1)[0]
        if not first_line.strip():
            return types.CompletionList(is_incomplete=True, items=[])
        answer = dataclasses.replace(answer, text=first_line)
    match = _WORD_RE.search(answer.line_text[:answer.column])
    word = match.group() if match else ""
    start = _units(answer, ls, answer.column - len(word))
    end = _units(answer, ls, answer.column + answer.replace_chars)
    first, _, more = answer.text.partition("\n")
    label = (word + first).strip() or answer.text.strip().split("\n", 1)[0]
    label = (label[:77] + "…") if len(label) > 80 else label
    documentation = None
    if more:
        label += " …"
        documentation = types.MarkupContent(
            kind=types.MarkupKind.Markdown,
            value=f"```{answer.language}\n{word + answer.text}\n```")
    item = types.CompletionItem(
        label=label, kind=types.CompletionItemKind.Snippet, detail="StarCoder",
        documentation=documentation, preselect=True, sort_text="0",
        filter_text=word + first, insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(
            range=types.Range(start=types.Position(line=position.line, character=start),
                              end=types.Position(line=position.line, character=end)),
            new_text=word + answer.text),
        data={"stats": {k: v for k, v in answer.stats.items() if k != "raw"}},
    )
    return types.CompletionList(is_incomplete=True, items=[item])


def register(server: StarcoderServer) -> None:
    service = InlineCompletions(server)
    server.add_capability_hook(lambda caps: _advertise(server, caps))

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION)
    async def inline_completion(ls: StarcoderServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList:
        try:
            invoked = (params.context is not None and params.context.trigger_kind
                       == types.InlineCompletionTriggerKind.Invoked)
            answer = await service.complete(params.text_document.uri, params.position,
                                            invoked=invoked, source="inline")
            return inline_items(ls, answer, params.position)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("inline completion failed")
            return types.InlineCompletionList(items=[])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION)
    async def completion_fallback(ls: StarcoderServer, params: types.CompletionParams
                                  ) -> types.CompletionList:
        """For clients without inline completion (Neovim 0.7, older editors)."""
        try:
            if client_has_inline_completion(ls):
                return types.CompletionList(is_incomplete=False, items=[])
            answer = await service.complete(params.text_document.uri, params.position,
                                            invoked=False, source="completion")
            return completion_items(ls, answer, params.position)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("completion fallback failed")
            return types.CompletionList(is_incomplete=True, items=[])

    @server.feature(REQ_COMPLETION_STATS)
    def completion_stats(ls: StarcoderServer, params: Any = None) -> dict[str, Any]:
        """Recent completion requests with prompt tokens evaluated, latency and server
        overhead; `{"clear": true}` empties the history afterwards."""
        report = service.report()
        clear = getattr(params, "clear", None)
        if clear is None and isinstance(params, dict):
            clear = params.get("clear")
        if clear:
            service.history.clear()
            service.counters.clear()
        return report
