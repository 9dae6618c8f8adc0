"""Spawn-to-`initialize` time of starcoder-lsp next to a bare pygls server, measured
alternately in one run (the ratio is what counts; absolute times vary by machine)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": None, "rootUri": None, "capabilities": {}}}


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def time_initialize(cmd: list[str]) -> float:
    """Seconds from spawn to the complete `initialize` response."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=REPO)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(_frame(INITIALIZE))
    proc.stdin.flush()
    length = 0
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{cmd} exited before answering initialize")
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        if line in (b"\r\n", b"\n"):
            break
    body = json.loads(proc.stdout.read(length))
    elapsed = time.perf_counter() - started
    assert body.get("id") == 1 and "result" in body, body
    proc.kill()
    proc.wait()
    return elapsed


def measure(rounds: int = 10) -> dict[str, float]:
    python = sys.executable
    ours = [python, "-m", "lsp_server", "--stdio"]
    bare = [python, str(REPO / "bench" / "bare_pygls_server.py")]
    time_initialize(ours), time_initialize(bare)  # warm the OS file cache
    ours_times, bare_times = [], []
    for _ in range(rounds):
        ours_times.append(time_initialize(ours))
        bare_times.append(time_initialize(bare))
    ours_med, bare_med = statistics.median(ours_times), statistics.median(bare_times)
    return {"starcoder_lsp_s": ours_med, "bare_pygls_s": bare_med,
            "ratio": ours_med / bare_med, "rounds": rounds}


def main() -> None:
    result = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
    print(f"spawn-to-initialize: starcoder-lsp {result['starcoder_lsp_s'] * 1000:.0f} ms, "
          f"bare pygls {result['bare_pygls_s'] * 1000:.0f} ms, ratio {result['ratio']:.2f} "
          f"(median of {result['rounds']}; target <= 1.30)")


if __name__ == "__main__":
    main()
