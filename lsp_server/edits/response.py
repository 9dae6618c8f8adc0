"""Pull the code (or the explanation) out of a model's raw answer.

Instruction models wrap code in chatter: a preamble ("Here's the updated code:"), a
fenced block, an explanation after it. The prompts open a fence in the response prefix
so most answers are bare code up to a closing fence; the other shapes are handled for
models that ignore the prefix. Heuristics here are deliberately conservative: leaving a
stray prose line in is visible and easy to undo, deleting a line of code is not.
"""

from __future__ import annotations

import re

# Where a turn of the prompt format starts again: the answer is over. Matched at the start
# of a line only, so `### comment` lines in code survive.
_END_OF_TURN = re.compile(
    r"<\|endoftext\|>|<\|im_end\|>"
    r"|^###[ \t]*(?:Instruction|Response|Input)\b"
    r"|^Human:|^-----[ \t]*$",
    re.MULTILINE,
)
# A fence line (CommonMark: up to three spaces of indentation), with its info string.
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,})[ \t]*([^`\s]*)[^`]*$")
# A line of English prose: a capitalised word, then at least three more words, and none of
# the punctuation that marks code. Lowercase code keywords and ALL-CAPS SQL never match.
_PROSE_LINE = re.compile(r"^[A-Z][a-z'’]*,?(?:[ \t]+\S+){3,}[ \t]*$")
_CODE_MARKS = re.compile(r"[;{}=]|^\s|[ \t]->|=>|::")
# A preamble line: prose ending with a colon ("Here is the updated function:").
_PREAMBLE = re.compile(r"^[A-Z][A-Za-z'’]*[!,.]?(?:[ \t]+[\w'’`.,()-]+){1,}[ \t]*:[ \t]*$")
_PREAMBLE_WORDS = re.compile(
    r"^(?:Here|Sure|Certainly|Below|The|This|Okay|OK|Of course|I)\b", re.IGNORECASE
)


def extract_code(answer: str, *, response_prefix: str, fence: str) -> str:
    """The code in `answer` (the text generated after `response_prefix`), or "".

    - Prefix opened a fence: the code runs to the first closing fence line, or to the end
      (generation hit its limit or the closing-fence stop was already removed).
    - Otherwise, fenced blocks in the answer: the first block tagged with `fence` or
      untagged; if every block has another tag, the longest. An unclosed last block runs
      to the end. The first block usually is the answer; later ones tend to be usage
      examples.
    - No fence at all: a prose preamble line ending in ":" and trailing prose paragraphs
      are dropped.

    The result has LF line endings, no blank lines around it and no trailing newline.
    """
    text = _cut_at_end_of_turn(answer.replace("\r\n", "\n"))
    if _opens_fence(response_prefix):
        lines = text.split("\n")
        if lines and (match := _FENCE_LINE.match(lines[0])) and match.group(2):
            lines = lines[1:]  # the model opened the fence a second time
        code = _until_closing_fence(lines)
    else:
        blocks = _fenced_blocks(text)
        code = _choose_block(blocks, fence) if blocks else _strip_prose(text.split("\n"))
    return _trim_blank_lines(code)


def explain_markdown(answer: str) -> str:
    """An explanation cleaned for display: stop markers and trailing whitespace removed,
    and a code block left open by a length cut closed again."""
    text = _cut_at_end_of_turn(answer.replace("\r\n", "\n")).strip("\n").rstrip()
    fences = sum(1 for line in text.split("\n") if _FENCE_LINE.match(line))
    if fences % 2:
        text += "\n```"
    return text


# ---- helpers --------------------------------------------------------------------------------


def _cut_at_end_of_turn(text: str) -> str:
    match = _END_OF_TURN.search(text)
    return text[: match.start()] if match else text


def _opens_fence(prefix: str) -> bool:
    """True when the response prefix ends inside an opened code fence."""
    lines = prefix.replace("\r\n", "\n").split("\n")
    if len(lines) < 2 or lines[-1] != "":
        return False
    return sum(1 for line in lines if _FENCE_LINE.match(line)) % 2 == 1


def _is_closing_fence(line: str) -> bool:
    match = _FENCE_LINE.match(line)
    return match is not None and not match.group(2)


def _until_closing_fence(lines: list[str]) -> str:
    for index, line in enumerate(lines):
        if _is_closing_fence(line):
            return "\n".join(lines[:index])
    return "\n".join(lines)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language tag, code) for each fenced block, in order."""
    blocks: list[tuple[str, str]] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        match = _FENCE_LINE.match(lines[index])
        if not match:
            index += 1
            continue
        ticks, tag = match.group(1), match.group(2).lower()
        body: list[str] = []
        index += 1
        while index < len(lines):
            line = lines[index]
            closing = _FENCE_LINE.match(line)
            if closing and not closing.group(2) and len(closing.group(1)) >= len(ticks):
                break
            body.append(line)
            index += 1
        index += 1
        blocks.append((tag, "\n".join(body)))
    return blocks


def _choose_block(blocks: list[tuple[str, str]], fence: str) -> str:
    wanted = fence.lower()
    for tag, code in blocks:
        if tag in ("", wanted) and code.strip():
            return code
    return max((code for _, code in blocks), key=len)


def _is_prose(line: str) -> bool:
    return bool(_PROSE_LINE.match(line)) and not _CODE_MARKS.search(line)


def _strip_prose(lines: list[str]) -> str:
    """Drop a leading "Here is ...:" line and trailing prose paragraphs (unfenced answers)."""
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and _PREAMBLE.match(lines[0]) and _PREAMBLE_WORDS.match(lines[0]):
        lines.pop(0)
    # Trailing paragraphs (separated by a blank line) made only of prose lines.
    while True:
        while lines and not lines[-1].strip():
            lines.pop()
        blanks = [i for i, line in enumerate(lines) if not line.strip()]
        if not blanks:
            break  # no blank line: never strip the whole answer
        blank = blanks[-1]
        paragraph = lines[blank + 1 :]
        if not paragraph or not all(_is_prose(line) for line in paragraph):
            break
        del lines[blank:]
    return "\n".join(lines)


def _trim_blank_lines(code: str) -> str:
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)
