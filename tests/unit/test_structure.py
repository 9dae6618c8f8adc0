"""The code's shape, kept as the structure issue left it: one role per file (no module
over 400 lines), no import circle at run time, and model/ never importing the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 400
PACKAGES = ("lsp_server", "model")


def _sources() -> list[Path]:
    files = [p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))]
    files += sorted((REPO / "vscode-extension" / "src").rglob("*.ts"))
    return files


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_imports(
    tree: ast.Module, module: str, is_package: bool, modules: frozenset[str] = frozenset()
) -> set[str]:
    """Modules imported when `module` itself is imported: top-level statements (also
    inside if/try at top level), not under `if TYPE_CHECKING:`, not inside functions.
    `from package import submodule` needs the submodule, not the package's own names."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [f"{base}.{alias.name}" for alias in node.names]
                found.update(names)
                if not all(name in modules for name in names):
                    found.add(base)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return found


def _import_graph() -> dict[str, set[str]]:
    paths = {
        _module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = _import_time_imports(
            tree, name, path.name == "__init__.py", frozenset(paths)
        )
        # (The parent packages a submodule import runs first are left out: a package's
        # __init__ importing its own modules is how packages work, not a circle.)
        graph[name] = {target for target in imported if target in paths and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                strongconnect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)
    return found


def test_no_module_over_400_lines() -> None:
    too_long = {
        str(p.relative_to(REPO)): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, "split these by role"


def test_no_import_circle_at_run_time() -> None:
    graph = _import_graph()
    assert "lsp_server.server" in graph and "model.base" in graph  # the walk saw the code
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n    from lsp_server import server\n"
        "def f():\n    import model.loader\n"
    )
    imported = _import_time_imports(
        tree, "lsp_server.features.x", False, frozenset({"lsp_server.features.sibling"})
    )
    assert "lsp_server.features.sibling" in imported and "lsp_server.features" not in imported
    assert "lsp_server.server" not in imported and "model.loader" not in imported


@pytest.mark.parametrize("path", sorted((REPO / "model").rglob("*.py")), ids=str)
def test_model_never_imports_the_server(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        assert not any(n == "lsp_server" or n.startswith("lsp_server.") for n in names)
