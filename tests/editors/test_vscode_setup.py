"""First run in real VS Code (code-server + Chromium), clean profile, no server anywhere: the
packaged .vsix offers "Set up StarCoder", the thin set-up runs to the end with pip offline
against a local wheelhouse (prepared once, cached in ~/.cache/starcoder-lsp), an edit then
goes through the server it installed (talking to a real OpenAI-compatible server serving
the tiny model), and StarCoder: Doctor shows its report (test-results/setup-doctor.png).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.editors.test_vscode import EXT, RESULTS, _run, _tail, setup  # noqa: F401 (fixture)
from tests.fixtures.llama_server import LlamaServer, run_llama_server, server_available
from tests.fixtures.tiny_model import TinyModel
from tests.fixtures.wheelhouse import prepare_wheelhouse

pytestmark = [
    pytest.mark.editor,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is needed (Node 20 or later)"),
]


def _vsix() -> Path:
    pkg = json.loads((EXT / "package.json").read_text())
    return EXT / f"{pkg['name']}-{pkg['version']}.vsix"


def _bundled_wheel(vsix: Path, into: Path) -> Path:
    with zipfile.ZipFile(vsix) as archive:
        names = [n for n in archive.namelist()
                 if n.startswith("extension/server/starcoder_lsp-") and n.endswith(".whl")]
        assert len(names) == 1, f"the .vsix should carry one server wheel: {archive.namelist()}"
        target = into / Path(names[0]).name
        target.write_bytes(archive.read(names[0]))
    return target


def _setup_python() -> str:
    """The interpreter behind python3 on PATH (a pyenv shim resolved). The harness gives it
    to the editor as starcoder.server.python, so the set-up uses the one the wheelhouse is
    for (the editor's own PATH comes from the login shell)."""
    python = shutil.which("python3")
    if python is None:
        pytest.skip("no python3 on PATH for the set-up to use")
    out = subprocess.run([python, "-c", "import sys; print(sys.executable)"],
                         capture_output=True, text=True, check=True)
    return os.path.realpath(out.stdout.strip())


@pytest.fixture(scope="module")
def endpoint(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[LlamaServer]:
    if not server_available():
        pytest.skip("llama-cpp-python's server extra is not installed")
    with run_llama_server(tiny_model.gguf_path, tmp_path_factory.mktemp("endpoint")) as server:
        yield server


@pytest.mark.timeout(1800)
def test_vsix_carries_the_server_wheel(setup: str, tmp_path: Path) -> None:  # noqa: F811
    wheel = _bundled_wheel(_vsix(), tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for module in ("lsp_server/cli.py", "lsp_server/doctor/run.py", "model/loader.py",
                   "lsp_server/extraction/languages.json"):
        assert module in names, module
    assert not any(n.startswith("tests/") for n in names)


@pytest.mark.timeout(1800)
def test_first_run_sets_up_the_server_then_edits_and_shows_the_doctor(
    setup: str, tiny_model: TinyModel, endpoint: LlamaServer, tmp_path: Path,  # noqa: F811
) -> None:
    wheel = _bundled_wheel(_vsix(), tmp_path)
    python = _setup_python()
    wheelhouse = prepare_wheelhouse(wheel, python)
    code, out, took = _run(
        ["node", "test/e2e/run.mjs", "--setup-flow", "--skip-build"],
        timeout=1500,
        env={
            "STARCODER_TEST_WHEELHOUSE": str(wheelhouse),
            "STARCODER_TEST_SETUP_PYTHON": python,
            "STARCODER_TEST_VARIANT": "thin",
            "STARCODER_TEST_ENDPOINT": f"{endpoint.url}/v1",
            "STARCODER_TEST_ENDPOINT_MODEL": endpoint.model,
            "STARCODER_TEST_MODEL": str(tiny_model.gguf_path),
            "STARCODER_TEST_PYTHON": sys.executable,
        },
    )
    assert code == 0, f"the first-run test failed ({code}, {took:.0f} s):\n{_tail(out)}"
    timings = json.loads((RESULTS / "setup-timings.json").read_text())
    assert timings["offline"] is True and timings["firstEditS"] > timings["setupDoneS"] > 0
    report = (RESULTS / "setup-doctor.txt").read_text()
    assert "All checks passed" in report and "endpoint generation" in report
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert f"Python: Python {version}" in report  # the environment was made with it
    shot = RESULTS / "setup-doctor.png"
    assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot at {shot}"
