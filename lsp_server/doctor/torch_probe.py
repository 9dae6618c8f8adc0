"""`python -m lsp_server.doctor.torch_probe`: torch, transformers and CUDA devices with
their free memory, as one JSON line (run in a child process by the doctor)."""

from __future__ import annotations

import json
from typing import Any


def probe() -> dict[str, Any]:
    try:
        import torch
        import transformers
    except Exception as err:  # any import failure is the answer
        return {"error": f"{type(err).__name__}: {err}"}
    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            devices.append({"name": torch.cuda.get_device_name(index),
                            "free_gb": free / 2**30, "total_gb": total / 2**30})
    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "cuda": torch.version.cuda, "devices": devices}


if __name__ == "__main__":
    print(json.dumps(probe()))
