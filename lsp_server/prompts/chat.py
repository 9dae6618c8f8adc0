"""A conversation (earlier turns, the new question, attached code) as the prompt each
model family was trained on. The strings live in `chat_templates.py`; this only fills
them in, so a prompt can be rendered again and again while the budget trims it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lsp_server.prompts import chat_templates as ct
from lsp_server.prompts import templates as t
from lsp_server.prompts.build import Prompt, render_chat_template, resolve_family
from model.base import ModelInfo

USER = "user"
ASSISTANT = "assistant"
ROLES = (USER, ASSISTANT)


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ContextBlock:
    """Code attached to the conversation: a file, or some of its lines."""

    path: str  # as the user knows it (workspace-relative when possible)
    fence: str  # the language's fence tag ("python"), "" when unknown
    code: str
    first_line: int = 0  # 1-based lines shown; 0: the whole file
    last_line: int = 0


def context_text(blocks: Sequence[ContextBlock]) -> str:
    """The attached code as the model reads it: each block's path, then its fenced code."""
    parts = []
    for block in blocks:
        if not block.first_line:
            where = ""
        elif block.last_line > block.first_line:
            where = ct.CONTEXT_LINES.format(first=block.first_line, last=block.last_line)
        else:
            where = ct.CONTEXT_LINE.format(first=block.first_line)
        code = block.code.replace("\r\n", "\n").rstrip("\n")
        parts.append(ct.CONTEXT_BLOCK.format(path=block.path, where=where, fence=block.fence,
                                             code=code))
    return ct.CONTEXT_SEPARATOR.join(parts)


def chat_messages(turns: Sequence[ChatTurn], context: Sequence[ContextBlock]
                  ) -> tuple[dict[str, str], ...]:
    """The conversation as chat messages, the context above the first user question (what
    a chat template or a chat endpoint gets)."""
    attached = context_text(context)
    messages = []
    for turn in turns:
        content = turn.content
        if attached and turn.role == USER:
            content = ct.QUESTION_WITH_CONTEXT.format(context=attached, question=content)
            attached = ""
        messages.append({"role": turn.role, "content": content})
    return tuple(messages)


def build_chat_prompt(info: ModelInfo, turns: Sequence[ChatTurn],
                      context: Sequence[ContextBlock] = ()) -> Prompt:
    """The prompt for the next answer. `turns` end with the user's new question; every turn
    before it is carried in the family's multi-turn form."""
    if not turns or turns[-1].role != USER:
        raise ValueError("a chat prompt needs the user's question as its last turn")
    messages = chat_messages(turns, context)
    family = resolve_family(info)
    if family == t.CHAT_TEMPLATE:
        rendered = render_chat_template(info, messages)
        if rendered is not None:
            stops = (info.eos_token or t.ENDOFTEXT,)
            return Prompt(text=rendered, response_prefix="", stop=stops, family=family,
                          messages=messages)
        family = t.TECH_ASSISTANT  # broken or missing template: the generic prompt works
    fmt = ct.CHAT_FORMATS[family]
    text = _render(fmt, turns, context_text(context), messages)
    return Prompt(text=text, response_prefix="", stop=fmt.stops, family=family,
                  messages=messages)


def _render(fmt: ct.ChatFormat, turns: Sequence[ChatTurn], attached: str,
            messages: Sequence[dict[str, str]]) -> str:
    if not fmt.user_input:  # the context is part of the first question
        parts = [fmt.head]
        for message in messages:
            template = fmt.user if message["role"] == USER else fmt.assistant
            parts.append(template.format(content=message["content"]))
        return "".join(parts) + fmt.answer
    # Alpaca: the context is the first instruction's `### Input`.
    parts = [fmt.head_with_input if attached else fmt.head]
    for turn in turns:
        if turn.role != USER:
            parts.append(fmt.assistant.format(content=turn.content))
            continue
        parts.append(fmt.user.format(content=turn.content))
        if attached:
            parts.append(fmt.user_input.format(context=attached))
            attached = ""
    return "".join(parts) + fmt.answer
