"""Tables and the RESULTS.md section of bench/validate.py (kept apart from the run)."""

from __future__ import annotations

import datetime
import os
import statistics
from pathlib import Path
from typing import Any

from bench.fim import _machine as cpu_and_memory

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def summarize(rows: list[dict[str, Any]], ks: list[int], seeds: list[int]) -> dict[str, Any]:
    n = len(rows)
    plain = [bool(r["plain_pass"]) for r in rows]
    out: dict[str, Any] = {
        "n": n,
        "plain_pass": sum(plain),
        "plain_rate": sum(plain) / n if n else 0.0,
        "plain_s": _mean([r["plain_s"] for r in rows]),
        "false_rejections": sum(r["false_rejections"] for r in rows),
        "false_acceptances": sum(r["false_acceptances"] for r in rows),
        "candidates_scored": sum(r["candidates_scored"] for r in rows),
        "greedy_rechecked": sum(r["greedy_repeatable"] is not None for r in rows),
        "greedy_repeatable": sum(bool(r["greedy_repeatable"]) for r in rows),
        "ks": {},
    }
    for k in ks:
        rates, seconds, accepted, gains, losses = [], [], [], [], []
        for seed in seeds:
            runs = [r["runs"].get(f"{seed}/{k}") for r in rows]
            runs_ok = [run for run in runs if run is not None]
            if not runs_ok:
                continue
            rates.append(sum(run["proposed_pass"] for run in runs_ok) / len(runs_ok))
            seconds += [run["seconds"] for run in runs_ok]
            accepted.append(sum(run["validated"] for run in runs_ok))
            gains.append(sum(1 for r, run in zip(rows, runs, strict=True) if run
                             and run["proposed_pass"] and not r["plain_pass"]))
            losses.append(sum(1 for r, run in zip(rows, runs, strict=True) if run
                              and not run["proposed_pass"] and r["plain_pass"]))
        out["ks"][k] = {
            "rates": rates,
            "mean": _mean(rates),
            "sd": statistics.stdev(rates) if len(rates) > 1 else 0.0,
            "seconds": _mean(seconds),
            "accepted": _mean([float(a) for a in accepted]),
            "gains": _mean([float(g) for g in gains]),
            "losses": _mean([float(x) for x in losses]),
        }
    return out


def table(s: dict[str, Any]) -> str:
    n = s["n"] or 1
    lines = [
        "| proposed by | pass@1 (hidden tests) | per seed | s / problem | validator accepted "
        "| gained / lost vs plain |",
        "|---|---|---|---|---|---|",
        f"| plain greedy | {s['plain_rate'] * 100:.1f} % ({s['plain_pass']}/{s['n']}) | | "
        f"{s['plain_s']:.1f} | | |",
    ]
    for k, row in s["ks"].items():
        per_seed = ", ".join(f"{r * 100:.1f}" for r in row["rates"])
        lines.append(
            f"| validated, k = {k} | {row['mean'] * 100:.1f} % ± {row['sd'] * 100:.1f} | "
            f"{per_seed} | {row['seconds']:.1f} | {row['accepted']:.1f}/{n} | "
            f"+{row['gains']:.1f} / -{row['losses']:.1f} |")
    lines += [
        "",
        f"Candidates scored with the hidden tests: {s['candidates_scored']}; false rejections "
        f"(validator said fail, hidden tests pass): {s['false_rejections']}; false acceptances "
        f"(validator said pass, hidden tests fail): {s['false_acceptances']}.",
    ]
    if s["greedy_rechecked"]:
        lines.append(f"Greedy decoded twice: identical on {s['greedy_repeatable']}/"
                     f"{s['greedy_rechecked']} problems.")
    return "\n".join(lines)


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{cpu_and_memory()}; load average at the end {load}"


def record(s: dict[str, Any]) -> None:
    """Append a dated section to bench/RESULTS.md."""
    today = datetime.date.today().isoformat()
    section = (
        f"\n## {today} — bench/validate.py (self-validated code on HumanEval)\n\n"
        f"Machine: {machine()}. Model: `{s['model']}` (llama.cpp, {s['threads']} thread, "
        f"max {s['max_tokens']} tokens). Problems: {s['n']}, {s['first']} to {s['last']}; sampling "
        f"seed sets: {len(next(iter(s['ks'].values()))['rates']) if s['ks'] else 0}. "
        f"Wall time {s['wall_s'] / 60:.0f} min.\n\n{table(s)}\n\n"
        "pass@1 = share of problems whose proposed edit passes HumanEval's hidden tests "
        "(never seen by the model or the validator); ± = standard deviation across "
        "sampling seed sets (run-to-run noise of the validated runs; greedy decoding's own "
        "repeatability is the \"decoded twice\" line, when measured).\n"
    )
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(("" if handle.tell() else "# Benchmark results\n") + section)
