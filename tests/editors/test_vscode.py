"""The VS Code extension (vscode-extension/): type check, lint, unit tests (vitest with a
mocked `vscode`), the .vsix, and real VS Code (code-server 4.100.3 from the npm registry)
running the extension's own suite in its extension host against this server and the tiny
model, plus a Playwright + Chromium UI smoke test that saves a screenshot.

`vscode-extension/scripts/setup.sh` installs what is missing (Debian packages, npm ci,
code-server in ~/.cache/starcoder-lsp); it runs once per session here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.editor,
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="node and npm are needed for the VS Code extension (Node 20 or later)",
    ),
]

REPO = Path(__file__).resolve().parents[2]
EXT = REPO / "vscode-extension"
RESULTS = EXT / "test-results"


def _run(
    cmd: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str, float]:
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=EXT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out, time.monotonic() - start
    except subprocess.TimeoutExpired:
        # SIGTERM first: the e2e harness then stops the code-server instances it started.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        return 124, (out or "") + f"\n(timed out after {timeout:.0f} s)", time.monotonic() - start


def _tail(text: str, lines: int = 120) -> str:
    kept = [line for line in text.splitlines() if "Unknown user config" not in line]
    return "\n".join(kept[-lines:])


@pytest.fixture(scope="module")
def setup() -> str:
    code, out, took = _run(["bash", "scripts/setup.sh"], timeout=1200)
    assert code == 0, f"scripts/setup.sh failed ({code}) after {took:.0f} s:\n{_tail(out)}"
    return out


@pytest.mark.timeout(1500)  # the first one also waits for scripts/setup.sh (cold: minutes)
def test_typecheck(setup: str) -> None:
    code, out, _ = _run(["npm", "run", "--silent", "typecheck"], timeout=240)
    assert code == 0, f"tsc --noEmit failed:\n{_tail(out)}"


@pytest.mark.timeout(1500)  # the first one also waits for scripts/setup.sh (cold: minutes)
def test_lint(setup: str) -> None:
    code, out, _ = _run(["npm", "run", "--silent", "lint"], timeout=240)
    assert code == 0, f"eslint failed:\n{_tail(out)}"


@pytest.mark.timeout(1500)  # the first one also waits for scripts/setup.sh (cold: minutes)
def test_unit(setup: str) -> None:
    code, out, _ = _run(["npm", "test", "--silent"], timeout=240, env={"CI": "true"})
    assert code == 0, f"vitest failed:\n{_tail(out)}"
    assert " passed" in out and " failed" not in out.split("Tests")[-1], _tail(out)


@pytest.mark.timeout(1500)  # the first one also waits for scripts/setup.sh (cold: minutes)
def test_vsix_is_built(setup: str) -> None:
    pkg = json.loads((EXT / "package.json").read_text())
    vsix = EXT / f"{pkg['name']}-{pkg['version']}.vsix"
    vsix.unlink(missing_ok=True)
    code, out, _ = _run(["npm", "run", "--silent", "package"], timeout=240)
    assert code == 0, f"vsce package failed:\n{_tail(out)}"
    assert vsix.is_file() and vsix.stat().st_size > 10_000, f"no .vsix at {vsix}:\n{_tail(out)}"
    names = {name.lower() for name in zipfile.ZipFile(vsix).namelist()}
    wanted = {"extension/package.json", "extension/dist/extension.js", "extension/readme.md",
              "extension/dist/chat/webview.js", "extension/dist/chat/webview.css",
              "extension/media/chat.svg"}
    assert wanted <= names, names
    unwanted = ("extension/src/", "extension/node_modules/", "extension/test")
    assert not any(n.startswith(unwanted) for n in names), names


@pytest.mark.timeout(1500)
def test_real_vscode(setup: str, tiny_model) -> None:
    """code-server runs the extension's suite in its extension host, then the UI smoke test."""
    server = Path(sys.executable).parent / "starcoder-lsp"
    if not server.exists():
        server = REPO / ".venv" / "bin" / "starcoder-lsp"
    assert server.exists(), f"the starcoder-lsp program is not installed next to {sys.executable}"
    shutil.rmtree(RESULTS, ignore_errors=True)
    code, out, took = _run(
        ["node", "test/e2e/run.mjs", "--skip-build"],
        timeout=1400,
        env={
            "STARCODER_LSP_SERVER": str(server),
            "STARCODER_TEST_MODEL": str(tiny_model.gguf_path),
            "STARCODER_TEST_PYTHON": sys.executable,
        },
    )
    summary_file = RESULTS / "suite-results.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    failed = [r for r in (summary or {}).get("results", []) if not r["ok"]]
    detail = "\n".join(f"FAIL {r['name']}: {r.get('error', '')[:2000]}" for r in failed)
    assert code == 0, (
        f"real VS Code tests failed (exit {code}, {took:.0f} s); artifacts in {RESULTS}\n"
        f"{detail}\n--- harness output (tail) ---\n{_tail(out)}"
    )
    assert summary and summary["failed"] == 0 and summary["passed"] >= 8, summary
    names = [r["name"] for r in summary["results"]]
    # Both features ran in the real editor: the inline review and the chat view.
    assert sum(n.startswith("inline review") for n in names) >= 4, names
    assert sum(n.startswith("Chat") for n in names) >= 4, names
    shot = RESULTS / "smoke.png"
    assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot at {shot}"
