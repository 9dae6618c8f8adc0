"""The CLI: `edit` runs the same pipeline and prints a unified diff; `models` lists
presets; downloads fail offline with advice; start-up imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.examples import FIX_MESSAGE, FIX_SOURCE
from tests.lsp_helpers import REPO

pytestmark = pytest.mark.timeout(120)

SOURCE = """def keep():
    return 0


# starcoder: add type hints
def add(a, b):
    return a + b
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "lsp_server", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=100,
                          env={**os.environ, **(env or {})})


def test_edit_prints_a_unified_diff_and_writes(tiny_model, tmp_path: Path) -> None:
    target = tmp_path / "example.py"
    target.write_text(SOURCE)
    proc = _cli("edit", str(target), "--line", "5", "--model", str(tiny_model.gguf_path),
                "--max-tokens", "40")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"--- a/{target}\n+++ b/{target}\n@@ ")
    assert "StarCoder: add type hints" in proc.stderr
    assert target.read_text() == SOURCE  # without --write nothing changes
    proc = _cli("edit", str(target), "--line", "5", "--model", str(tiny_model.gguf_path),
                "--max-tokens", "40", "--write")
    assert proc.returncode == 0, proc.stderr
    written = target.read_text()
    assert written != SOURCE
    assert written.startswith("def keep():\n    return 0\n\n\n# starcoder: add type hints\n")


def test_edit_reports_clear_errors(tmp_path: Path) -> None:
    proc = _cli("edit", str(tmp_path / "missing.py"), "--line", "1")
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    target = tmp_path / "x.py"
    target.write_text(SOURCE)
    proc = _cli("edit", str(target), "--line", "5", "--model", str(tmp_path / "none.gguf"))
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr and "--model" in proc.stderr


def test_models_lists_presets(tmp_path: Path) -> None:
    proc = _cli("models", env={"STARCODER_MODELS_DIR": str(tmp_path)})
    assert proc.returncode == 0
    for name in ("starcoder2-15b-instruct-v0.1", "starcoder2-3b", "starcoder2-7b",
                 "starcoder2-15b", "starcoder-gpteacher-code-instruct"):
        assert name in proc.stdout
    assert "Q4_K_M" in proc.stdout and "not downloaded" in proc.stdout


def test_download_offline_gives_advice(tmp_path: Path) -> None:
    proc = _cli("download", "starcoder2-3b", "--models-dir", str(tmp_path),
                env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1
    assert "could not download" in proc.stderr and "--model /path/to/" in proc.stderr


def test_initialize_imports_nothing_heavy() -> None:
    """Start-up and `initialize` must not import torch, transformers, llama_cpp,
    huggingface_hub or the tree-sitter grammars."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}}}
    exit_ = {"jsonrpc": "2.0", "method": "exit"}
    payload = b""
    for message in (init, exit_):
        body = json.dumps(message).encode()
        payload += b"Content-Length: %d\r\n\r\n" % len(body) + body
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lsp_server", "--stdio"],
                          cwd=REPO, input=payload, capture_output=True, timeout=60)
    assert b'"id": 1' in proc.stdout or b'"id":1' in proc.stdout
    imported = {line.split("|")[-1].strip() for line in
                proc.stderr.decode(errors="replace").splitlines() if "|" in line}
    for heavy in ("torch", "transformers", "llama_cpp", "huggingface_hub", "tree_sitter",
                  "numpy", "jinja2"):
        assert heavy not in imported, f"{heavy} imported at start-up"




def test_edit_fix_rewrites_the_function_around_a_reported_problem(tiny_model,
                                                                   tmp_path: Path) -> None:
    target = tmp_path / "fix.py"
    target.write_text(FIX_SOURCE)
    proc = _cli("edit", str(target), "--line", "7", "--fix", FIX_MESSAGE,
                "--model", str(tiny_model.gguf_path), "--max-tokens", "40", "--write")
    assert proc.returncode == 0, proc.stderr
    assert (f"StarCoder: Fix this problem: {FIX_MESSAGE} (on the line "
            "`result += item.price * quantity`)") in proc.stderr
    written = target.read_text()
    assert written != FIX_SOURCE
    assert written.startswith("import os\n\n\n")  # only the function was the target
    assert written.endswith("def other():\n    return 1\n")
    function = FIX_SOURCE.split("\n")[3:8]
    removed = [line[1:] for line in proc.stdout.split("\n")
               if line.startswith("-") and not line.startswith("---")]
    assert removed and all(line in function for line in removed)


def test_edit_fix_and_instruction_exclude_each_other(tmp_path: Path) -> None:
    target = tmp_path / "x.py"
    target.write_text(FIX_SOURCE)
    proc = _cli("edit", str(target), "--line", "7", "--fix", "x", "--instruction", "y")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
