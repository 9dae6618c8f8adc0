"""Custom methods, commands and their payloads: the contract with every client.

Mirrored by `vscode-extension/src/protocol.ts`; keep both in step. Params arrive as
plain JSON objects (pygls turns unknown params into namedtuples; `plain()` undoes that),
so each payload has a `parse` that validates and gives a clear error for bad input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Commands (workspace/executeCommand). One argument: EditArgs as an object.
CMD_EDIT = "starcoder.edit"
CMD_GENERATE = "starcoder.generate"
CMD_EXPLAIN = "starcoder.explain"
CMD_CANCEL = "starcoder.cancel"
COMMANDS = (CMD_EDIT, CMD_GENERATE, CMD_EXPLAIN, CMD_CANCEL)

# Custom requests: same params as the commands, results returned instead of applied.
REQ_EDIT = "starcoder/edit"  # -> EditResult (not applied; for previews)
REQ_EXPLAIN = "starcoder/explain"  # -> {"kind": "markdown", "value": str, "stats": {...}}
REQ_STATUS = "starcoder/getStatus"  # -> StatusParams as a dict
REQ_LOAD = "starcoder/loadModel"  # -> StatusParams once loaded (or failed)
# -> {ok, summary, markdown, checks: [{name, status, mark, detail, fix, block}]}
REQ_DOCTOR = "starcoder/doctor"
# StarCoder Chat (lsp_server/chat/): {messages, context?} -> {text, stats, ...}, the text
# streamed in $/progress; and the attached code's token sizes, {context} -> {context}.
REQ_CHAT = "starcoder/chat"
REQ_CHAT_CONTEXT = "starcoder/chatContext"

# Server -> client notification with the model's state (status bar).
NOTIFY_STATUS = "starcoder/status"

STATES = ("idle", "downloading", "loading", "ready", "generating", "error")


class ParamsError(ValueError):
    """Params were malformed; the message says what was expected."""


def plain(value: Any) -> Any:
    """Turn pygls' namedtuple params (and lsprotocol attrs objects) into plain JSON."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "__attrs_attrs__"):
        from lsprotocol import converters

        return converters.get_converter().unstructure(value)
    return value


@dataclass(frozen=True)
class Pos:
    line: int
    character: int


@dataclass(frozen=True)
class EditArgs:
    """`{uri, range?, instruction?, answer?, rebase?, validate?}`; range in the client's
    position encoding.

    `answer` (starcoder/edit only): code the user already has, e.g. a block from chat, used
    as the model's answer for the range: the same edits and preview, no generation.
    `rebase: false` (starcoder/edit only) returns the edit for the version the request
    was planned on instead of moving it onto the document as it is when it is done.
    `validate`: test the code before proposing it (None: the `validate` setting)."""

    uri: str
    start: Pos | None = None
    end: Pos | None = None
    instruction: str | None = None
    validate: bool | None = None
    answer: str | None = None
    rebase: bool = True

    @classmethod
    def parse(cls, raw: Any) -> EditArgs:
        raw = plain(raw)
        if isinstance(raw, list):  # executeCommand arguments list
            if len(raw) != 1:
                raise ParamsError("expected one argument: {uri, range?, instruction?}")
            raw = raw[0]
        if not isinstance(raw, dict):
            raise ParamsError("expected an object {uri, range?, instruction?}")
        uri = raw.get("uri")
        if not isinstance(uri, str) or not uri:
            raise ParamsError("`uri` must be a non-empty string")
        instruction = raw.get("instruction")
        if instruction is not None and not isinstance(instruction, str):
            raise ParamsError("`instruction` must be a string")
        if isinstance(instruction, str):
            instruction = instruction.strip() or None
        validate = raw.get("validate")
        if validate is not None and not isinstance(validate, bool):
            raise ParamsError("`validate` must be true or false")
        answer = raw.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise ParamsError("`answer` must be a string")
        start = end = None
        rng = raw.get("range")
        if rng is not None:
            start, end = parse_range(rng)
        rebase = raw.get("rebase", True)
        if not isinstance(rebase, bool):
            raise ParamsError("`rebase` must be true or false")
        return cls(uri=uri, start=start, end=end, instruction=instruction, validate=validate,
                   answer=answer, rebase=rebase)


def parse_range(raw: Any, name: str = "range") -> tuple[Pos, Pos]:
    """`{start, end}` as (start, end) in document order."""
    if not isinstance(raw, dict):
        raise ParamsError(f"`{name}` must be {{start, end}}")
    start, end = parse_pos(raw.get("start"), "start"), parse_pos(raw.get("end"), "end")
    if (end.line, end.character) < (start.line, start.character):
        start, end = end, start
    return start, end


def parse_pos(raw: Any, name: str) -> Pos:
    """`{line, character}` (negative numbers clamp to 0); `name` is for the message."""
    if not isinstance(raw, dict):
        raise ParamsError(f"`range.{name}` must be {{line, character}}")
    line, character = raw.get("line"), raw.get("character")
    for label, value in (("line", line), ("character", character)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ParamsError(f"`range.{name}.{label}` must be an integer")
    assert isinstance(line, int) and isinstance(character, int)
    return Pos(max(0, line), max(0, character))
