"""`starcoder-lsp doctor` on real files and servers: the tiny GGUF (every check passes), a
truncated GGUF, an instruct-only model used for completion, an endpoint that is down and
one that is up; and `starcoder/doctor` over LSP. The right line fails, with its advice,
and the exit status says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.llama_server import LlamaServer, free_port
from tests.fixtures.model_variants import instruct_only_gguf, truncated_gguf
from tests.fixtures.tiny_model import TinyModel
from tests.lsp_helpers import REPO, running_server

pytestmark = pytest.mark.timeout(180)


def doctor(*args: str, models_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("STARCODER_API_KEY", None)
    if models_dir is not None:
        env["STARCODER_MODELS_DIR"] = str(models_dir)
    return subprocess.run([sys.executable, "-m", "lsp_server", "doctor", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=150, env=env)


def lines_of(out: str) -> dict[str, str]:
    """Check name -> its line (the marked lines only, not the template block)."""
    found = {}
    for line in out.splitlines():
        if line[:1] in "✔✘⚠–" and ":" in line:
            found[line[2:].split(":", 1)[0]] = line
    return found


def test_tiny_gguf_passes_every_check(tiny_model: TinyModel, tmp_path: Path) -> None:
    proc = doctor("--model", str(tiny_model.gguf_path), models_dir=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = lines_of(proc.stdout)
    for name in ("server", "Python", "llama.cpp backend", "backend", "model file",
                 "model loads", "prompt", "FIM tokens", "completion model", "endpoint", "memory"):
        assert lines[name].startswith("✔"), lines.get(name, f"no {name} line:\n{proc.stdout}")
    # Every line ✔ (torch is optional: "–" where it is not installed).
    assert all(line.startswith("✔") for name, line in lines.items()
               if name != "transformers backend"), proc.stdout
    assert lines["transformers backend"][0] in "✔–"
    assert "starcoder-lsp 0.1.0" in lines["server"]
    assert "CPU features:" in lines["llama.cpp backend"]
    model = lines["model file"]
    for fact in ("GGUF header valid", "architecture starcoder2", "context length 4096", "MB"):
        assert fact in model, model
    assert "starcoder2-instruct" in lines["prompt"]
    # The exact prompt an edit sends, under the prompt line.
    assert "### Instruction\n      <your instruction>" in proc.stdout
    assert "### Response\n      ```python" in proc.stdout
    assert "needs about" in lines["memory"] and "available" in lines["memory"]
    assert proc.stdout.rstrip().endswith("All checks passed.")


def test_truncated_gguf_fails_the_model_file_line(tiny_model: TinyModel, tmp_path: Path) -> None:
    broken = truncated_gguf(tiny_model.gguf_path, tmp_path / "partial.gguf")
    proc = doctor("--model", str(broken))
    assert proc.returncode == 1, proc.stdout
    lines = lines_of(proc.stdout)
    failed = [name for name, line in lines.items() if line.startswith("✘")]
    assert failed == ["model file"], proc.stdout
    assert "truncated" in lines["model file"] and "Fix: download it again" in lines["model file"]
    assert lines["model loads"].startswith("–")  # not tried on a broken file
    assert "1 check failed: model file." in proc.stdout


def test_instruct_only_model_for_completion_fails_fim(tiny_model: TinyModel,
                                                      tmp_path: Path) -> None:
    instruct = instruct_only_gguf(tiny_model.gguf_path, tmp_path / "instruct-only.gguf")
    # As the edit model, which also completes (completionModel empty).
    proc = doctor("--model", str(instruct))
    assert proc.returncode == 1, proc.stdout
    lines = lines_of(proc.stdout)
    assert [n for n, line in lines.items() if line.startswith("✘")] == ["FIM tokens"]
    assert lines["model loads"].startswith("✔")
    fim = lines["FIM tokens"]
    assert "no fill-in-the-middle tokens" in fim
    assert 'Fix: set completionModel (`--completion-model`) to "auto"' in fim
    # As a separate completion model next to a good edit model.
    proc = doctor("--model", str(tiny_model.gguf_path), "--completion-model", str(instruct))
    assert proc.returncode == 1, proc.stdout
    lines = lines_of(proc.stdout)
    assert "has no <fim_prefix>, <fim_suffix>, <fim_middle>" in lines["FIM tokens"]
    assert lines["FIM tokens"].startswith("✘") and "completionModel" in lines["FIM tokens"]
    assert lines["completion model"].startswith("⚠")  # a chat template: not a base model
    assert lines["completion model file"].startswith("✔")


def test_endpoint_down_fails_the_endpoint_line() -> None:
    port = free_port()  # nothing listens there
    proc = doctor("--endpoint", f"http://127.0.0.1:{port}/v1")
    assert proc.returncode == 1, proc.stdout
    lines = lines_of(proc.stdout)
    assert [n for n, line in lines.items() if line.startswith("✘")] == ["endpoint /v1/models"]
    down = lines["endpoint /v1/models"]
    assert f"cannot reach the inference server at http://127.0.0.1:{port}" in down
    assert "Fix: check starcoder.endpoint" in down
    assert lines["endpoint generation"].startswith("–")
    assert "auto chose openai" in lines["backend"]


def test_endpoint_up_lists_models_and_times_one_token(llama_server: LlamaServer) -> None:
    proc = doctor("--endpoint", llama_server.url + "/v1", "--model", llama_server.model,
                  "--format", "json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"], proc.stdout
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["endpoint /v1/models"]["status"] == "ok"
    assert f"serving {llama_server.model}" in checks["endpoint /v1/models"]["detail"]
    generation = checks["endpoint generation"]
    assert generation["status"] == "ok", generation
    assert generation["detail"].startswith("1 token from /v1/completions in ")
    assert checks["prompt"]["detail"].startswith("starcoder2-instruct (known model)")
    assert "### Instruction" in checks["prompt"]["block"]
    assert checks["memory"]["status"] == "skip"


def _request(client: Any, method: str) -> Any:
    return client.protocol.send_request_async(method, {})


async def test_doctor_request_over_lsp(tiny_model: TinyModel) -> None:
    """The editor's StarCoder: Doctor: the same report, loading through the server's host."""
    async with running_server(tiny_model.gguf_path) as (client, _editor):
        before = await _request(client, "starcoder/getStatus")
        assert before.state == "idle"
        report = await _request(client, "starcoder/doctor")
        assert report.ok is True, report.markdown
        markdown = report.markdown
        assert markdown.startswith("# StarCoder doctor\n\n**All checks passed")
        assert "- ✔ **model file**:" in markdown and "- ✔ **FIM tokens**:" in markdown
        assert "```text" in markdown and "### Instruction" in markdown
        # The model was loaded by the server's own host: the next edit needs no load.
        after = await _request(client, "starcoder/getStatus")
        assert after.state == "ready"
        again = await _request(client, "starcoder/doctor")
        memory = next(c for c in again.checks if c.name == "memory")
        assert memory.detail.startswith("the model is loaded")


def test_models_json_for_editors(tmp_path: Path) -> None:
    """What Set up StarCoder reads to offer the model's download: presets, sizes, what is
    on disk."""
    (tmp_path / "starcoder2-3b-Q4_K_M.gguf").write_bytes(b"GGUF")
    proc = subprocess.run([sys.executable, "-m", "lsp_server", "models", "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "STARCODER_MODELS_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["default"] == "starcoder2-15b-instruct-v0.1"
    assert listing["modelsDir"] == str(tmp_path)
    presets = {p["name"]: p for p in listing["presets"]}
    default = presets["starcoder2-15b-instruct-v0.1"]
    assert default["gguf"][0] == {"quant": "Q4_K_M", "sizeGb": 9.86,
                                  "filename": "starcoder2-15b-instruct-v0.1-Q4_K_M.gguf"}
    assert default["local"] == []
    assert presets["starcoder2-3b"]["local"] == [str(tmp_path / "starcoder2-3b-Q4_K_M.gguf")]
    assert presets["starcoder2-3b"]["kind"] == "base"
