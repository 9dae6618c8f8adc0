"""Turn an instruction and code into the exact prompt a model family was trained on.

The builders only choose and fill templates from `templates.py`; every string lives
there. Each prompt ends with a response prefix (for code answers it opens a fence), so
the model's answer starts as code and one closing-fence stop ends it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lsp_server.prompts import templates as t
from model.base import ModelInfo

# A fence line (CommonMark: up to three spaces of indentation, an info string without `).
_FENCE_LINE = re.compile(r"^ {0,3}`{3,}[^`\n]*$", re.MULTILINE)

if TYPE_CHECKING:  # jinja2 loads only when a model's own template is rendered (start-up)
    from jinja2 import Template


@dataclass(frozen=True)
class Prompt:
    """A prompt ready for a completion endpoint, plus its chat form."""

    text: str  # full prompt for the completion endpoint
    response_prefix: str  # already included at the end of text; the answer continues it
    stop: tuple[str, ...]
    family: str  # the family actually used (after any fallback)
    messages: tuple[dict[str, str], ...]  # chat form: the user message only, no system


def resolve_family(info: ModelInfo) -> str:
    """The model's declared family; else its chat template; else the Tech Assistant prompt.

    An unknown declared family is treated as undeclared, so a registry typo degrades to a
    generic prompt instead of failing every request.
    """
    if info.prompt_family in t.FAMILIES:
        return info.prompt_family
    return t.CHAT_TEMPLATE if info.chat_template else t.TECH_ASSISTANT


# ---- public builders -------------------------------------------------------------------


def build_edit_prompt(
    info: ModelInfo, *, instruction: str, code: str, language: str, fence: str, context: str = ""
) -> Prompt:
    """Prompt for rewriting `code` as instructed; the answer is the rewritten code."""
    values = _values(instruction, language, fence, code=code, context=context)
    values["context_note"] = t.EDIT_CONTEXT_NOTE if values["context_section"] else ""
    chat = t.EDIT_INSTRUCTION.format(**values)
    gpteacher = (t.GPTEACHER_EDIT_INSTRUCTION.format(**values), values["code"])
    # Code that holds fences itself (Markdown and the like) answers with fences inside the
    # answer's own: stopping at the first one would cut it, so the parser finds the close.
    closing_stop = not _FENCE_LINE.search(values["code"])
    return _assemble(info, chat, fence, code_answer=True, gpteacher=gpteacher,
                     closing_stop=closing_stop)


def build_generate_prompt(
    info: ModelInfo, *, instruction: str, language: str, fence: str, context: str = ""
) -> Prompt:
    """Prompt for writing new code from an instruction (nothing is replaced)."""
    values = _values(instruction, language, fence, context=context)
    values["context_note"] = t.GENERATE_CONTEXT_NOTE if values["context_section"] else ""
    chat = t.GENERATE_INSTRUCTION.format(**values)
    return _assemble(info, chat, fence, code_answer=True, gpteacher=(chat, None))


def build_explain_prompt(
    info: ModelInfo, *, code: str, language: str, fence: str, instruction: str | None = None
) -> Prompt:
    """Prompt for a Markdown explanation of `code` (or an answer to a question about it)."""
    values = _values(instruction or "", language, fence, code=code)
    if values["user_instruction"]:
        chat = t.EXPLAIN_QUESTION_INSTRUCTION.format(**values)
        gpteacher_instruction = t.GPTEACHER_EXPLAIN_QUESTION_INSTRUCTION.format(**values)
    else:
        chat = t.EXPLAIN_INSTRUCTION.format(**values)
        gpteacher_instruction = t.GPTEACHER_EXPLAIN_INSTRUCTION.format(**values)
    return _assemble(
        info, chat, fence, code_answer=False, gpteacher=(gpteacher_instruction, values["code"])
    )


def fim_prompt(
    prefix: str,
    suffix: str,
    *,
    repo: str | None = None,
    path: str | None = None,
    other_files: Sequence[tuple[str, str]] = (),
    order: str = "psm",
) -> str:
    """Fill-in-the-middle prompt; with a repo, path or other files, StarCoder2's repository
    form (`<repo_name>`, then each `(path, content)` after `<file_sep>`, current file last,
    its path inside the FIM prefix), which lets the model see related files. `order` is
    "psm" or "spm". Stop on `templates.FIM_STOPS`."""
    template = t.FIM_SPM_TEMPLATE if order == "spm" else t.FIM_TEMPLATE
    if repo is None and path is None and not other_files:
        return template.format(prefix=prefix, suffix=suffix)
    head = t.REPO_FIM_PATH_TEMPLATE.format(path=path) if path else ""
    parts = [t.REPO_HEADER_TEMPLATE.format(repo=repo)] if repo is not None else []
    parts += [t.REPO_FILE_TEMPLATE.format(path=p, content=c) for p, c in other_files]
    fim = template.format(prefix=head + prefix, suffix=suffix)
    parts.append(t.REPO_FIM_FILE_TEMPLATE.format(fim=fim))
    return "".join(parts)


# ---- assembly ----------------------------------------------------------------------------


def _clean(text: str) -> str:
    """LF line endings and no blank lines around: models saw LF code inside fences."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _values(
    instruction: str, language: str, fence: str, *, code: str = "", context: str = ""
) -> dict[str, str]:
    context = _clean(context)
    return {
        "user_instruction": instruction.strip(),
        "language": language or "code",
        "fence": fence,
        "code": _clean(code),
        "context_section": t.CONTEXT_SECTION.format(fence=fence, context=context)
        if context
        else "",
    }


def _assemble(
    info: ModelInfo,
    instruction: str,
    fence: str,
    *,
    code_answer: bool,
    gpteacher: tuple[str, str | None],
    closing_stop: bool = True,
) -> Prompt:
    """Wrap the instruction in the model's format and append the response prefix.

    `gpteacher` is that family's (instruction, input) split: its training data put the code
    in "### Input"; None input selects the no-input Alpaca variant.
    """
    family = resolve_family(info)
    body: str | None = None
    stops: tuple[str, ...] = ()
    if family == t.CHAT_TEMPLATE:
        body = _render_chat_template(info, instruction)
        stops = (info.eos_token,) if info.eos_token else (t.ENDOFTEXT,)
        if body is None:  # broken or missing template: the generic prompt still works
            family = t.TECH_ASSISTANT
    fmt = t.FORMATS[family]
    if body is None:
        stops = fmt.stops
        if family == t.STARCODER2_INSTRUCT:
            body = t.STARCODER2_INSTRUCT_TEMPLATE.format(instruction=instruction)
        elif family == t.GPTEACHER:
            gp_instruction, gp_input = gpteacher
            body = (
                t.GPTEACHER_TEMPLATE.format(instruction=gp_instruction)
                if gp_input is None
                else t.GPTEACHER_INPUT_TEMPLATE.format(instruction=gp_instruction, input=gp_input)
            )
        else:
            body = t.TECH_ASSISTANT_TEMPLATE.format(instruction=instruction)
    if code_answer:
        prefix = fmt.code_prefix.format(fence=fence)
        stops = (t.CLOSING_FENCE_STOP, *stops) if closing_stop else stops
    else:
        prefix = fmt.text_prefix
    return Prompt(
        text=body + prefix,
        response_prefix=prefix,
        stop=tuple(dict.fromkeys(s for s in stops if s)),
        family=family,
        messages=({"role": "user", "content": instruction},),
    )


# ---- chat templates ------------------------------------------------------------------------


def _raise_exception(message: str) -> Any:
    """What Hugging Face templates call to reject input (e.g. a system message)."""
    from jinja2 import TemplateError

    raise TemplateError(message)


def _tojson(value: Any, indent: int | None = None) -> str:
    # Hugging Face's variant: no HTML escaping, non-ASCII kept.
    return json.dumps(value, ensure_ascii=False, indent=indent)


@lru_cache(maxsize=8)
def _compile(source: str) -> Template:
    # Same settings as transformers' apply_chat_template, so templates render identically;
    # sandboxed because the template comes from a downloaded file.
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    return env.from_string(source)


def _render_chat_template(info: ModelInfo, content: str) -> str | None:
    """The model's own chat template with one user turn, or None if it cannot render."""
    return render_chat_template(info, [{"role": "user", "content": content}])


def render_chat_template(info: ModelInfo, messages: Sequence[dict[str, str]]) -> str | None:
    """The model's own chat template with `messages` (the last one the user's), ready for
    the answer; None if it cannot render."""
    if not info.chat_template or not messages:
        return None
    try:
        rendered = _compile(info.chat_template).render(
            messages=list(messages),
            add_generation_prompt=True,
            bos_token=info.bos_token,
            eos_token=info.eos_token,
        )
    except Exception:  # any template bug (syntax, raise_exception, type errors) → fallback
        return None
    # A template that drops the message is as broken as one that raises.
    content = messages[-1]["content"]
    if content in rendered or json.dumps(content, ensure_ascii=False)[1:-1] in rendered:
        return rendered
    return None
