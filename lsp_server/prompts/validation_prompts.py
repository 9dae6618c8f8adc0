"""The two prompts validation adds, in the model's own template like every other prompt:
the tests prompt (the model writes tests for the task) and the self-repair prompt (the
best failing candidate and its failing output go back to the model). Strings live in
templates.py."""

from __future__ import annotations

from lsp_server.prompts import templates as t
from lsp_server.prompts.build import Prompt, _assemble, _values
from model.base import ModelInfo

TESTS_WANTED = 4


def build_tests_prompt(info: ModelInfo, *, instruction: str, code: str, names: list[str],
                       language_id: str, language: str, fence: str) -> Prompt:
    """Ask for assertion-per-line tests of `code` (signatures and docstrings)."""
    values = _values(instruction, language, fence, code=code)
    values["count"] = str(TESTS_WANTED)
    values["names"] = ", ".join(f"`{n}`" for n in names) if names else "the code"
    form = t.TESTS_ASSERT_FORMS.get(language_id, t.TESTS_ASSERT_FORMS["javascript"])
    values["assert_form"] = form
    chat = t.TESTS_INSTRUCTION.format(**values)
    return _assemble(info, chat, fence, code_answer=True, gpteacher=(chat, None))


def build_repair_prompt(info: ModelInfo, *, instruction: str, code: str, failures: str,
                        language: str, fence: str, context: str = "") -> Prompt:
    """Ask for a fixed version of failing `code`, showing what its tests printed."""
    values = _values(instruction, language, fence, code=code, context=context)
    values["failures"] = failures.replace("```", "'''")
    chat = t.REPAIR_INSTRUCTION.format(**values)
    return _assemble(info, chat, fence, code_answer=True, gpteacher=(chat, None))
