"""One runner per language: it lays out a run's folder (the file with the candidate
applied, the tests, a harness), runs it in the sandbox and reads the results back.

Python runs under the user's interpreter (the `validatePython` setting, else the
client's, else the server's own); JavaScript under node where installed, TypeScript too
when that node can strip types. Other languages have no runner, and say so.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_server.validation.report import PROJECT, TestCase, TestResult, Verdict
from lsp_server.validation.sandbox import Limits, Sandbox, SandboxResult

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PYTHON_HARNESS = HERE / "harness_python.py"
NODE_HARNESS = HERE / "harness_node.js"
RESULTS = "results.jsonl"
PROJECT_WALL_S = 60.0
LANGUAGE_WORDS = {"python": "Python", "javascript": "JavaScript", "typescript": "TypeScript",
                  "tsx": "TypeScript (TSX)"}


class NoRunner(Exception):
    """This language (or this machine) has no way to run the tests; the message says why."""


@dataclass(frozen=True)
class Unit:
    """What a run tests: the whole file with the candidate in it, under its own name."""

    file_name: str  # e.g. "geometry.py"
    text: str


def _probe(command: list[str]) -> str:
    """Run a trusted interpreter (no model code) to ask it something; "" on failure."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=15, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


@functools.lru_cache(maxsize=8)
def python_read_paths(python: str) -> tuple[str, ...]:
    """Folders the interpreter needs to read: its installation and its sys.path."""
    out = _probe([python, "-I", "-c", "import sys, json; print(json.dumps([sys.prefix, "
                  "sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path]))"])
    try:
        paths = [p for p in json.loads(out) if isinstance(p, str) and p] if out else []
    except ValueError:
        paths = []
    executable = Path(python)
    paths += [str(executable.parent), str(executable.resolve().parent.parent)]
    return tuple(dict.fromkeys(p for p in paths if os.path.isabs(p) and os.path.exists(p)))


def _read_results(folder: Path, tests: Sequence[TestCase], run: SandboxResult) -> Verdict:
    verdict = Verdict(output=run.output, isolation=run.isolation, duration_s=run.duration_s)
    seen: dict[int, TestResult] = {}
    expanded: dict[int, list[TestResult]] = {}
    skipped: set[int] = set()
    notes: list[str] = []
    started: int | None = None
    try:
        lines = (folder / RESULTS).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "load_error" in record:
            verdict.error = "the code did not load:\n" + str(record["load_error"])
        elif "start" in record:
            started = int(record["start"])
        elif "index" in record and 0 <= int(record["index"]) < len(tests):
            index = int(record["index"])
            if record.get("skip"):  # e.g. no pytest for project tests: not the code's fault
                notes.append(str(record.get("output", "")))
                skipped.add(index)
            elif "children" in record:  # project tests: one result per test pytest ran
                expanded[index] = [_child(tests[index], child)
                                   for child in record["children"] if isinstance(child, dict)]
            else:
                seen[index] = TestResult(tests[index], bool(record.get("passed")),
                                         str(record.get("output", "")))
    hung = started if started is not None and started not in seen | expanded.keys() else None
    for index, case in enumerate(tests):
        if index in skipped:
            continue
        if index in expanded:
            verdict.results += expanded[index]
        elif index in seen:
            verdict.results.append(seen[index])
        elif index == hung:
            why = run.stopped or "the run ended during this test"
            verdict.results.append(TestResult(case, False, f"{why} (during this test)"))
        else:
            verdict.not_run.append(case)
    if not verdict.error and not seen and run.exit_code not in (0, None):
        verdict.error = f"the test run failed (exit {run.exit_code}):\n{run.output[-2000:]}"
    if run.stopped and not verdict.error:
        verdict.error = f"the test run was {run.stopped}"
    if notes:
        verdict.output = "\n".join([*notes, verdict.output]).strip()
    return verdict


def _child(parent: TestCase, child: dict[str, Any]) -> TestResult:
    case = TestCase(parent.kind, f"project test: {child.get('name', '?')}", "",
                    origin=parent.origin)
    return TestResult(case, bool(child.get("passed")), str(child.get("output", "")))


def _merge(first: Verdict, second: Verdict) -> Verdict:
    return Verdict(results=[*first.results, *second.results],
                   not_run=[*first.not_run, *second.not_run],
                   error="\n".join(e for e in (first.error, second.error) if e),
                   output="\n".join(o for o in (first.output, second.output) if o),
                   isolation=first.isolation or second.isolation,
                   duration_s=first.duration_s + second.duration_s)


class Runner:
    language = ""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def check(self, unit: Unit, tests: Sequence[TestCase], *,
              cancel: threading.Event | None = None, read: Sequence[str] = ()) -> Verdict:
        """Run `tests` against `unit` in a fresh folder; the folder is removed afterwards.
        `read`: more folders the run may read (the project, for its own tests)."""
        if not tests:
            return Verdict()
        own = [t for t in tests if t.kind != PROJECT]
        project = [t for t in tests if t.kind == PROJECT]
        verdict = self._run(unit, own, self.limits, cancel, read) if own else Verdict()
        if project and not (cancel is not None and cancel.is_set()):
            # The project's tests start pytest and its plugins: a run of their own, with
            # more wall time (the other limits are the same).
            limits = dataclasses.replace(self.limits, wall_s=max(self.limits.wall_s,
                                                                 PROJECT_WALL_S))
            verdict = _merge(verdict, self._run(unit, project, limits, cancel, read))
        return verdict

    def _run(self, unit: Unit, tests: Sequence[TestCase], limits: Limits,
             cancel: threading.Event | None, read: Sequence[str]) -> Verdict:
        with tempfile.TemporaryDirectory(prefix="starcoder-validate-") as name:
            folder = Path(name)
            command = self.prepare(folder, unit, tests)
            sandbox = Sandbox(limits, read=(*self.read_paths(), *read))
            run = sandbox.run(command, folder, cancel=cancel, path_dirs=self.path_dirs())
            return _read_results(folder, tests, run)

    def prepare(self, folder: Path, unit: Unit, tests: Sequence[TestCase]) -> list[str]:
        raise NotImplementedError

    def read_paths(self) -> tuple[str, ...]:
        return ()

    def path_dirs(self) -> tuple[str, ...]:
        return ()

    def _write_tests(self, folder: Path, unit: Unit, module: str,
                     tests: Sequence[TestCase]) -> None:
        (folder / unit.file_name).write_text(unit.text, encoding="utf-8")
        # Each test gets a share of the wall time, so one hung test leaves the others
        # time to run (the wall limit stops the run whatever happens).
        per_test = max(0.5, min(5.0, self.limits.wall_s * 0.8 / max(2, len(tests))))
        spec = {"module": module, "file": unit.file_name, "per_test_s": per_test,
                "tests": [{"kind": t.kind, "name": t.name, "source": t.source,
                           "group": t.group} for t in tests]}
        (folder / "tests.json").write_text(json.dumps(spec), encoding="utf-8")


class PythonRunner(Runner):
    language = "python"

    def __init__(self, python: str = "", limits: Limits | None = None) -> None:
        super().__init__(limits)
        self.python = python or sys.executable
        found = shutil.which(self.python)
        if found is None:
            raise NoRunner(f"the Python interpreter {self.python!r} was not found "
                           "(check the validatePython setting)")
        self.python = found

    def prepare(self, folder: Path, unit: Unit, tests: Sequence[TestCase]) -> list[str]:
        module = Path(unit.file_name).stem
        self._write_tests(folder, unit, module, tests)
        shutil.copyfile(PYTHON_HARNESS, folder / "_starcoder_harness.py")
        return [self.python, "-I", "_starcoder_harness.py"]

    def read_paths(self) -> tuple[str, ...]:
        return python_read_paths(self.python)

    def path_dirs(self) -> tuple[str, ...]:
        return (str(Path(self.python).parent),)


@functools.lru_cache(maxsize=4)
def _node_strips_types(node: str) -> bool:
    return _probe([node, "-e", "process.stdout.write(String(typeof "
                   "require('node:module').stripTypeScriptTypes === 'function'))"]) == "true"


class NodeRunner(Runner):
    """JavaScript, and TypeScript where this node can strip types (22.13+ / 23.2+)."""

    def __init__(self, language: str, limits: Limits | None = None) -> None:
        super().__init__(limits)
        node = shutil.which("node")
        if node is None:
            raise NoRunner(f"no runner for {LANGUAGE_WORDS.get(language, language)}: "
                           "node is not installed")
        self.node = node
        self.language = language
        if language != "javascript" and not _node_strips_types(node):
            raise NoRunner("no runner for TypeScript: this node cannot strip types "
                           "(Node.js 22.13 or later can)")

    def prepare(self, folder: Path, unit: Unit, tests: Sequence[TestCase]) -> list[str]:
        self._write_tests(folder, unit, Path(unit.file_name).stem, tests)
        shutil.copyfile(NODE_HARNESS, folder / "_starcoder_harness.js")
        return [self.node, "_starcoder_harness.js"]

    def read_paths(self) -> tuple[str, ...]:
        return (str(Path(self.node).resolve().parent.parent),)

    def path_dirs(self) -> tuple[str, ...]:
        return (str(Path(self.node).parent),)


def runner_for(language_id: str, *, python: str = "", limits: Limits | None = None,
               language_name: str = "") -> Runner:
    """The runner for a document's language, or NoRunner with the reason."""
    if sys.platform != "linux":
        raise NoRunner("validation runs tests only on Linux (its sandbox needs Linux)")
    if language_id == "python":
        return PythonRunner(python, limits)
    if language_id in ("javascript", "typescript", "tsx"):
        return NodeRunner(language_id, limits)
    words = language_name or LANGUAGE_WORDS.get(language_id, language_id or "this language")
    raise NoRunner(f"validation has no test runner for {words} (Python, JavaScript and "
                   "TypeScript have one)")
