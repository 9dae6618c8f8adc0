"""`starcoder/chat` and `starcoder/chatContext` params, validated into plain values.

`{messages: [{role: "user"|"assistant", content}], context?: [{uri, range?}]}`; a bad
payload gets a ParamsError that says what was expected (the client sees it as an
InvalidParams error; the server keeps serving).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lsp_server.prompts.chat import ROLES, USER, ChatTurn
from lsp_server.protocol import ParamsError, Pos, parse_range, plain

# Enough for any conversation a person has; more is a client bug, refused before any work.
MAX_MESSAGES = 500
MAX_CONTEXT = 64


@dataclass(frozen=True)
class ContextRef:
    """An attached file (no range) or selection, in the client's position encoding."""

    uri: str
    start: Pos | None = None
    end: Pos | None = None


@dataclass(frozen=True)
class ChatArgs:
    turns: tuple[ChatTurn, ...]
    context: tuple[ContextRef, ...]


def parse_context(raw: Any) -> tuple[ContextRef, ...]:
    """`context?: [{uri, range?}]` (absent or null: none)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ParamsError("`context` must be a list of {uri, range?}")
    if len(raw) > MAX_CONTEXT:
        raise ParamsError(f"`context` has {len(raw)} entries; at most {MAX_CONTEXT}")
    refs = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str) or not item["uri"]:
            raise ParamsError(f"`context[{index}]` must be {{uri, range?}} with a non-empty uri")
        rng = item.get("range")
        if rng is None:
            refs.append(ContextRef(item["uri"]))
            continue
        start, end = parse_range(rng, f"context[{index}].range")
        refs.append(ContextRef(item["uri"], start, end))
    return tuple(refs)


def parse_chat(raw: Any) -> ChatArgs:
    """Validate `starcoder/chat` params; the last message must be the user's question."""
    raw = plain(raw)
    if not isinstance(raw, dict):
        raise ParamsError("expected an object {messages, context?}")
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ParamsError("`messages` must be a non-empty list of {role, content}")
    if len(messages) > MAX_MESSAGES:
        raise ParamsError(f"`messages` has {len(messages)} entries; at most {MAX_MESSAGES}")
    turns = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ParamsError(f"`messages[{index}]` must be {{role, content}}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ParamsError(f"`messages[{index}].role` must be \"user\" or \"assistant\"")
        if not isinstance(content, str):
            raise ParamsError(f"`messages[{index}].content` must be a string")
        turns.append(ChatTurn(role, content))
    if turns[-1].role != USER or not turns[-1].content.strip():
        raise ParamsError("the last message must be the user's question (role \"user\", "
                          "not empty)")
    return ChatArgs(tuple(turns), parse_context(raw.get("context")))


def parse_context_request(raw: Any) -> tuple[ContextRef, ...]:
    """`starcoder/chatContext` params: `{context: [{uri, range?}]}`."""
    raw = plain(raw)
    if not isinstance(raw, dict):
        raise ParamsError("expected an object {context}")
    return parse_context(raw.get("context"))
