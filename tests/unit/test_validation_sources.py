"""Where validation's tests come from, parsed without running anything: doctests in the
docstring and the instruction, `assert` lines in the instruction, the model's tests (its
own prompt, or after the code in an answer), and the contract the tests prompt shows."""

from __future__ import annotations

from lsp_server.validation import model_tests, sources
from lsp_server.validation.report import DOCTEST, INSTRUCTION, MODEL, TestCase, count_words
from lsp_server.validation.where import defined_names, suggested_test_file, unit_file_name

FUNCTION = '''def area(radius):
    """Area of a circle.

    >>> area(1)
    3.14159
    >>> round(area(2), 2)
    12.57
    """
    return 3.14159 * radius * radius
'''


def test_each_docstring_example_is_one_test_sharing_the_docstrings_globals() -> None:
    cases = sources.gather(language="python", target_text=FUNCTION, instruction="add types")
    assert [c.kind for c in cases] == [DOCTEST, DOCTEST]
    assert cases[0].source == ">>> area(1)\n3.14159\n"
    assert cases[1].name == "doctest: round(area(2), 2)"
    assert cases[0].group == cases[1].group == "docstring:area"
    assert cases[0].origin == "your docstring"


def test_doctests_of_an_indented_method_and_a_multiline_example() -> None:
    method = '''    def total(self, items):
        """Sum.

        >>> Cart().total([1,
        ...               2])
        3
        """
'''
    cases = sources.gather(language="python", target_text=method, instruction="")
    assert len(cases) == 1
    assert cases[0].source == ">>> Cart().total([1,\n...               2])\n3\n"


def test_the_instructions_examples_and_asserts() -> None:
    instruction = ("write fib\n>>> fib(10)\n55\nassert fib(1) == 1\n- `assert fib(2) == 1`\n"
                   "assert this is not python (\nassertion in prose")
    cases = sources.gather(language="python", target_text="", instruction=instruction)
    assert [(c.kind, c.source) for c in cases] == [
        (DOCTEST, ">>> fib(10)\n55\n"),
        (INSTRUCTION, "assert fib(1) == 1"),
        (INSTRUCTION, "assert fib(2) == 1"),
    ]


def test_javascript_assert_lines() -> None:
    cases = sources.gather(language="javascript", target_text="",
                           instruction="add(a, b)\nassert.strictEqual(add(1, 2), 3);\nnope")
    assert [c.source for c in cases] == ["assert.strictEqual(add(1, 2), 3)"]


def test_model_tests_keep_setup_and_drop_a_restated_target() -> None:
    answer = ("import math\n\ndef area(r):\n    return 0\n\n"
              "assert area(1) == math.pi\nassert area(0) == 0\n"
              "def test_big():\n    assert area(10) > 300\n")
    cases = model_tests.parse_python_tests(answer, ["area"], origin="the model")
    assert [c.kind for c in cases] == [MODEL] * 3
    assert all("def area" not in c.source for c in cases)  # never tested against itself
    assert cases[0].source == "import math\nassert area(1) == math.pi"
    assert cases[2].source.endswith("test_big()")
    assert cases[2].name == "model test: test_big()"


def test_model_tests_from_a_half_written_answer() -> None:
    cases = model_tests.parse_python_tests("assert f(1) == 2\nassert f(2) ==\n",
                                           ["f"], origin="the model")
    assert [c.source for c in cases] == ["assert f(1) == 2"]


def test_tests_after_the_code_are_split_off_the_candidate() -> None:
    answer = "def f(x):\n    return x + 1\n\nassert f(1) == 2\nassert f(2) == 3\n"
    split = model_tests.split_answer(answer, "python")
    assert split.code == "def f(x):\n    return x + 1\n"
    assert [t.source for t in split.tests] == ["assert f(1) == 2", "assert f(2) == 3"]
    assert all(t.origin == "the answer" for t in split.tests)
    # Nothing to split, or not Python that parses: unchanged.
    assert model_tests.split_answer("def f():\n    pass\n", "python").tests == ()
    assert model_tests.split_answer("def f(:\nassert 1\n", "python").code == "def f(:\nassert 1\n"


def test_the_stub_shows_signatures_and_docstrings_not_bodies() -> None:
    stub = model_tests.python_stub(FUNCTION + "\n\nclass C:\n    x = 1\n")
    assert stub.startswith('def area(radius):\n    """Area of a circle.')
    assert "3.14159 * radius" not in stub
    assert stub.endswith("class C:\n    ...")


def test_the_model_tests_as_a_pytest_module() -> None:
    cases = [TestCase(MODEL, "t", "assert area(1) == 3.14159")]
    text = model_tests.tests_module_text(cases, "geometry", ["area"], "python")
    assert text.startswith("from geometry import area\n")
    assert "def test_area_model_written_1():\n    assert area(1) == 3.14159\n" in text
    compile(text, "<tests>", "exec")


def test_label_words() -> None:
    cases = [TestCase(DOCTEST, "a", "", origin="your docstring")] * 2 + \
        [TestCase(MODEL, "b", "")] * 2 + [TestCase(INSTRUCTION, "c", "")]
    assert count_words(cases) == ("2 doctests from your docstring, 1 assert from your "
                                  "instruction, 2 tests written by the model")


def test_names_and_files(tmp_path) -> None:
    assert defined_names(FUNCTION + "class Shape:\n    pass\n", "python") == ["area", "Shape"]
    assert defined_names("export function add(a, b) {}\nconst K = 3;\nclass P {}\n",
                         "javascript") == ["add", "K", "P"]
    assert unit_file_name("file:///p/geometry.py", "python") == "geometry.py"
    assert unit_file_name("untitled:Untitled-1", "python") == "untitled.py"
    assert unit_file_name("file:///p/my-module.py", "python") == "candidate.py"
    (tmp_path / "tests").mkdir()
    source = (tmp_path / "pkg" / "geometry.py").as_uri()
    assert suggested_test_file(source, str(tmp_path), "python") == \
        (tmp_path / "tests" / "test_geometry.py").as_uri()
    assert suggested_test_file((tmp_path / "a.js").as_uri(), str(tmp_path), "javascript") == \
        (tmp_path / "a.test.js").as_uri()
