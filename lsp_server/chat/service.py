"""The chat pipeline as plain functions, in order (no LSP I/O here):

    plan (read the attached code from the open documents) -> budgeted prompt
    -> generate (stream, pipeline.generate) -> Markdown -> result
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsp_server.chat.budget import ChatTooLongError, Fitted, fit_chat
from lsp_server.chat.context import Chip, resolve_chips
from lsp_server.chat.params import ChatArgs, ContextRef
from lsp_server.documents import DocumentStore
from lsp_server.edits.response import explain_markdown
from lsp_server.pipeline import PipelineError
from lsp_server.prompts.build import Prompt
from lsp_server.prompts.chat import ChatTurn, ContextBlock, build_chat_prompt, context_text
from model.base import Backend, GenerationStats

# Tokens a chat endpoint's own template adds around each message (role markers): counted
# so that a conversation sent as messages does not overflow the served model's window.
CHAT_API_TOKENS_PER_MESSAGE = 8


@dataclass(frozen=True)
class ChatJob:
    """What was decided on the event loop, before the model runs."""

    turns: tuple[ChatTurn, ...]
    chips: tuple[Chip, ...]
    missing: tuple[str, ...]  # attached URIs that are not open in the editor

    @property
    def title(self) -> str:
        question = " ".join(self.turns[-1].content.split())
        return question if len(question) <= 60 else question[:59] + "…"


def plan_chat(args: ChatArgs, documents: DocumentStore, roots: Sequence[str]) -> ChatJob:
    chips, missing = resolve_chips(args.context, documents, roots)
    return ChatJob(args.turns, tuple(chips), tuple(missing))


def chat_prompt(job: ChatJob, backend: Backend, max_tokens: int
                ) -> tuple[Prompt, Fitted, int]:
    """The budgeted prompt, what was cut, and how many tokens the answer may have.

    The answer keeps `max_tokens` of the window, but never more than half of it."""
    info = backend.info
    limit = info.context_length - min(max_tokens, info.context_length // 2)

    def cost(turns: Sequence[ChatTurn], blocks: Sequence[ContextBlock]) -> int:
        prompt = build_chat_prompt(info, turns, blocks)
        if info.uses_chat_api:
            return sum(backend.count_tokens(m["content"]) + CHAT_API_TOKENS_PER_MESSAGE
                       for m in prompt.messages)
        return backend.count_tokens(prompt.text)

    try:
        fitted = fit_chat(job.turns, job.chips, cost, backend.count_tokens, limit)
    except ChatTooLongError as err:
        raise PipelineError(str(err)) from err
    prompt = build_chat_prompt(info, fitted.turns, fitted.blocks)
    return prompt, fitted, min(max_tokens, info.context_length - fitted.prompt_tokens)


def answer_markdown(answer: str) -> str:
    """The answer for display: stop markers cut, an open code block closed."""
    return explain_markdown(answer).strip()


def chat_result(job: ChatJob, prompt: Prompt, fitted: Fitted, answer: str,
                stats: GenerationStats) -> dict[str, Any]:
    """`{text, stats}` plus what a client shows about the prompt: the family, its size,
    each attached chip's tokens, and everything that was cut (`dropped`)."""
    dropped = fitted.dropped + [{"kind": "context", "uri": uri, "reason": "not open"}
                                for uri in job.missing]
    return {
        "text": answer_markdown(answer),
        "stats": stats.as_dict(),
        "family": prompt.family,
        "promptTokens": fitted.prompt_tokens,
        "context": [{"uri": chip.uri, "path": chip.path, "tokens": tokens}
                    for chip, tokens in zip(job.chips, fitted.chip_tokens, strict=True)],
        "dropped": dropped,
    }


def describe_context(refs: Sequence[ContextRef], documents: DocumentStore,
                     roots: Sequence[str], backend: Backend | None) -> list[dict[str, Any]]:
    """Each attached file or selection with its size in tokens (`starcoder/chatContext`):
    exact with a loaded model, estimated before (sizing a chip never loads a model)."""
    from model.openai_backend.token_count import estimate  # the same guess as for servers

    chips, missing = resolve_chips(refs, documents, roots)
    by_uri = iter(chips)
    out: list[dict[str, Any]] = []
    for ref in refs:
        if ref.uri in missing:
            out.append({"uri": ref.uri, "open": False, "tokens": 0, "estimated": False})
            continue
        chip = next(by_uri)
        text = context_text([chip.block()])
        entry: dict[str, Any] = {
            "uri": chip.uri, "open": True, "path": chip.path,
            "tokens": backend.count_tokens(text) if backend else estimate(text),
            "estimated": backend is None,
        }
        if not chip.whole_file:
            first, last = chip.span
            entry["lines"] = {"first": first + 1, "last": last + 1}
        out.append(entry)
    return out
