"""Tests the model writes: the answer to the tests prompt, and tests a candidate answer
carries after its code (SelfCodeAlign's answers put them there).

Parsing only (``ast``, ``compile``); nothing here runs code. A test that does not parse is
dropped, a redefinition of the code under test is dropped (it would test itself), and
anything else at top level (imports, helpers) is kept as setup for every test.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from lsp_server.validation.report import MODEL, TestCase
from lsp_server.validation.sources import compiles as _compiles
from lsp_server.validation.sources import short

MAX_MODEL_TESTS = 10
_JS_TEST_LINE = re.compile(r"^\s*((?:assert(?:\.\w+)?|console\.assert)\s*\(.*\)\s*;?)\s*$")


@dataclass(frozen=True)
class Split:
    """A candidate's code with the tests that followed it taken out."""

    code: str
    tests: tuple[TestCase, ...]


def _segment(lines: list[str], node: ast.stmt) -> str:
    start = node.lineno - 1
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
            node.decorator_list:
        start = node.decorator_list[0].lineno - 1
    end = node.end_lineno or node.lineno
    return "\n".join(lines[start:end])


def _is_main_guard(node: ast.stmt) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def _python_tests(tree: ast.Module, lines: list[str], names: set[str]
                  ) -> tuple[list[tuple[str, str]], list[str], list[ast.stmt]]:
    """(test name, test source) pairs, setup sources, and the statements that are tests."""
    tests: list[tuple[str, str]] = []
    setup: list[str] = []
    test_nodes: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Assert):
            tests.append((_segment(lines, node), _segment(lines, node)))
            test_nodes.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name.startswith("test"):
            source = _segment(lines, node) + f"\n{node.name}()"
            tests.append((f"{node.name}()", source))
            test_nodes.append(node)
        elif isinstance(node, ast.If) and _is_main_guard(node):
            inner = [n for n in node.body if isinstance(n, ast.Assert)]
            tests += [(_segment(lines, n), textwrap.dedent(_segment(lines, n))) for n in inner]
            if inner:
                test_nodes.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                node.name in names:
            continue  # the model restated the code under test: never test it against itself
        else:
            setup.append(_segment(lines, node))
    return tests, setup, test_nodes


def parse_python_tests(code: str, names: list[str], *, origin: str) -> list[TestCase]:
    """The tests in a tests answer (Python)."""
    code = textwrap.dedent(code)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        # A half-written answer: keep the assert lines that parse on their own.
        cases = []
        for line in code.splitlines():
            stripped = line.strip()
            if stripped.startswith("assert ") and _compiles(stripped):
                cases.append(TestCase(MODEL, f"model test: {short(stripped)}", stripped,
                                      origin=origin))
        return cases[:MAX_MODEL_TESTS]
    tests, setup, _nodes = _python_tests(tree, code.split("\n"), set(names))
    prelude = "\n".join(setup)
    cases = []
    for label, body in tests:
        source = f"{prelude}\n{body}" if prelude else body
        if _compiles(source):
            cases.append(TestCase(MODEL, f"model test: {short(label)}", source, origin=origin))
    return _unique(cases)[:MAX_MODEL_TESTS]


def parse_js_tests(code: str, *, origin: str) -> list[TestCase]:
    """`assert…(…)` lines of a tests answer (JavaScript/TypeScript; node:assert)."""
    cases = []
    for line in code.splitlines():
        match = _JS_TEST_LINE.match(line)
        if match:
            source = match.group(1).replace("console.assert(", "assert.ok(")
            cases.append(TestCase(MODEL, f"model test: {short(source)}", source, origin=origin))
    return _unique(cases)[:MAX_MODEL_TESTS]


def parse_tests(code: str, names: list[str], language: str, *, origin: str) -> list[TestCase]:
    if language == "python":
        return parse_python_tests(code, names, origin=origin)
    return parse_js_tests(code, origin=origin)


def split_answer(code: str, language: str) -> Split:
    """Take the tests that follow the code out of a candidate (Python only: top-level
    asserts, test functions, a `__main__` block of asserts). Unchanged when the code does
    not parse or would hold no definition without them."""
    if language != "python":
        return Split(code, ())
    dedented = textwrap.dedent(code)
    try:
        tree = ast.parse(dedented)
    except (SyntaxError, ValueError):
        return Split(code, ())
    lines = dedented.split("\n")
    tests, _setup, nodes = _python_tests(tree, lines, set())
    if not nodes:
        return Split(code, ())
    drop: set[int] = set()
    for node in nodes:
        drop.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
    indent = len(code) - len(code.lstrip(" \t")) if code.strip() else 0
    original = code.split("\n")
    kept = [line for number, line in enumerate(original) if number not in drop]
    rest = "\n".join(kept).rstrip() + "\n"
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and n not in nodes for n in tree.body) or indent:
        return Split(code, ())
    cases = [TestCase(MODEL, f"model test: {short(label)}", body, origin="the answer")
             for label, body in tests if _compiles(body)]
    return Split(rest, tuple(_unique(cases)[:MAX_MODEL_TESTS]))


def python_stub(code: str) -> str:
    """The signatures and docstrings of `code`'s top-level definitions, bodies elided:
    what the tests prompt shows, so tests follow the contract, not one answer's body."""
    dedented = textwrap.dedent(code)
    try:
        tree = ast.parse(dedented)
    except (SyntaxError, ValueError):
        return code
    lines = dedented.split("\n")
    parts: list[str] = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        first = node.body[0]
        start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
        has_doc = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                   and isinstance(first.value.value, str))
        end = (first.end_lineno or first.lineno) if has_doc else first.lineno - 1
        body_indent = " " * first.col_offset
        parts.append("\n".join([*lines[start:end], body_indent + "..."]))
    return "\n\n".join(parts) or code


def _unique(cases: list[TestCase]) -> list[TestCase]:
    seen: set[str] = set()
    out = []
    for case in cases:
        if case.source not in seen:
            seen.add(case.source)
            out.append(case)
    return out


def tests_module_text(cases: list[TestCase], module: str, names: list[str], language: str
                      ) -> str:
    """The model's tests as code for the project's test file (pytest style for Python)."""
    model = [c for c in cases if c.kind == MODEL]
    if not model:
        return ""
    if language != "python":
        body = "\n".join(c.source if c.source.endswith(";") else c.source + ";" for c in model)
        imports = f"const {{ {', '.join(names)} }} = require('./{module}');\n" if names else ""
        return (f"const assert = require('node:assert');\n{imports}\n"
                f"test('{names[0] if names else module}: tests written by StarCoder', () => {{\n"
                + textwrap.indent(body, "  ") + "\n});\n")
    header = f"from {module} import {', '.join(names)}\n" if names else f"import {module}\n"
    functions = []
    for number, case in enumerate(model, 1):
        name = names[0] if names else "code"
        functions.append(f"def test_{name}_model_written_{number}():\n"
                         + textwrap.indent(case.source, "    ") + "\n")
    return header + "\n\n" + "\n\n".join(functions)
