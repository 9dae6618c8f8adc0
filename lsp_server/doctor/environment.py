"""Checks of what the server runs on: its own version and place, Python, and which
inference engines can load (llama.cpp's build and CPU features; torch and CUDA)."""

from __future__ import annotations

import importlib.util
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from lsp_server.doctor.report import FAIL, OK, SKIP, WARN, Check

MIN_PYTHON = (3, 10)
LLAMA_INSTALL = (
    "`pip install 'starcoder-lsp[llama]'` with `CMAKE_ARGS=-DGGML_NATIVE=OFF` for a portable "
    "build (in VS Code: Set up StarCoder, full), or use an endpoint (`--endpoint URL`)"
)
GPU_INSTALL = "`pip install 'starcoder-lsp[gpu]'` (torch with CUDA, transformers)"
# llama.cpp's system-info names -> the /proc/cpuinfo flags the CPU needs for them.
CPU_FLAGS = {
    "SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX2": "avx2", "F16C": "f16c",
    "FMA": "fma", "BMI2": "bmi2", "AVX_VNNI": "avx_vnni", "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi", "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}  # fmt: skip
TORCH_PROBE_TIMEOUT_S = 60.0


def server_check() -> Check:
    import lsp_server

    where = Path(lsp_server.__file__).resolve().parent.parent
    return Check("server", OK, f"starcoder-lsp {lsp_server.__version__}, running from {where}")


def python_check() -> Check:
    version = platform.python_version()
    detail = f"Python {version} ({sys.executable})"
    if sys.version_info[:2] >= MIN_PYTHON:
        return Check("Python", OK, detail)
    return Check("Python", FAIL, detail, "starcoder-lsp needs Python 3.10 or newer: install it "
                 "into a Python 3.10+ environment (in VS Code: Set up StarCoder)")


def build_features(system_info: str) -> list[str]:
    """The features a llama.cpp build uses, from its system-info line
    ("CPU : SSE3 = 1 | AVX = 1 | AVX512 = 0 | …")."""
    found = []
    for part in system_info.replace("\n", "|").split("|"):
        name, _, value = part.partition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            found.append(name)
    return found


def missing_cpu_features(features: list[str], cpuinfo: str) -> list[str]:
    """Build features this CPU lacks (a native build made on another machine crashes with
    an illegal instruction). Empty when /proc/cpuinfo says nothing (not Linux x86)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    if not flags:
        return []
    return [f for f in features if f in CPU_FLAGS and CPU_FLAGS[f] not in flags]


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def llama_cpp_check(required: bool) -> Check:
    """llama-cpp-python: installed, its version, GPU offload, CPU features it was built
    with and whether this CPU has them."""
    name = "llama.cpp backend"
    if importlib.util.find_spec("llama_cpp") is None:
        if required:
            return Check(name, FAIL, "llama-cpp-python is not installed", LLAMA_INSTALL)
        return Check(name, SKIP, "llama-cpp-python is not installed (not needed here)")
    try:
        import llama_cpp

        info = llama_cpp.llama_print_system_info()
        system = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        version = getattr(llama_cpp, "__version__", "?")
    except Exception as err:  # a broken build: missing shared library, bad ABI
        return Check(name, FAIL if required else WARN,
                     f"llama-cpp-python does not load: {type(err).__name__}: {err}",
                     f"reinstall it: {LLAMA_INSTALL}")
    features = build_features(system)
    where = "GPU offload" if gpu else "CPU only"
    detail = (f"llama-cpp-python {version} ({where}); CPU features: "
              f"{', '.join(features) or 'none reported'}")
    missing = missing_cpu_features(features, _cpuinfo())
    if missing:
        return Check(name, FAIL if required else WARN,
                     f"{detail}; this CPU lacks {', '.join(missing)}",
                     "it was built for another CPU (a native build): reinstall with "
                     "`CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --force-reinstall --no-cache-dir "
                     "llama-cpp-python`")
    return Check(name, OK, detail)


def llama_gpu_offload() -> bool:
    """Whether the installed llama.cpp can put layers on a GPU."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # not installed or broken: the llama.cpp check says which
        return False


def torch_check(required: bool, probe: dict[str, Any] | None) -> Check:
    """torch + transformers, and CUDA devices with their free memory; `probe` is
    probe_torch()'s answer, None when they are not installed."""
    name = "transformers backend"
    if probe is None:
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        detail = f"{' and '.join(missing) or 'torch'} not installed"
        if required:
            return Check(name, FAIL, detail, GPU_INSTALL)
        return Check(name, SKIP, f"{detail} (optional: {GPU_INSTALL}, for a CUDA GPU)")
    if "error" in probe:
        return Check(name, FAIL if required else WARN, f"torch does not load: {probe['error']}",
                     f"reinstall it: {GPU_INSTALL}")
    devices = probe.get("devices") or []
    versions = f"torch {probe.get('torch', '?')}, transformers {probe.get('transformers', '?')}"
    if not devices:
        status = WARN if required else OK
        return Check(name, status, f"{versions}; no CUDA GPU (the CPU runs float32: slow)",
                     "for a GPU: torch built with CUDA and a driver; else use llama.cpp")
    gpus = "; ".join(f"{d['name']}: {d['free_gb']:.1f} of {d['total_gb']:.1f} GB free"
                     for d in devices)
    return Check(name, OK, f"{versions}; CUDA {probe.get('cuda', '?')}: {gpus}")


def probe_torch() -> dict[str, Any] | None:
    """Versions and CUDA devices, from `python -m lsp_server.doctor.torch_probe` (a child
    process: importing torch here would keep hundreds of MB in the server); None when
    torch or transformers is not installed."""
    if any(importlib.util.find_spec(m) is None for m in ("torch", "transformers")):
        return None
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lsp_server.doctor.torch_probe"], capture_output=True,
            text=True, timeout=TORCH_PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"importing torch took over {TORCH_PROBE_TIMEOUT_S:.0f} s"}
    except OSError as err:
        return {"error": str(err)}
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": tail}
    return result
