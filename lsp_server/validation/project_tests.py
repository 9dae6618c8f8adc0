"""Opt-in (setting `validateProjectTests`): the project's own pytest tests that name the
code under test, run against the candidate.

Selection is by name, twice: test files whose text mentions one of the target's names,
and inside them pytest's `-k name`. In the sandbox the edited module's import name is
bound to the candidate file, everything else is imported from the project, which the
run may then read (never write).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from lsp_server.validation.report import PROJECT, TestCase
from lsp_server.validation.where import uri_path

MAX_FILES = 20
MAX_SCANNED = 5000
SKIP_DIRS = {".git", ".hg", ".venv", "venv", "env", "node_modules", "__pycache__",
             "site-packages", "build", "dist", ".tox", ".nox", ".mypy_cache", ".cache"}


def module_name_for(path: Path) -> tuple[str, str]:
    """(dotted import name, the sys.path entry it is imported from) of a Python file."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), str(folder)


def _test_files(root: Path) -> list[Path]:
    found: list[Path] = []
    scanned = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            scanned += 1
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                found.append(Path(folder) / name)
        if scanned > MAX_SCANNED:
            break
    return found


def project_test_cases(root: str, uri: str, names: list[str], language_id: str
                       ) -> list[TestCase]:
    """One case per test file that names the target; the harness expands each into the
    tests pytest selects with `-k`."""
    path = uri_path(uri)
    if language_id != "python" or not root or path is None or not names:
        return []
    project = Path(root)
    if not project.is_dir():
        return []
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    module, entry = module_name_for(path)
    cases: list[TestCase] = []
    for test_file in _test_files(project):
        try:
            text = test_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not pattern.search(text):
            continue
        spec = {"file": str(test_file), "k": " or ".join(names), "module": module,
                "path": [entry, str(project)], "root": str(project)}
        rel = test_file.relative_to(project)
        cases.append(TestCase(PROJECT, f"project tests in {rel} (-k {spec['k']})",
                              json.dumps(spec), origin=str(rel)))
        if len(cases) >= MAX_FILES:
            break
    return cases
