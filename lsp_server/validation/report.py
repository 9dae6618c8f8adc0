"""The values validation passes around: a test to run, its result, one candidate's
verdict, and the `validation` object of the result (`Validation.as_dict`).

Plain data, no behaviour beyond wording: the loop, the runners and the stage all speak
these, so none of them imports another for a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Where a test came from, in the order sources are gathered (the label lists them so).
DOCTEST = "doctest"  # `>>> f(2)` / `4` in the target's docstring or the instruction
INSTRUCTION = "instruction"  # an `assert` line in the instruction
MODEL = "model"  # written by the model (its own prompt, or after the code in an answer)
PROJECT = "project"  # the project's own tests that name the target (opt-in)
KINDS = (DOCTEST, INSTRUCTION, MODEL, PROJECT)

_KIND_WORDS = {
    DOCTEST: ("doctest", "doctests"),
    INSTRUCTION: ("assert from your instruction", "asserts from your instruction"),
    MODEL: ("test written by the model", "tests written by the model"),
    PROJECT: ("project test", "project tests"),
}


@dataclass(frozen=True)
class TestCase:
    """One test. `group`: doctest examples of one docstring share their globals."""

    __test__ = False  # not a pytest class

    kind: str
    name: str
    source: str
    group: str = ""
    origin: str = ""  # e.g. "your docstring", "the instruction"


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class

    case: TestCase
    passed: bool
    output: str = ""


@dataclass
class Verdict:
    """One candidate's run: every test's result, and why the run stopped early if it did."""

    results: list[TestResult] = field(default_factory=list)
    not_run: list[TestCase] = field(default_factory=list)
    error: str = ""  # the code did not load (syntax error, import failure), or the run died
    output: str = ""  # what the run printed, capped
    isolation: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def total(self) -> int:
        return len(self.results) + len(self.not_run)

    @property
    def passed_count(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def passed(self) -> bool:
        return self.total > 0 and self.passed_count == self.total

    def failing_output(self, limit: int = 4000) -> str:
        """What a user (or the model, for self-repair) needs to see about the failures."""
        parts: list[str] = []
        if self.error:
            parts.append(self.error.strip())
        for result in self.results:
            if not result.passed:
                parts.append(f"FAILED {result.case.name}\n{result.output.strip()}".strip())
        for case in self.not_run:
            parts.append(f"NOT RUN {case.name} (the run stopped before it)")
        text = "\n\n".join(parts)
        return text if len(text) <= limit else text[:limit] + "\n[…]"

    def summary(self) -> str:
        return f"{self.passed_count}/{self.total} tests pass"


@dataclass
class Attempt:
    """A candidate and its verdict."""

    number: int  # 1-based; the self-repair continues the numbering
    kind: str  # "greedy" | "sample" | "repair"
    code: str  # the candidate's code for the target
    verdict: Verdict
    tests: tuple[TestCase, ...] = ()  # tests that came with the answer itself
    payload: Any = None  # what the caller needs to turn it into edits (pipeline.Outcome)

    def label(self) -> str:
        return {"greedy": "the greedy answer", "repair": "the self-repaired answer"}.get(
            self.kind, f"sample {self.number}")


def count_words(cases: list[TestCase] | tuple[TestCase, ...]) -> str:
    """"2 doctests from your docstring, 2 tests written by the model"."""
    parts: list[str] = []
    for kind in KINDS:
        of_kind = [c for c in cases if c.kind == kind]
        if not of_kind:
            continue
        one, many = _KIND_WORDS[kind]
        words = one if len(of_kind) == 1 else many
        origins = sorted({c.origin for c in of_kind if c.origin})
        suffix = f" from {' and '.join(origins)}" if kind == DOCTEST and origins else ""
        parts.append(f"{len(of_kind)} {words}{suffix}")
    return ", ".join(parts)


@dataclass
class Validation:
    """The result's `validation` field (and, while running, each progress report's)."""

    status: str  # "passed" | "failed" | "no-tests" | "no-runner" | "running"
    passed: bool
    tests_passed: int
    tests_total: int
    candidates: int
    isolation: dict[str, Any]
    output: str
    label: str
    chosen: str = ""  # which candidate is proposed ("the greedy answer", "sample 3", …)
    tests: str = ""  # the model's tests as code, ready for the project's test file
    test_file: str = ""  # where they would go (a URI), when the document has a path
    sources: dict[str, int] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "passed": self.passed,
            "testsPassed": self.tests_passed,
            "testsTotal": self.tests_total,
            "candidates": self.candidates,
            "isolation": self.isolation,
            "output": self.output,
            "label": self.label,
            "chosen": self.chosen,
            "tests": self.tests,
            "testFile": self.test_file,
            "sources": self.sources,
            "attempts": self.attempts,
        }
