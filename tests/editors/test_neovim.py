"""Neovim (Debian's, headless) as an independent LSP client: a code action on an
instruction comment runs the edit command, Neovim applies the server's
workspace/applyEdit itself, and the file on disk changes where it should."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.examples import EDIT_SOURCE, FIX_COLUMNS, FIX_LINE, FIX_MESSAGE, FIX_SOURCE

pytestmark = [pytest.mark.editor, pytest.mark.timeout(300)]

HERE = Path(__file__).parent
SOURCE = EDIT_SOURCE


needs_nvim = pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim not installed "
                                "(make test installs Debian's neovim)")


def run_nvim(tiny_model, tmp_path: Path, target: Path, line: int, **env_extra: str) -> dict:
    """Run nvim_edit.lua on `target` at 0-based `line`; its JSON result."""
    result_file = tmp_path / "result.json"
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "RESULT": str(result_file),
        "LINE": str(line),
        "SERVER_CMD": json.dumps([sys.executable, "-m", "lsp_server", "--stdio", "--model",
                                  str(tiny_model.gguf_path)]),
        **env_extra,
    }
    proc = subprocess.run(
        ["nvim", "--headless", "-n", "-i", "NONE", "-u", str(HERE / "nvim_edit.lua"),
         "-c", "lua Run()", str(target)],
        env=env, cwd=str(Path(__file__).resolve().parents[2]), capture_output=True,
        text=True, timeout=240,
    )
    assert result_file.exists(), f"nvim wrote no result: {proc.stdout}\n{proc.stderr}"
    return json.loads(result_file.read_text())


@needs_nvim
def test_neovim_applies_the_edit(tiny_model, tmp_path: Path) -> None:
    target = tmp_path / "example.py"
    target.write_text(SOURCE)
    result = run_nvim(tiny_model, tmp_path, target, 7)
    assert result["ok"], result
    assert result["action"] == "StarCoder: add type hints and a docstring"
    assert result["steps"] == ["initialized", "code action", "command", "written"]
    new_text = target.read_text()
    assert new_text != SOURCE
    # The instruction comment and the code around the function are untouched.
    assert new_text.split("\n")[:8] == SOURCE.split("\n")[:8]
    assert new_text.endswith("def also_keep():\n    return 2\n")
    assert result["reply"]["text"].rstrip("\n") in new_text




@needs_nvim
def test_neovim_applies_the_quick_fix_for_a_linter_diagnostic(tiny_model, tmp_path: Path) -> None:
    """A diagnostic set by another tool in Neovim reaches the server in the code action's
    context; the quick fix is offered and Neovim applies its edit."""
    target = tmp_path / "fix.py"
    target.write_text(FIX_SOURCE)
    message = FIX_MESSAGE
    diagnostic = {"col": FIX_COLUMNS[0], "end_col": FIX_COLUMNS[1], "message": message,
                  "source": "pyflakes"}
    result = run_nvim(tiny_model, tmp_path, target, FIX_LINE, DIAGNOSTIC=json.dumps(diagnostic),
                      ACTION_PREFIX="StarCoder: fix")
    assert result["ok"], result
    assert result["diagnostics"] == 1
    assert result["action"] == f'StarCoder: fix "{message}"'
    assert result["kind"] == "quickfix"
    instruction = result["reply"]["instruction"]
    assert message in instruction and "pyflakes" in instruction
    new_text = target.read_text()
    assert new_text != FIX_SOURCE
    assert new_text.startswith("import os\n\n\n")
    assert new_text.endswith("def other():\n    return 1\n")
