"""The candidate loop's rules with scripted candidates (no model, no processes): greedy
first, samples until one passes everything, one self-repair when none does, the best one
otherwise; and how its outcome reads."""

from __future__ import annotations

import threading

import pytest

from lsp_server.validation.loop import LoopCancelled, best_of, run_candidates
from lsp_server.validation.report import MODEL, Attempt, TestCase, TestResult, Verdict
from lsp_server.validation.verdict_words import candidate_progress, validation_of

TESTS = [TestCase(MODEL, f"model test {i}", f"assert t{i}") for i in range(4)]


def verdict(passing: int) -> Verdict:
    return Verdict(results=[TestResult(t, i < passing) for i, t in enumerate(TESTS)])


def scripted(scores: list[int], repair_score: int | None = None):
    calls: list[tuple[str, int, int | None]] = []

    def produce(kind: str, number: int, repair_of: Attempt | None) -> Attempt:
        calls.append((kind, number, repair_of.number if repair_of else None))
        score = repair_score if kind == "repair" else scores[number - 1]
        return Attempt(number, kind, f"code {number}", verdict(score or 0))

    return produce, calls


def test_greedy_that_passes_is_the_only_candidate() -> None:
    produce, calls = scripted([4, 4, 4])
    result = run_candidates(produce, 5)
    assert result.passed and result.chosen.kind == "greedy"
    assert calls == [("greedy", 1, None)]


def test_samples_until_the_first_full_pass() -> None:
    produce, calls = scripted([1, 3, 4, 4, 4])
    result = run_candidates(produce, 5)
    assert result.chosen.number == 3 and result.passed
    assert [c[0] for c in calls] == ["greedy", "sample", "sample"]


def test_no_pass_then_one_repair_of_the_best_failing_candidate() -> None:
    produce, calls = scripted([1, 3, 2], repair_score=4)
    result = run_candidates(produce, 3)
    assert calls[-1] == ("repair", 4, 2)  # sample 2 had the most tests passing
    assert result.chosen.kind == "repair" and result.passed
    assert len(result.attempts) == 4


def test_a_repair_that_does_no_better_leaves_the_best() -> None:
    produce, _ = scripted([2, 1], repair_score=2)
    result = run_candidates(produce, 2)
    assert result.chosen.number == 1 and not result.passed


def test_ties_go_to_the_earlier_candidate() -> None:
    attempts = [Attempt(n, "sample", "", verdict(2)) for n in (1, 2, 3)]
    assert best_of(attempts).number == 1


def test_cancel_stops_between_candidates() -> None:
    cancel = threading.Event()
    produce, calls = scripted([0, 0, 0])

    def cancelling(kind: str, number: int, repair_of: Attempt | None) -> Attempt:
        cancel.set()
        return produce(kind, number, repair_of)

    with pytest.raises(LoopCancelled):
        run_candidates(cancelling, 3, cancel=cancel)
    assert len(calls) == 1


def test_what_the_user_reads() -> None:
    assert candidate_progress("sample", 2, 5) == "candidate 2/5"
    assert candidate_progress("repair", 6, 5) == "self-repair"
    passing = Attempt(3, "sample", "x", verdict(4))
    done = validation_of(passing, [passing] * 3, TESTS)
    assert done.label == "4/4 tests pass: 4 tests written by the model"
    assert done.as_dict()["testsPassed"] == 4 and done.as_dict()["candidates"] == 3
    assert done.chosen == "sample 3"
    failing = Attempt(1, "greedy", "x", verdict(1))
    failed = validation_of(failing, [failing, failing], TESTS)
    assert failed.label.startswith("FAILING: 1/4 tests pass")
    assert not failed.passed and failed.status == "failed"
    assert "FAIL model test 1" in failed.output and "PASS model test 0" in failed.output
