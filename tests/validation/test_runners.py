"""The runners with real interpreters: Python (doctests, asserts, the project's own pytest
tests against the candidate), JavaScript under node, and a plain "no runner" elsewhere."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from lsp_server.validation import sources
from lsp_server.validation.project_tests import module_name_for, project_test_cases
from lsp_server.validation.report import DOCTEST, MODEL, TestCase
from lsp_server.validation.runners import NoRunner, PythonRunner, Unit, runner_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("no_leftovers")]

GEOMETRY = '''import math


def area(radius):
    """Area of a circle.

    >>> r = 2
    >>> round(area(r), 2)
    12.57
    >>> area(r) > area(1)
    True
    """
    return math.pi * radius * radius
'''


def test_doctests_share_a_docstrings_globals_and_report_failures() -> None:
    tests = sources.gather(language="python", target_text=GEOMETRY, instruction="")
    verdict = PythonRunner().check(Unit("geometry.py", GEOMETRY), tests)
    assert verdict.passed and verdict.summary() == "2/2 tests pass", verdict.failing_output()
    wrong = GEOMETRY.replace("math.pi * radius * radius", "math.pi * radius")
    verdict = PythonRunner().check(Unit("geometry.py", wrong), tests)
    assert verdict.summary() == "1/2 tests pass"
    assert "Expected:\n    12.57\nGot:\n    6.28" in verdict.failing_output()


def test_code_that_does_not_load_fails_every_test_with_the_reason() -> None:
    tests = [TestCase(MODEL, "model test: assert area(1)", "assert area(1)")]
    verdict = PythonRunner().check(Unit("geometry.py", "def area(:\n"), tests)
    assert not verdict.passed and verdict.total == 1 and verdict.passed_count == 0
    assert "did not load" in verdict.error and "SyntaxError" in verdict.error


def test_the_projects_own_tests_run_against_the_candidate(tmp_path: Path) -> None:
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "__init__.py").write_text("")
    (tmp_path / "shapes" / "units.py").write_text("SCALE = 1\n")
    (tmp_path / "shapes" / "geometry.py").write_text("def area(r):\n    return 0\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_geometry.py").write_text(
        "from shapes.geometry import area\nfrom shapes.units import SCALE\n\n"
        "def test_area_unit():\n    assert area(1) * SCALE == 3\n\n"
        "def test_area_zero():\n    assert area(0) == 0\n\n"
        "def test_unrelated():\n    assert False\n")
    (tmp_path / "tests" / "test_other.py").write_text("def test_x():\n    assert False\n")
    uri = (tmp_path / "shapes" / "geometry.py").as_uri()
    assert module_name_for(tmp_path / "shapes" / "geometry.py") == ("shapes.geometry",
                                                                    str(tmp_path))
    cases = project_test_cases(str(tmp_path), uri, ["area"], "python")
    assert [c.name for c in cases] == ["project tests in tests/test_geometry.py (-k area)"]
    runner = PythonRunner()
    good = runner.check(Unit("geometry.py", "def area(r):\n    return 3 * r\n"), cases,
                        read=(str(tmp_path),))
    names = [r.case.name for r in good.results]
    assert names == ["project test: tests/test_geometry.py::test_area_unit",
                     "project test: tests/test_geometry.py::test_area_zero"]
    assert good.passed, good.failing_output()
    bad = runner.check(Unit("geometry.py", "def area(r):\n    return 0\n"), cases,
                       read=(str(tmp_path),))
    assert bad.summary() == "1/2 tests pass"
    # The project was read, never written.
    assert not (tmp_path / ".pytest_cache").exists()
    assert not list(tmp_path.rglob("__pycache__"))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_javascript_runs_under_node() -> None:
    code = "function add(a, b) {\n  return a + b;\n}\nconst K = 2;\nmodule.exports = { add };\n"
    tests = sources.gather(language="javascript", target_text=code,
                           instruction="assert.strictEqual(add(1, 2), 3)\n"
                                       "assert.strictEqual(add(K, K), 5)")
    tests.append(TestCase(MODEL, "model test: loops", "while (true) {}"))
    verdict = runner_for("javascript").check(Unit("math.js", code), tests)
    assert [r.passed for r in verdict.results] == [True, False, False]
    assert "4 !== 5" in verdict.results[1].output
    assert "timed out" in verdict.results[2].output
    esm = "export function add(a, b) {\n  return a + b;\n}\n"
    assert runner_for("javascript").check(Unit("math.mjs", esm), tests[:1]).passed


def test_languages_without_a_runner_say_so() -> None:
    with pytest.raises(NoRunner, match="no test runner for Go"):
        runner_for("go", language_name="Go")
    with pytest.raises(NoRunner, match="validatePython"):
        runner_for("python", python="/nonexistent/python3")
    if shutil.which("node") is not None:
        try:
            runner_for("typescript")
        except NoRunner as err:
            assert "Node.js 22.13" in str(err)


def test_the_chosen_interpreter_runs_the_tests(tmp_path: Path) -> None:
    tests = [TestCase(DOCTEST, "doctest: exe", ">>> import sys; sys.version_info[0]\n3\n")]
    verdict = runner_for("python", python=sys.executable).check(Unit("m.py", ""), tests)
    assert verdict.passed, verdict.failing_output()
