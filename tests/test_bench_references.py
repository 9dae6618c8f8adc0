"""Reference answers of the edit corpus (bench/corpus/references/<task-id>.txt).

Each reference is the task's selected lines (start..end, 1-based, inclusive, taken
whole as `bench.edits.plan_task` selects them) after the edit, done right. Put back in
place of the selection it must give a file that still parses cleanly, it must differ
from the selection, and a rename must leave none of the old names behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tree_sitter import Node

from lsp_server.extraction import language_for, parse

CORPUS = Path(__file__).resolve().parent.parent / "bench" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
TASKS: list[dict[str, Any]] = MANIFEST["tasks"]
RENAME = re.compile(r"\b(\w+) to (\w+)\b")


def reference_path(task: dict[str, Any]) -> Path:
    return CORPUS / "references" / f"{task['id']}.txt"


def source_lines(task: dict[str, Any]) -> list[str]:
    return (CORPUS / "files" / task["file"]).read_text().splitlines(keepends=True)


def selection(task: dict[str, Any]) -> str:
    return "".join(source_lines(task)[task["start"] - 1:task["end"]])


def applied(task: dict[str, Any]) -> str:
    lines = source_lines(task)
    reference = reference_path(task).read_text()
    return "".join(lines[:task["start"] - 1]) + reference + "".join(lines[task["end"]:])


def syntax_problems(task: dict[str, Any], text: str) -> list[str]:
    """ERROR and MISSING nodes of the tree-sitter parse of *text*, as 1-based positions."""
    spec = language_for(None, task["file"])
    assert spec is not None, f"no tree-sitter grammar for {task['file']}"
    problems: list[str] = []
    stack: list[Node] = [parse(spec, text.encode("utf-8")).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, column = node.start_point
            kind = "MISSING" if node.is_missing else "ERROR"
            problems.append(f"{kind} {node.type} at {row + 1}:{column + 1}")
        if node.has_error:
            stack.extend(node.children)
    return problems


def leading_whitespace(line: str) -> str:
    return line[:len(line) - len(line.lstrip(" \t"))]


def test_manifest_is_as_plan_task_reads_it() -> None:
    assert len(TASKS) == 31
    assert len({task["id"] for task in TASKS}) == len(TASKS)
    for task in TASKS:
        assert 1 <= task["start"] <= task["end"] <= len(source_lines(task)), task["id"]


def test_every_reference_belongs_to_a_task() -> None:
    files = {path.stem for path in (CORPUS / "references").glob("*.txt")}
    assert files == {task["id"] for task in TASKS}
    assert sorted(p.name for p in (CORPUS / "references").iterdir()) == sorted(
        f"{stem}.txt" for stem in files)


@pytest.mark.parametrize("task", TASKS, ids=[task["id"] for task in TASKS])
def test_reference_replaces_the_selection(task: dict[str, Any]) -> None:
    path = reference_path(task)
    assert path.is_file(), f"missing {path.relative_to(CORPUS)}"
    reference = path.read_text()
    original = selection(task)
    assert reference.endswith("\n") and not reference.endswith("\n\n"), \
        "whole lines, one final newline"
    assert "\r" not in reference
    assert reference != original, "the reference must edit the selection"
    assert leading_whitespace(reference) == leading_whitespace(original), \
        "the edit replaces the selection: same indentation as its first line"

    assert syntax_problems(task, "".join(source_lines(task))) == [], "corpus file itself"
    result = applied(task)
    assert syntax_problems(task, result) == []
    if task["file"].endswith(".py"):
        compile(result, task["file"], "exec")


RENAMES = [task for task in TASKS if task["kind"] == "rename"]


@pytest.mark.parametrize("task", RENAMES, ids=[task["id"] for task in RENAMES])
def test_rename_leaves_no_old_name(task: dict[str, Any]) -> None:
    pairs = RENAME.findall(task["instruction"])
    assert pairs, task["instruction"]
    reference = reference_path(task).read_text()
    original = selection(task)
    for old, new in pairs:
        assert re.search(rf"\b{re.escape(old)}\b", original), f"{old} is not in the selection"
        assert not re.search(rf"\b{re.escape(old)}\b", reference), f"{old} is still used"
        assert re.search(rf"\b{re.escape(new)}\b", reference), f"{new} is not used"
