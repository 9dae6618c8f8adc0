"""Names and places: what the code under test defines, what its file is called in the
run's folder, and which project test file the model's tests would go into."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsp_server.validation.sources import python_defined_names

_JS_NAMES = re.compile(
    r"^\s*(?:export\s+(?:default\s+)?)?(?:(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)"
    r"|class\s+([A-Za-z_$][\w$]*)|(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=)", re.M)
EXTENSIONS = {"python": ".py", "javascript": ".js", "typescript": ".ts", "tsx": ".tsx"}


def defined_names(code: str, language_id: str) -> list[str]:
    """Top-level functions and classes (and JS constants) that tests can call."""
    if language_id == "python":
        return python_defined_names(code)
    names = []
    for match in _JS_NAMES.finditer(code):
        name = next(group for group in match.groups() if group)
        if name not in names:
            names.append(name)
    return names


def uri_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def unit_file_name(uri: str, language_id: str) -> str:
    """The document's own file name (so the module keeps its import name); untitled
    documents get a neutral one."""
    path = uri_path(uri)
    extension = EXTENSIONS.get(language_id, "")
    if path is not None and path.name and (not extension or path.suffix == extension
                                           or language_id != "python"):
        name = path.name
    else:
        name = "untitled" + (extension or ".txt")
    stem = Path(name).stem
    if language_id == "python" and not stem.isidentifier():
        name = "candidate.py"
    return name


def suggested_test_file(uri: str, root: str, language_id: str) -> str:
    """Where the project keeps (or would keep) the tests of this file, as a URI:
    an existing tests/test_<name>.py (or test/), else test_<name>.py beside it, else a
    new one in the project's tests/ folder (Python); <name>.test.js beside it (JS/TS)."""
    path = uri_path(uri)
    if path is None:
        return ""
    stem = path.stem
    if language_id != "python":
        return path.with_name(f"{stem}.test{path.suffix or '.js'}").as_uri()
    name = f"test_{stem}.py"
    project = Path(root) if root else None
    candidates: list[Path] = []
    if project is not None:
        candidates += [project / "tests" / name, project / "test" / name]
    candidates += [path.parent / "tests" / name, path.parent / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.as_uri()
    if project is not None and (project / "tests").is_dir():
        return (project / "tests" / name).as_uri()
    return (path.parent / name).as_uri()
