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

from tests.fixtures.examples import EDIT_SOURCE

pytestmark = [pytest.mark.editor, pytest.mark.timeout(300)]

HERE = Path(__file__).parent
SOURCE = EDIT_SOURCE


@pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim not installed (make test "
                    "installs Debian's neovim)")
def test_neovim_applies_the_edit(tiny_model, tmp_path: Path) -> None:
    target = tmp_path / "example.py"
    target.write_text(SOURCE)
    result_file = tmp_path / "result.json"
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "RESULT": str(result_file),
        "LINE": "7",
        "SERVER_CMD": json.dumps([sys.executable, "-m", "lsp_server", "--stdio", "--model",
                                  str(tiny_model.gguf_path)]),
    }
    proc = subprocess.run(
        ["nvim", "--headless", "-n", "-i", "NONE", "-u", str(HERE / "nvim_edit.lua"),
         "-c", "lua Run()", str(target)],
        env=env, cwd=str(Path(__file__).resolve().parents[2]), capture_output=True,
        text=True, timeout=240,
    )
    assert result_file.exists(), f"nvim wrote no result: {proc.stdout}\n{proc.stderr}"
    result = json.loads(result_file.read_text())
    assert result["ok"], result
    assert result["action"] == "StarCoder: add type hints and a docstring"
    assert result["steps"] == ["initialized", "code action", "command", "written"]
    new_text = target.read_text()
    assert new_text != SOURCE
    # The instruction comment and the code around the function are untouched.
    assert new_text.split("\n")[:8] == SOURCE.split("\n")[:8]
    assert new_text.endswith("def also_keep():\n    return 2\n")
    assert result["reply"]["text"].rstrip("\n") in new_text
