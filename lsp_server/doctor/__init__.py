"""The doctor: checks what the server needs (its Python, the inference engines, the model
file, prompts, fill-in-the-middle, an endpoint, memory) and says what to do about each
failure. One plain function (run.run_doctor) over the server's own loaders, shown by the
CLI (`starcoder-lsp doctor`) and by editors (`starcoder/doctor`).

    report.py           Check / Report: ✔ ✘ ⚠ – lines, text, Markdown, JSON
    environment.py      server, Python, llama.cpp build + CPU features, torch + CUDA
    torch_probe.py      torch and CUDA devices, probed in a child process
    model_checks.py     model file (never downloaded), memory, loading
    prompt_checks.py    prompt family + exact template, FIM tokens, base completion model
    endpoint_checks.py  an endpoint's /v1/models and a 1-token generation
    run.py              the checks in order
"""

from lsp_server.doctor.report import FAIL, OK, SKIP, WARN, Check, Report
from lsp_server.doctor.run import run_doctor

__all__ = ["FAIL", "OK", "SKIP", "WARN", "Check", "Report", "run_doctor"]
