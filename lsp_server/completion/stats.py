"""starcoder/completionStats: what recent completion requests cost (prompt tokens
evaluated, latency, server overhead), to measure prompt-cache reuse in real editing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lsp_server.completion.jobs import Job

STATS_KEPT = 256


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def completion_report(history: Iterable[dict[str, Any]], counters: Counter[str],
                      current: Job | None) -> dict[str, Any]:
    """Recent requests and their p50/p95 (for starcoder/completionStats)."""
    requests = list(history)
    served = [e for e in requests if "prompt_tokens" in e]
    ratios = [e["prompt_tokens_evaluated"] / e["prompt_tokens"] for e in served
              if e.get("prompt_tokens")]
    overheads = [e["server_overhead_ms"] for e in served if "server_overhead_ms" in e]
    totals = [e["total_ms"] for e in served if "total_ms" in e]
    summary = {
        "generated": len(served),
        "evaluated_ratio_p50": round(percentile(ratios, 0.5), 4),
        "evaluated_ratio_p95": round(percentile(ratios, 0.95), 4),
        "server_overhead_ms_p50": round(percentile(overheads, 0.5), 3),
        "latency_ms_p50": round(percentile(totals, 0.5), 3),
        "latency_ms_p95": round(percentile(totals, 0.95), 3),
        "mean_prompt_tokens": round(
            sum(e["prompt_tokens"] for e in served) / max(1, len(served)), 1),
    }
    running = {"id": current.seq, "phase": current.phase} if current else None
    return {"requests": requests, "counters": dict(counters),
            "summary": summary, "running": running}
