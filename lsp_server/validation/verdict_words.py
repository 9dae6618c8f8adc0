"""How validation's outcome reads: the progress lines ("candidate 2/5: 3/4 tests pass"),
the preview's label ("4/4 tests pass: 2 doctests from your docstring, 2 tests written by
the model"), and the test output a user can open."""

from __future__ import annotations

from lsp_server.validation.report import Attempt, TestCase, Validation, count_words


def candidate_progress(kind: str, number: int, count: int) -> str:
    if kind == "repair":
        return "self-repair"
    return f"candidate {number}/{count}"


def _cases(attempt: Attempt, tests: list[TestCase]) -> list[TestCase]:
    return [*tests, *attempt.tests]


def test_output(attempt: Attempt) -> str:
    """Every test with its outcome, failures with what they printed."""
    verdict = attempt.verdict
    lines = [f"{attempt.label()}: {verdict.summary()}"]
    if verdict.error:
        lines += ["", verdict.error.strip()]
    for result in verdict.results:
        mark = "PASS" if result.passed else "FAIL"
        lines.append(f"{mark} {result.case.name}")
        if not result.passed and result.output.strip():
            lines += ["    " + line for line in result.output.strip().splitlines()[:40]]
    for case in verdict.not_run:
        lines.append(f"NOT RUN {case.name}")
    if verdict.output.strip() and not verdict.passed:
        lines += ["", "output of the run:", verdict.output.strip()[-4000:]]
    return "\n".join(lines)


def validation_of(chosen: Attempt, attempts: list[Attempt], tests: list[TestCase], *,
                  running: bool = False) -> Validation:
    """The `validation` object for the candidate proposed (or the latest, while running)."""
    verdict = chosen.verdict
    cases = _cases(chosen, tests)
    what = count_words(cases)
    summary = verdict.summary()
    if verdict.passed:
        label = f"{summary}: {what}"
        status = "passed"
    else:
        tried = f"{len(attempts)} candidate{'s' if len(attempts) != 1 else ''}"
        label = f"FAILING: {summary} ({what}); best of {tried}"
        status = "failed"
    sources: dict[str, int] = {}
    for case in cases:
        sources[case.kind] = sources.get(case.kind, 0) + 1
    return Validation(
        status="running" if running else status,
        passed=verdict.passed,
        tests_passed=verdict.passed_count,
        tests_total=verdict.total,
        candidates=len(attempts),
        isolation=verdict.isolation,
        output=test_output(chosen),
        label=label,
        chosen=chosen.label(),
        sources=sources,
        attempts=[{"number": a.number, "kind": a.kind, "testsPassed": a.verdict.passed_count,
                   "testsTotal": a.verdict.total} for a in attempts],
    )


def no_runner_validation(reason: str) -> Validation:
    return Validation(status="no-runner", passed=False, tests_passed=0, tests_total=0,
                      candidates=1, isolation={}, output=reason,
                      label=f"NOT TESTED: {reason}", chosen="the greedy answer")


def no_tests_validation() -> Validation:
    reason = ("no tests were found: the code has no doctest examples, the instruction no "
              "assert lines, and the model wrote no usable tests")
    return Validation(status="no-tests", passed=False, tests_passed=0, tests_total=0,
                      candidates=1, isolation={}, output=reason,
                      label=f"NOT TESTED: {reason}", chosen="the greedy answer")
