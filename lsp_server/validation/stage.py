"""Validation as a stage of the pipeline: between parsing the model's answer and building
the edits, candidates are tested and the one to propose is chosen.

    greedy answer -> test sources (the user's, the model's, the project's) ->
    candidate loop (greedy, samples, self-repair; each run in the sandbox) -> Outcome

Plain functions over pipeline.Job: no LSP here. The caller (features/validated.py) gives
callbacks for the streamed text and the progress, and a cancel event.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lsp_server import pipeline
from lsp_server.edits.diff import apply_edits
from lsp_server.prompts import Prompt
from lsp_server.prompts.validation_prompts import build_repair_prompt, build_tests_prompt
from lsp_server.settings import Settings
from lsp_server.validation import model_tests, sources
from lsp_server.validation.loop import SAMPLE_TEMPERATURE, LoopCancelled, run_candidates
from lsp_server.validation.project_tests import project_test_cases
from lsp_server.validation.report import PROJECT, Attempt, TestCase, Validation, Verdict
from lsp_server.validation.runners import NoRunner, Runner, Unit, runner_for
from lsp_server.validation.verdict_words import (
    candidate_progress,
    no_runner_validation,
    no_tests_validation,
    validation_of,
)
from lsp_server.validation.where import defined_names, suggested_test_file, unit_file_name
from model.base import Backend, GenerationRequest, GenerationStats
from model.queue import GenerationQueue
from model.sampling import Sampler

TESTS_MAX_TOKENS = 512


class ValidationCancelled(Exception):
    pass


@dataclass
class StageContext:
    """What the stage needs besides the job: the model, settings and the callbacks."""

    backend: Backend
    queue: GenerationQueue
    settings: Settings
    cancel: threading.Event
    stats: GenerationStats
    max_tokens: int
    on_partial: Callable[[str], None] = lambda _text: None
    on_progress: Callable[[str, Validation], None] = lambda _message, _v: None
    project_root: str = ""
    runner: Runner | None = None  # tests inject one; else chosen by language
    seed: int = 0
    # Sees every checked candidate (benchmarks score each one with hidden tests).
    on_attempt: Callable[[Attempt], None] | None = None


def _generate(ctx: StageContext, prompt: Prompt, max_tokens: int, *, stream: bool = True,
              draft_source: str | None = None) -> str:
    """A greedy answer (drafting from `draft_source` where the settings allow: the same
    output, sooner), limited to requestTimeout like every generation."""
    settings = ctx.settings
    return pipeline.generate(
        ctx.backend, ctx.queue, prompt, cancel=ctx.cancel, max_tokens=max_tokens,
        temperature=0.0, on_partial=ctx.on_partial if stream else None, stats=ctx.stats,
        draft_source=draft_source if settings.drafting else None,
        exact_drafts=settings.exact_drafts, timeout_s=settings.request_timeout_s)


def _continues(ctx: StageContext) -> bool:
    return not ctx.backend.info.uses_chat_api


def validate(job: pipeline.Job, prompt: Prompt, ctx: StageContext
             ) -> tuple[pipeline.Outcome, Validation]:
    """Propose the best candidate for `job`, tested. Raises ValidationCancelled."""
    spec = job.extraction.language
    language_id = spec.id if spec else ""
    try:
        runner = ctx.runner or runner_for(language_id, python=ctx.settings.validate_python,
                                          language_name=job.language)
    except NoRunner as err:
        target = job.extraction.target_text if job.mode == "edit" else None
        answer = _generate(ctx, prompt, ctx.max_tokens, draft_source=target)
        return _outcome(job, prompt, answer, ctx), no_runner_validation(str(err))

    target = job.extraction.target_text if job.mode == "edit" else ""
    greedy_answer = _generate(ctx, prompt, ctx.max_tokens, draft_source=target or None)
    _check_cancel(ctx)
    user_tests = sources.gather(language=runner.language if runner.language != "tsx"
                                else "typescript", target_text=target,
                                instruction=job.instruction)
    greedy_code = _code_or_empty(job, prompt, greedy_answer, ctx)
    names = defined_names(target or greedy_code, language_id)
    model_written = _model_tests(job, ctx, runner.language, target or greedy_code, names)
    project = (project_test_cases(ctx.project_root, job.uri, names, language_id)
               if ctx.settings.validate_project_tests else [])
    tests = [*user_tests, *model_written, *project]
    file_name = unit_file_name(job.uri, language_id)
    if not tests:
        outcome = _outcome(job, prompt, greedy_answer, ctx)
        return outcome, no_tests_validation()

    verdicts: dict[str, tuple[Verdict, tuple[TestCase, ...]]] = {}
    sampler = Sampler(ctx.backend, GenerationRequest(
        prompt.text, max_tokens=ctx.max_tokens, stop=prompt.stop,
        temperature=SAMPLE_TEMPERATURE, messages=tuple(prompt.messages),
        timeout_s=ctx.settings.request_timeout_s),
        count=max(0, ctx.settings.validate_candidates - 1), seed=ctx.seed + 1)
    count = ctx.settings.validate_candidates

    def produce(kind: str, number: int, repair_of: Attempt | None) -> Attempt:
        ctx.on_progress(candidate_progress(kind, number, count), _running(number, tests))
        if kind == "greedy":
            answer = greedy_answer
        elif kind == "sample":
            with ctx.queue.slot(ctx.cancel):
                answer = sampler.next(ctx.cancel, ctx.stats, ctx.on_partial)
        else:
            assert repair_of is not None
            answer = _repair_answer(job, ctx, repair_of, prompt)
        _check_cancel(ctx)
        return _check(job, prompt, ctx, runner, kind, number, answer, file_name, tests,
                      verdicts)

    def report(attempt: Attempt, attempts: list[Attempt]) -> None:
        message = (f"{candidate_progress(attempt.kind, attempt.number, count)}: "
                   f"{attempt.verdict.summary()}")
        ctx.on_progress(message, validation_of(attempt, attempts, tests, running=True))
        if ctx.on_attempt is not None:
            ctx.on_attempt(attempt)

    try:
        result = run_candidates(produce, count, repair=True, cancel=ctx.cancel,
                                on_attempt=report)
    except LoopCancelled:
        raise ValidationCancelled from None
    chosen = result.chosen
    outcome = chosen.payload if isinstance(chosen.payload, pipeline.Outcome) else \
        _outcome(job, prompt, greedy_answer, ctx)
    validation = validation_of(chosen, result.attempts, tests)
    module = Path(file_name).stem
    validation.tests = model_tests.tests_module_text(
        [*model_written, *chosen.tests], module, names, language_id)
    validation.test_file = suggested_test_file(job.uri, ctx.project_root, language_id)
    return outcome, validation


def _check_cancel(ctx: StageContext) -> None:
    if ctx.cancel.is_set():
        raise ValidationCancelled


def _running(number: int, tests: list[TestCase]) -> Validation:
    return Validation(status="running", passed=False, tests_passed=0,
                      tests_total=len(tests), candidates=number, isolation={}, output="",
                      label="")


def _outcome(job: pipeline.Job, prompt: Prompt, answer: str, ctx: StageContext
             ) -> pipeline.Outcome:
    return pipeline.answer_to_outcome(job, prompt, answer, ctx.stats,
                                      continues_prefix=_continues(ctx))


def _code_or_empty(job: pipeline.Job, prompt: Prompt, answer: str, ctx: StageContext) -> str:
    try:
        return pipeline.answer_code(job, prompt, answer, continues_prefix=_continues(ctx))
    except pipeline.EmptyAnswerError:
        return ""


def _model_tests(job: pipeline.Job, ctx: StageContext, language: str, code: str,
                 names: list[str]) -> list[TestCase]:
    """The model's own tests for the task (one greedy answer to the tests prompt)."""
    if not code.strip():
        return []
    stub = model_tests.python_stub(code) if language == "python" else code
    ctx.on_progress("writing tests…", _running(0, []))
    prompt = build_tests_prompt(ctx.backend.info, instruction=job.instruction, code=stub,
                                names=names, language_id=language, language=job.language,
                                fence=job.fence)
    try:
        max_tokens = pipeline.check_fits(prompt, ctx.backend,
                                         min(TESTS_MAX_TOKENS, ctx.max_tokens))
    except pipeline.PipelineError:
        return []
    answer = _generate(ctx, prompt, max_tokens, stream=False)
    _check_cancel(ctx)
    code_part = _code_or_empty(job, prompt, answer, ctx)
    return model_tests.parse_tests(code_part, names, language, origin="the model")


def _repair_answer(job: pipeline.Job, ctx: StageContext, failing: Attempt, original: Prompt
                   ) -> str:
    prompt = build_repair_prompt(ctx.backend.info, instruction=job.instruction,
                                 code=failing.code, failures=failing.verdict.failing_output(),
                                 language=job.language, fence=job.fence,
                                 context=job.extraction.context)
    try:
        max_tokens = pipeline.check_fits(prompt, ctx.backend, ctx.max_tokens)
    except pipeline.PipelineError:
        return ""
    return _generate(ctx, prompt, max_tokens)


def _check(job: pipeline.Job, prompt: Prompt, ctx: StageContext, runner: Runner, kind: str,
           number: int, answer: str, file_name: str, tests: list[TestCase],
           seen: dict[str, tuple[Verdict, tuple[TestCase, ...]]]) -> Attempt:
    """Turn an answer into a candidate and run its tests (once per distinct code)."""
    code = _code_or_empty(job, prompt, answer, ctx)
    if not code.strip():
        return Attempt(number, kind, "", Verdict(error="the model returned no code"))
    split = model_tests.split_answer(code, runner.language)
    outcome = pipeline.code_to_outcome(job, answer, split.code,
                                       dataclasses.replace(ctx.stats))
    if split.code in seen:
        verdict, own = seen[split.code]
    else:
        own = split.tests
        document = apply_edits(job.text, outcome.edits)
        read = (ctx.project_root,) if any(t.kind == PROJECT for t in tests) else ()
        verdict = runner.check(Unit(file_name, document), [*tests, *own], cancel=ctx.cancel,
                               read=read)
        seen[split.code] = (verdict, own)
    _check_cancel(ctx)
    return Attempt(number, kind, split.code, verdict, own, outcome)
