"""The data path as plain functions, in order:

    plan (extract with tree-sitter) -> prompt -> generate (stream) -> parse answer
    -> minimal edits -> rebase onto the current document

No LSP I/O here: the feature handlers do the talking, this module does the work, so each
stage can be tested on its own and reused by the CLI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lsp_server.documents import Document
from lsp_server.edits.diff import TextEditSpec, apply_edits, replacement_edits
from lsp_server.edits.rebase import rebase
from lsp_server.edits.reindent import detect_indent_unit, reindent
from lsp_server.edits.response import explain_markdown, extract_code
from lsp_server.extraction.extract import Extraction, extract
from lsp_server.prompts import (
    Prompt,
    build_edit_prompt,
    build_explain_prompt,
    build_generate_prompt,
)
from lsp_server.prompts.budget import PromptTooLongError
from lsp_server.settings import Settings
from model.base import Backend, GenerationRequest, GenerationStats
from model.queue import GenerationQueue

LANGUAGE_NAMES = {
    "python": "Python", "javascript": "JavaScript", "typescript": "TypeScript",
    "tsx": "TypeScript (TSX)", "go": "Go", "rust": "Rust", "java": "Java", "c": "C",
    "cpp": "C++", "csharp": "C#", "ruby": "Ruby", "php": "PHP", "bash": "Bash", "lua": "Lua",
}

# No tokenizer packs more characters into one token on average: a selection longer than
# context_length * this cannot fit, whatever it contains.
MAX_CHARS_PER_TOKEN = 64
# How often partial text is pushed to the client while streaming.
PARTIAL_INTERVAL_S = 0.05


class PipelineError(Exception):
    """A request that cannot be served; the message is shown to the user as is."""


class ConflictError(PipelineError):
    """The user changed the document where the edit would go."""


class EmptyAnswerError(PipelineError):
    """The model produced no usable code."""


@dataclass
class Job:
    """Everything decided before the model runs (cheap, done on the event loop)."""

    uri: str
    version: int
    text: str  # the document as it was when the job was planned
    mode: str  # "edit" | "generate" | "explain"
    extraction: Extraction
    instruction: str
    language: str  # human name
    fence: str
    revision: int = 0  # Document.revision when planned (what rebasing starts from)


@dataclass
class Outcome:
    job: Job
    answer: str  # the model's raw text (after the response prefix)
    code: str  # the new code for the target (edit/generate) or Markdown (explain)
    edits: list[TextEditSpec] = field(default_factory=list)
    version: int = 0  # document version the edits apply to (after rebase)
    stats: GenerationStats = field(default_factory=GenerationStats)
    revision: int = 0  # Document.revision the edits apply to


def plan(
    doc: Document,
    start: tuple[int, int],
    end: tuple[int, int],
    *,
    instruction: str | None,
    settings: Settings,
    mode: str = "edit",
    count_tokens: Callable[[str], int] | None = None,
) -> Job:
    """Extract the target and instruction; positions are code points, already clamped."""
    with doc.lock:
        text, version, tree, spec = doc.text, doc.version, doc.tree, doc.spec
        revision = doc.revision
    kwargs: dict = {}
    if count_tokens is not None:
        kwargs["count_tokens"] = count_tokens
    found = extract(
        text, tree, spec, start, end,
        instruction=instruction,
        prefixes=settings.instruction_prefixes,
        context_budget_tokens=settings.context_tokens,
        **kwargs,
    )
    if found is None:
        raise PipelineError("nothing to edit here: select some code or write an instruction "
                            "comment (e.g. `# starcoder: add type hints`)")
    if mode == "explain":
        if not found.target_text.strip():
            raise PipelineError("nothing to explain here: select some code")
        chosen = instruction or found.instruction or "Explain this code"
    else:
        if found.mode == "generate":
            mode = "generate"
        chosen = instruction or found.instruction or ""
        if not chosen:
            raise PipelineError("no instruction: type one, or write a comment such as "
                                "`starcoder: add a docstring` above the code")
        if mode == "edit" and not found.target_text.strip():
            mode = "generate"
    language = LANGUAGE_NAMES.get(spec.id, spec.id.title()) if spec else "code"
    fence = spec.fence if spec else ""
    return Job(uri=doc.uri, version=version, text=text, mode=mode, extraction=found,
               instruction=chosen, language=language, fence=fence, revision=revision)


def build_prompt(job: Job, backend: Backend) -> Prompt:
    info = backend.info
    ex = job.extraction
    if len(ex.target_text) > info.context_length * MAX_CHARS_PER_TOKEN:
        # Clearly too long: say so now instead of tokenizing megabytes first (seconds).
        raise PipelineError(
            f"the selected code is {len(ex.target_text):,} characters, far more than the "
            f"model's context of {info.context_length} tokens allows; select less code")
    try:
        if job.mode == "explain":
            return build_explain_prompt(info, code=ex.target_text, language=job.language,
                                        fence=job.fence, instruction=job.instruction)
        if job.mode == "generate":
            return build_generate_prompt(info, instruction=job.instruction,
                                         language=job.language, fence=job.fence,
                                         context=ex.context)
        return build_edit_prompt(info, instruction=job.instruction, code=ex.target_text,
                                 language=job.language, fence=job.fence, context=ex.context)
    except PromptTooLongError as err:
        raise PipelineError(str(err)) from err


def check_fits(prompt: Prompt, backend: Backend, max_tokens: int) -> int:
    """Tokens left for the answer; refuse early when the prompt alone fills the context."""
    used = backend.count_tokens(prompt.text)
    room = backend.info.context_length - used
    if room < 16:
        raise PipelineError(
            f"the request is {used} tokens, more than the model's context of "
            f"{backend.info.context_length} allows; select less code"
        )
    return min(max_tokens, room)


def generate(
    backend: Backend,
    queue: GenerationQueue,
    prompt: Prompt,
    *,
    cancel: threading.Event,
    max_tokens: int,
    temperature: float = 0.0,
    draft_source: str | None = None,
    exact_drafts: bool = True,
    on_partial: Callable[[str], None] | None = None,
    stats: GenerationStats | None = None,
    timeout_s: float | None = None,
) -> str:
    """Stream the answer, reporting the text so far at most every PARTIAL_INTERVAL_S.

    `timeout_s` limits the generation itself (not the wait for the model's queue)."""
    stats = stats if stats is not None else GenerationStats()
    request = GenerationRequest(prompt=prompt.text, max_tokens=max_tokens, stop=prompt.stop,
                                temperature=temperature, draft_source=draft_source,
                                exact_drafts=exact_drafts, messages=tuple(prompt.messages),
                                timeout_s=timeout_s)
    pieces: list[str] = []
    last = 0.0
    with queue.slot(cancel):
        stats.started_at = time.perf_counter()
        for piece in backend.generate(request, cancel, stats):
            pieces.append(piece)
            now = time.monotonic()
            if on_partial is not None and now - last >= PARTIAL_INTERVAL_S:
                last = now
                on_partial("".join(pieces))
    text = "".join(pieces)
    if on_partial is not None:
        on_partial(text)
    return text


def answer_to_outcome(job: Job, prompt: Prompt | None, answer: str, stats: GenerationStats,
                      *, continues_prefix: bool = True) -> Outcome:
    """Parse the model's answer into new code and the minimal edits on job.text.

    `continues_prefix` is False for chat APIs, whose answer does not continue our
    response prefix (it may open its own code fence), and there is no prompt for an
    answer the user gave (a code block applied from chat)."""
    if job.mode == "explain":
        return Outcome(job, answer, explain_markdown(answer), [], job.version, stats,
                       job.revision)
    ex = job.extraction
    prefix = prompt.response_prefix if prompt is not None and continues_prefix else ""
    code = extract_code(answer, response_prefix=prefix, fence=job.fence,
                        original=ex.target_text)
    if not code.strip():
        raise EmptyAnswerError("the model returned no code; nothing was changed")
    unit = detect_indent_unit(job.text)
    code = reindent(code, ex.indent, unit)
    start_line = ex.target_lines[0]
    lines = job.text.split("\n")
    line_above = lines[start_line - 1].rstrip("\r") if start_line > 0 else None
    edits = replacement_edits(job.text, ex.target_lines, code, line_above=line_above)
    return Outcome(job, answer, code, edits, job.version, stats, job.revision)


def rebase_onto(doc: Document, outcome: Outcome) -> Outcome:
    """Move the edits onto the document as it is now, or raise ConflictError.

    Uses our own revision counter, not client versions, to find what changed."""
    with doc.lock:
        if doc.revision == outcome.revision:
            outcome.version = doc.version
            return outcome
        changes = doc.changes_since_revision(outcome.revision)
        current, revision = doc.version, doc.revision
    if changes is None:
        raise ConflictError("the document changed too much during generation; "
                            "the edit was not applied")
    moved = rebase(outcome.edits, changes)
    if moved is None:
        raise ConflictError("you edited the code the model was rewriting; the edit was not "
                            "applied (run it again to retry)")
    outcome.edits = moved
    outcome.version = current
    outcome.revision = revision
    return outcome


def preview_text(job: Job, outcome: Outcome) -> str:
    """The whole document after the edit (for the CLI's diff)."""
    return apply_edits(job.text, outcome.edits)
