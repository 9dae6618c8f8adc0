"""Fix this diagnostic: the target widens to the enclosing statement or function, and the
instruction (which is what the prompt carries) holds the diagnostic's message, source,
code and line."""

from __future__ import annotations

import pytest

from lsp_server import pipeline
from lsp_server.documents import DocumentStore
from lsp_server.extraction import language_for, parse
from lsp_server.extraction.diagnostic_fix import (
    TITLE_MESSAGE_MAX,
    Problem,
    fix_for,
    fix_instruction,
    fix_title,
)
from lsp_server.prompts import build_edit_prompt
from lsp_server.settings import Settings
from model.base import ModelInfo
from tests.fixtures.examples import FIX_SOURCE

# FIX_SOURCE with a two-line top-level statement above the function (now lines 6-10).
SOURCE = FIX_SOURCE.replace("import os\n\n\n", "import os\n\nLIMIT = compute(\n    10)\n\n\n", 1)


def _fix(problem: Problem, source: str = SOURCE, language: str = "python"):
    spec = language_for(language, f"x.{'py' if language == 'python' else 'txt'}")
    tree = parse(spec, source.encode()) if spec is not None else None
    return fix_for(source, tree, spec, problem)


@pytest.mark.parametrize(
    ("problem", "lines"),
    [
        # Inside a function, deep in a loop: the whole function.
        (Problem('"quantity" is not defined', 9, 9, "Pyright", "reportUndefinedVariable"),
         (6, 11)),
        # A top-level statement spanning two lines, reported on its second: the statement.
        (Problem("undefined name 'compute'", 2, 2, "pyflakes"), (2, 4)),
        # A range running past the function keeps every reported line.
        (Problem("whatever", 10, 13), (6, 14)),
    ],
)
def test_target_widens_to_the_enclosing_statement_or_function(problem: Problem,
                                                               lines: tuple[int, int]) -> None:
    assert _fix(problem).target_lines == lines


def test_without_a_grammar_the_paragraph_is_the_target() -> None:
    text = "first line\n\nalpha\nbeta wrong\ngamma\n\nlast\n"
    fix = _fix(Problem("bad word", 3, 3), text, language="plaintext")
    assert fix.target_lines[0] <= 3 < fix.target_lines[1]


def test_positions_past_the_end_are_clamped() -> None:
    fix = _fix(Problem("x", 999, 1000))
    assert fix.target_lines[1] <= len(SOURCE.split("\n"))


def test_instruction_carries_message_source_code_and_line() -> None:
    problem = Problem('"quantity" is not defined', 9, 9, "Pyright", "reportUndefinedVariable")
    instruction = _fix(problem).instruction
    assert instruction == (
        'Fix this problem reported by Pyright [reportUndefinedVariable]: "quantity" is not '
        "defined (on the line `result += item.price * quantity`)"
    )
    assert fix_instruction(Problem("E501 line too long", 0, 0, None, 0)) == (
        "Fix this problem [0]: E501 line too long")
    assert fix_instruction(Problem("multi\n  line\tmessage", 0, 0), "x = `y`") == (
        "Fix this problem: multi line message (on the line `x = 'y'`)")


def test_title_is_the_message_in_quotes_shortened() -> None:
    assert fix_title(Problem('"x" is not defined', 0, 0)) == 'fix ""x" is not defined"'
    long = fix_title(Problem("word " * 40, 0, 0))
    assert long.endswith('…"') and len(long) == len('fix ""') + TITLE_MESSAGE_MAX


def test_the_diagnostic_text_reaches_the_prompt() -> None:
    store = DocumentStore()
    doc = store.open("file:///w/x.py", "python", 1, SOURCE)
    fix = _fix(Problem('"quantity" is not defined', 9, 9, "Pyright"))
    start, end = (fix.target_lines[0], 0), (fix.target_lines[1], 0)
    job = pipeline.plan(doc, start, end, instruction=fix.instruction, settings=Settings())
    assert job.extraction.target_lines == (6, 11)
    info = ModelInfo(name="m", context_length=4096, prompt_family="starcoder2-instruct")
    prompt = build_edit_prompt(info, instruction=job.instruction, code=job.extraction.target_text,
                               language=job.language, fence=job.fence)
    assert '"quantity" is not defined' in prompt.text
    assert "reported by Pyright" in prompt.text
    assert "def total(items):" in prompt.text
