"""The doctor's pure parts: report formats, the llama.cpp build's CPU features against a
CPU's flags, the KV-cache estimate, the FIM-token scan of a GGUF vocabulary."""

from __future__ import annotations

from pathlib import Path

from lsp_server.doctor.environment import build_features, missing_cpu_features
from lsp_server.doctor.report import ASCII_MARKS, FAIL, OK, SKIP, WARN, Check, Report
from model.llamacpp_backend.gguf_header import gguf_tokens_present
from model.llamacpp_backend.memory import gguf_memory_gb, kv_cache_gb
from tests.fixtures.model_variants import instruct_only_gguf
from tests.fixtures.tiny_model import TinyModel

REPORT = Report([
    Check("server", OK, "starcoder-lsp 0.1.0"),
    Check("model file", FAIL, "/m/a_b.gguf is truncated", "run `starcoder-lsp download x_y`"),
    Check("completion model", WARN, "an *instruct* model", "set completionModel"),
    Check("endpoint", SKIP, "none set", "never shown"),
    Check("prompt", OK, "starcoder2-instruct", block="### Instruction\n```python\n"),
])


def test_text_report_one_line_per_check_with_the_fix_on_failures() -> None:
    text = REPORT.text()
    lines = text.splitlines()
    assert lines[0] == "✔ server: starcoder-lsp 0.1.0"
    assert lines[1] == ("✘ model file: /m/a_b.gguf is truncated Fix: run "
                        "`starcoder-lsp download x_y`")
    assert lines[2] == "⚠ completion model: an *instruct* model Fix: set completionModel"
    assert lines[3] == "– endpoint: none set"  # no advice on a line that is not a problem
    assert lines[5:7] == ["      ### Instruction", "      ```python"]
    assert lines[-1] == "1 check failed: model file."
    assert REPORT.exit_code == 1 and not REPORT.ok
    assert REPORT.text(ASCII_MARKS).splitlines()[1].startswith("[FAIL] model file")


def test_markdown_report_escapes_outside_code_spans() -> None:
    markdown = REPORT.markdown()
    assert markdown.startswith("# StarCoder doctor\n\n**1 check failed: model file.**\n")
    assert "- ✘ **model file**: /m/a\\_b.gguf is truncated" in markdown
    assert "  - **Fix:** run `starcoder-lsp download x_y`" in markdown  # code span kept
    assert "an \\*instruct\\* model" in markdown
    # A block holding a fence is fenced with four backticks.
    assert "  ````text\n  ### Instruction\n  ```python\n  ````" in markdown


def test_report_passes_with_warnings_and_as_json() -> None:
    report = Report([Check("a", OK, "x"), Check("b", WARN, "y", "z"), Check("c", SKIP, "-")])
    assert report.ok and report.exit_code == 0
    assert report.summary() == "All checks passed (1 warning)."
    data = report.as_dict()
    assert data["ok"] is True and data["checks"][1] == {
        "name": "b", "status": "warn", "detail": "y", "fix": "z", "block": "", "mark": "⚠"}


def test_cpu_features_of_the_build_against_the_cpu() -> None:
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 0 | LLAMAFILE = 1 | "
    features = build_features(info)
    assert features == ["SSE3", "AVX", "AVX2", "AVX512", "LLAMAFILE"]
    cpuinfo = "processor : 0\nflags\t\t: fpu pni avx avx2 fma\n"
    assert missing_cpu_features(features, cpuinfo) == ["AVX512"]
    assert missing_cpu_features(["AVX2"], "processor : 0\n") == []  # no flags line: unknown


def test_kv_cache_estimate_for_starcoder2_15b() -> None:
    """StarCoder2-15B: 40 layers, 4 KV heads of 128: K + V take 80 KiB a token in f16."""
    header = {"general.architecture": "starcoder2", "starcoder2.block_count": 40,
              "starcoder2.embedding_length": 6144, "starcoder2.attention.head_count": 48,
              "starcoder2.attention.head_count_kv": 4}
    assert kv_cache_gb(header, 8192) == 8192 * 40 * 4 * 256 * 2 / 2**30 == 0.625
    assert abs(gguf_memory_gb(header, int(9.86e9), 8192) - (9.86e9 / 2**30 + 0.625 + 0.3)) < 1e-9
    assert kv_cache_gb({"general.architecture": "x"}, 8192) == 0.0


def test_fim_tokens_found_in_the_vocabulary(tiny_model: TinyModel, tmp_path: Path) -> None:
    wanted = ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<no_such_token>")
    assert gguf_tokens_present(tiny_model.gguf_path, wanted) == set(wanted[:3])
    instruct = instruct_only_gguf(tiny_model.gguf_path, tmp_path / "instruct.gguf")
    assert gguf_tokens_present(instruct, wanted) == set()
