"""Runs the tests of one candidate inside the sandbox, under the user's Python.

Copied into the run's folder with the candidate file and `tests.json`; standard library
only and Python 3.8 syntax, since it runs under whatever interpreter the project uses.
Each result is appended to `results.jsonl` as soon as it is known (a "start" line first),
so a run killed half-way still tells which tests passed and which one hung.

Test kinds: "doctest" (examples of one docstring share their globals, like doctest),
anything else is code executed in a copy of the module's globals (an exception, an
`AssertionError` included, fails it). Each test gets `per_test_s` seconds of wall time.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import json
import linecache
import os
import signal
import sys
import traceback

OUTPUT_CAP = 4000


class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):  # type: ignore[no-untyped-def]
    raise TestTimeout("the test ran longer than its time limit")


def _record(handle, data) -> None:  # type: ignore[no-untyped-def]
    handle.write(json.dumps(data) + "\n")
    handle.flush()


def _cap(text: str) -> str:
    return text if len(text) <= OUTPUT_CAP else text[:OUTPUT_CAP] + "\n[…]"


def _load(module_name: str, file_name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(module_name, file_name)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file_name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _run_doctest(source: str, name: str, globs: dict) -> tuple[bool, str]:  # type: ignore[type-arg]
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, globs, name, None, 0)
    if not test.examples:
        return False, "no doctest examples"
    runner = doctest.DocTestRunner(
        verbose=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    runner.run(test, out=out.write, clear_globs=False)
    globs.update(test.globs)  # the next example of this docstring sees these names
    failed = runner.summarize(verbose=False).failed
    return failed == 0, out.getvalue()


def _run_code(source: str, name: str, globs: dict) -> tuple[bool, str]:  # type: ignore[type-arg]
    # Tracebacks show the test's own lines (not the module's, which the globals point at).
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    try:
        exec(compile(source, name, "exec"), globs)
    except TestTimeout as err:
        return False, str(err)
    except BaseException:
        kind, value, tb = sys.exc_info()
        lines = traceback.format_exception(kind, value, tb)
        # Drop this harness's own frame from the traceback.
        return False, "".join(line for line in lines if __file__ not in line)
    return True, ""


def _run_project(source: str, module) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """The project's pytest tests selected by name, against the candidate module."""
    spec = json.loads(source)
    try:
        import pytest
    except ImportError:
        return {"skip": True, "output": "project tests: pytest is not installed in "
                                        + sys.executable}
    for entry in reversed(spec["path"]):
        if entry not in sys.path:
            sys.path.insert(1, entry)
    sys.modules[spec["module"]] = module
    children = []

    class Collect:
        def pytest_runtest_logreport(self, report):  # type: ignore[no-untyped-def]
            if report.when == "call" or (report.failed and report.when != "call"):
                if report.skipped:
                    return
                children.append({"name": report.nodeid, "passed": bool(report.passed),
                                 "output": _cap(report.longreprtext or "")})

    pytest.main([spec["file"], "-k", spec["k"], "-q", "-p", "no:cacheprovider",
                 "-o", "addopts=", "--rootdir", spec["root"]], plugins=[Collect()])
    return {"children": children}


def main() -> int:
    with open("tests.json", encoding="utf-8") as handle:
        spec = json.load(handle)
    signal.signal(signal.SIGALRM, _on_alarm)
    per_test = float(spec.get("per_test_s") or 5)
    sys.path.insert(0, os.getcwd())
    with open("results.jsonl", "a", encoding="utf-8") as results:
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                signal.setitimer(signal.ITIMER_REAL, per_test)
                try:
                    module = _load(spec["module"], spec["file"])
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException:
            _record(results, {"load_error": _cap(captured.getvalue() + traceback.format_exc())})
            return 0
        groups: dict = {}  # type: ignore[type-arg]
        for index, test in enumerate(spec["tests"]):
            _record(results, {"start": index})
            kind, name, source = test["kind"], test["name"], test["source"]
            group = test.get("group") or f"#{index}"
            globs = groups.setdefault(group, dict(vars(module)))
            out = io.StringIO()
            signal.setitimer(signal.ITIMER_REAL, per_test)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    if kind == "project":
                        signal.setitimer(signal.ITIMER_REAL, 0)  # pytest: the wall limit
                        _record(results, {"index": index, **_run_project(source, module)})
                        continue
                    if kind == "doctest":
                        passed, report = _run_doctest(source, name, globs)
                    else:
                        passed, report = _run_code(source, name, globs)
            except TestTimeout as err:
                passed, report = False, str(err)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            _record(results, {"index": index, "passed": bool(passed),
                              "output": _cap((out.getvalue() + report).strip())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
