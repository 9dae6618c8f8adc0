"""Tests the user already wrote: examples in the target's docstring, and examples or
`assert` lines in the instruction.

Only parsed here (``ast``, ``doctest``'s parser, ``compile``), never executed: code runs
in the sandbox alone. Each doctest example is one test; the examples of one docstring
share their globals, as doctest runs them.
"""

from __future__ import annotations

import ast
import doctest
import re
import textwrap

from lsp_server.validation.report import DOCTEST, INSTRUCTION, TestCase

MAX_TESTS_PER_SOURCE = 20
_ASSERT_LINE = re.compile(r"^\s*(?:[-*>]\s+)?`{0,3}\s*(assert\b.*?)`{0,3}\s*$")
_JS_ASSERT_LINE = re.compile(
    r"^\s*(?:[-*>]\s+)?`{0,3}\s*((?:assert|console\.assert)\b.*?);?`{0,3}\s*$")


def short(text: str, limit: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def compiles(source: str) -> bool:
    """Whether `source` is valid Python (compiled, never run)."""
    try:
        compile(source, "<test>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return False
    return True


def doctest_cases(text: str, *, group: str, origin: str, one_line_want: bool = False
                  ) -> list[TestCase]:
    """Each `>>>` example of `text` as a test (its expected output included).
    `one_line_want`: the expected output is the one line after the example (in an
    instruction, prose or asserts may follow it without a blank line)."""
    try:
        examples = doctest.DocTestParser().get_examples(textwrap.dedent(text))
    except ValueError:  # inconsistent indentation and the like: not a usable doctest
        return []
    cases: list[TestCase] = []
    setup = ""  # examples without output (`>>> r = 2`) run before the next one
    for number, example in enumerate(examples[:MAX_TESTS_PER_SOURCE]):
        lines = example.source.rstrip("\n").split("\n")
        source = "\n".join([">>> " + lines[0], *("... " + line for line in lines[1:])])
        want = example.want.split("\n", 1)[0] if one_line_want else example.want
        if want:
            source += "\n" + want.rstrip("\n")
        elif example.exc_msg:
            source += "\nTraceback (most recent call last):\n    ...\n" + example.exc_msg
        elif number + 1 < len(examples):
            setup += source + "\n"
            continue
        cases.append(TestCase(DOCTEST, f"doctest: {short(example.source)}",
                              setup + source + "\n", group=group, origin=origin))
        setup = ""
    return cases


def python_docstrings(code: str) -> list[tuple[str, str]]:
    """(qualified name, docstring) of every function and class in `code`."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return []
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                doc = ast.get_docstring(child)
                if doc:
                    found.append((name, doc))
                visit(child, name + ".")

    visit(tree, "")
    return found


def python_defined_names(code: str) -> list[str]:
    """Top-level function and class names of `code` (what tests may call)."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return []
    return [node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def assert_lines(instruction: str, language: str) -> list[TestCase]:
    """`assert ...` lines in the instruction (Python), or `assert(...)` /
    `assert.strictEqual(...)` lines (JavaScript/TypeScript)."""
    pattern = _ASSERT_LINE if language == "python" else _JS_ASSERT_LINE
    cases: list[TestCase] = []
    for line in instruction.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        source = match.group(1).strip()
        if language == "python" and not compiles(source):
            continue
        cases.append(TestCase(INSTRUCTION, f"instruction: {short(source)}", source,
                              origin="the instruction"))
        if len(cases) >= MAX_TESTS_PER_SOURCE:
            break
    return cases


def gather(*, language: str, target_text: str, instruction: str) -> list[TestCase]:
    """The user's own tests for this request, docstring examples first."""
    cases: list[TestCase] = []
    if language == "python":
        for name, doc in python_docstrings(target_text):
            cases += doctest_cases(doc, group=f"docstring:{name}", origin="your docstring")
        cases += doctest_cases(instruction, group="instruction", origin="the instruction",
                               one_line_want=True)
    cases += assert_lines(instruction, language)
    return _unique(cases)


def _unique(cases: list[TestCase]) -> list[TestCase]:
    seen: set[tuple[str, str]] = set()
    out: list[TestCase] = []
    for case in cases:
        key = (case.group, case.source)
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out
