"""Pull the code (or the explanation) out of a model's raw answer.

Instruction models wrap code in chatter: a preamble ("Here's the updated code:"), a
fenced block, an explanation after it. The prompts open a fence in the response prefix
so most answers are bare code up to a closing fence; the other shapes are handled for
models that ignore the prefix and for chat APIs, whose answers do not continue it. The
fences themselves are read by `fences`, the English around them by `prose`.
"""

from __future__ import annotations

import re

from lsp_server.edits.fences import (
    Fence,
    block_lines,
    find_close,
    glued_close,
    holds_fences,
    is_document_tag,
    parse_fence,
    same_language,
)
from lsp_server.edits.prose import (
    is_file_line,
    is_preamble,
    is_prose,
    strip_preamble,
    strip_trailing_prose,
)

# Where a turn of the prompt format starts again: the answer is over. Matched at the start
# of a line only, so `### comment` lines in code survive.
_END_OF_TURN = re.compile(
    r"<\|endoftext\|>|<\|im_end\|>"
    r"|^###[ \t]*(?:Instruction|Response|Input)\b"
    r"|^Human:|^-----[ \t]*$",
    re.MULTILINE,
)
# How many non-blank lines may come before a fence the model opened itself.
_MAX_LEAD_LINES = 2


def extract_code(answer: str, *, response_prefix: str, fence: str, original: str = "") -> str:
    """The code in `answer` (the text generated after `response_prefix`), or "".

    - Prefix opened a fence: the code runs to the fence's close, or to the end (generation
      hit its limit or the closing-fence stop was already removed). An opener the model
      wrote again (```` ```python ````, ```` ```md README.md ````, after a short English line or
      a file name) is dropped, and so is a short English opener line.
    - Otherwise, fenced blocks in the answer: the first block tagged with `fence` or
      untagged; if every block has another tag, the longest. An unclosed last block runs
      to the end; a closing fence without an opener ends the code before it.
    - No fence at all: English opener lines and trailing prose paragraphs are dropped.

    A closing fence glued to the last code line (`}```) closes. In documents that hold
    fenced blocks themselves (Markdown, reStructuredText: told by `fence`, by the answer's
    own tag, or by `original`, the code being replaced) only the outer fence is stripped.
    Lines of `original` are never dropped as prose. The result has LF line endings, no
    blank lines around it and no trailing newline.
    """
    text = _cut_at_end_of_turn(answer.replace("\r\n", "\n"))
    lines = text.split("\n")
    known = {line.strip() for line in original.replace("\r\n", "\n").split("\n") if line.strip()}
    document = is_document_tag([fence]) or holds_fences(original)
    opened = _opened_fence(response_prefix)
    if opened is not None:
        code = _code_in_opened_fence(lines, opened, document, known)
    else:
        code = _code_in_answer(lines, fence, document, known)
    return _trim_blank_lines(code)


def explain_markdown(answer: str) -> str:
    """An explanation cleaned for display: stop markers and trailing whitespace removed,
    and a code block left open by a length cut closed again."""
    text = _cut_at_end_of_turn(answer.replace("\r\n", "\n")).strip("\n").rstrip()
    fences = sum(1 for line in text.split("\n") if parse_fence(line) is not None)
    if fences % 2:
        text += "\n```"
    return text


# ---- the two answer forms -----------------------------------------------------------------


def _code_in_opened_fence(lines: list[str], opened: Fence, document: bool,
                          known: set[str]) -> str:
    reopened = _reopened_fence(lines, known)
    if reopened is not None:
        start, fence = reopened
        lines = lines[start:]
        document = document or is_document_tag([fence.info])
    else:
        document = document or is_document_tag([opened.info])
        if not document:
            lines = strip_preamble(lines, known)
    return "\n".join(block_lines(lines, find_close(lines, opened.ticks, document=document)))


def _code_in_answer(lines: list[str], fence: str, document: bool, known: set[str]) -> str:
    first = next((i for i, line in enumerate(lines) if parse_fence(line) is not None), None)
    if first is None:
        end = next((i for i, line in enumerate(lines) if glued_close(line) is not None), None)
        if end is not None:  # code closed by a glued fence that was never opened
            lines = [*lines[:end], glued_close(lines[end])[0]]  # type: ignore[index]
        lines = strip_preamble(lines, known)
        if any(is_prose(line) for line in known):  # the target is prose itself: keep it all
            return "\n".join(lines)
        return "\n".join(strip_trailing_prose(lines, known))
    opener = parse_fence(lines[first])
    assert opener is not None
    if opener.bare and not document and _closes_unopened(lines, first):
        # Code, then a closing fence that was never opened: the code is what came before.
        return "\n".join(strip_preamble(lines[:first], known))
    blocks = _fenced_blocks(lines[first:], document)
    return _choose_block(blocks, fence)


# ---- helpers --------------------------------------------------------------------------------


def _cut_at_end_of_turn(text: str) -> str:
    match = _END_OF_TURN.search(text)
    return text[: match.start()] if match else text


def _opened_fence(prefix: str) -> Fence | None:
    """The fence the response prefix leaves open, if it ends inside one."""
    lines = prefix.replace("\r\n", "\n").split("\n")
    if len(lines) < 2 or lines[-1] != "":
        return None
    fences = [fence for line in lines if (fence := parse_fence(line)) is not None]
    return fences[-1] if len(fences) % 2 else None


def _closes_unopened(lines: list[str], index: int) -> bool:
    """Whether the bare fence at `index` closes code that was never opened: code comes
    before it, and only prose (or nothing) after it, up to the next fence."""
    before = [line for line in lines[:index] if line.strip()]
    if not before or all(is_prose(ln) or is_preamble(ln, None) or is_file_line(ln)
                         for ln in before):
        return False
    for line in lines[index + 1 :]:
        if parse_fence(line) is not None:
            break
        if line.strip() and not is_prose(line):
            return False
    return True


def _reopened_fence(lines: list[str], known: set[str]) -> tuple[int, Fence] | None:
    """(index after it, fence) when the answer opens a fence of its own in its first lines,
    after nothing but English or a file name; None otherwise."""
    seen = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        fence = parse_fence(line)
        if fence is not None:
            if fence.bare and seen == 0:
                return None  # a close right away: the model has nothing to say
            lead = [ln for ln in lines[:index] if ln.strip()]
            if all((is_preamble(ln, None) or is_prose(ln) or is_file_line(ln))
                   and ln.strip() not in known for ln in lead):
                return index + 1, fence
            return None
        seen += 1
        if seen > _MAX_LEAD_LINES:
            return None
    return None


def _fenced_blocks(lines: list[str], document: bool) -> list[tuple[str, str]]:
    """(language tag, code) for each top-level fenced block, in order."""
    blocks: list[tuple[str, str]] = []
    index = 0
    while index < len(lines):
        opener = parse_fence(lines[index])
        if opener is None:
            index += 1
            continue
        body = lines[index + 1 :]
        close = find_close(body, opener.ticks,
                           document=document or is_document_tag([opener.info]))
        blocks.append((opener.tag, "\n".join(block_lines(body, close))))
        index += close.index + 2
    return blocks


def _choose_block(blocks: list[tuple[str, str]], fence: str) -> str:
    for tag, code in blocks:
        if (not tag or same_language(tag, fence)) and code.strip():
            return code
    return max((code for _, code in blocks), key=len)


def _trim_blank_lines(code: str) -> str:
    lines = code.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)
