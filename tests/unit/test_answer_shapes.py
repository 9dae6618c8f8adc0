"""The six answer shapes of issue 16, table-driven, through the server's own path
(`pipeline.answer_to_outcome`: extract -> reindent -> minimal edits), plus the fence and
prose readers on their own.

Case shapes follow the public suites of Continue (filterCodeBlockLines,
filterEnglishLinesAtStart), Zed (strip_invalid_spans_from_codeblock, autoindent), Cody
(responseTransformer fixtures, matchIndentation) and Aider (strip_quoted_wrapping); the
code and the cases here are our own.
"""

from __future__ import annotations

import pytest

from lsp_server import pipeline
from lsp_server.edits import apply_edits, explain_markdown, extract_code, reindent
from lsp_server.edits.fences import canonical_tag, find_close, glued_close, parse_fence
from lsp_server.edits.prose import is_preamble
from lsp_server.extraction.extract import Extraction
from lsp_server.prompts import Prompt
from model.base import GenerationStats

FENCED = "```python\n"  # the StarCoder2-Instruct response prefix for Python


def land(document: str, target: tuple[int, int], answer: str, *, prefix: str = FENCED,
         fence: str = "python", mode: str = "edit") -> str:
    """The document after the server turns `answer` into edits for lines `target`."""
    lines = document.split("\n")
    target_text = "".join(line + "\n" for line in lines[target[0]:target[1]])
    first = next((ln for ln in lines[target[0]:target[1]] if ln.strip()), "")
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    extraction = Extraction(language=None, mode="edit", instruction="x", instruction_lines=None,
                            target_lines=target, target_text=target_text, indent=indent,
                            context="", node_type=None)
    job = pipeline.Job(uri="file:///x", version=1, text=document, mode=mode,
                       extraction=extraction, instruction="x", language="Python", fence=fence)
    prompt = Prompt(text="", response_prefix=prefix, stop=(), family="", messages=())
    outcome = pipeline.answer_to_outcome(job, prompt, answer, GenerationStats())
    return apply_edits(document, outcome.edits)


# ---- 1. the first line lacks the target's indentation ------------------------------------

CLASS = (
    "class Calc:\n"
    "    def add(self, a, b):\n"
    "        if a:\n"
    "            return a + b\n"
    "        return b\n"
)
CLASS_HINTED = CLASS.replace("def add(self, a, b):", "def add(self, a: int, b: int) -> int:")
TABS = CLASS.replace("    ", "\t")
TABS_HINTED = CLASS_HINTED.replace("    ", "\t")
BODY = "def run():\n    x = 1\n    y = 2\n    return x + y\n"
JS = "class A {\n  run() {\n    go();\n  }\n}\n"

FIRST_LINE = [
    ("spaces: method, nested block", CLASS, (1, 5),
     "def add(self, a: int, b: int) -> int:\n        if a:\n            return a + b\n"
     "        return b", CLASS_HINTED),
    ("tabs: method, nested block", TABS, (1, 5),
     "def add(self, a: int, b: int) -> int:\n\t\tif a:\n\t\t\treturn a + b\n\t\treturn b",
     TABS_HINTED),
    ("statements in a body", BODY, (1, 3), "x = 10\n    y = 20",
     BODY.replace("x = 1\n", "x = 10\n").replace("y = 2\n", "y = 20\n")),
    ("braces: the block closes at the target's indentation", JS, (1, 4),
     "run(): void {\n    go();\n  }", JS.replace("run() {", "run(): void {")),
    ("one line deeper than the rest is kept deeper", CLASS, (2, 4),
     "if a and b:\n            return a + b", CLASS.replace("if a:", "if a and b:")),
    # Not this shape: the whole answer is dedented (Cody: "wrong indentation on every line").
    ("whole answer dedented", CLASS, (1, 5),
     "def add(self, a: int, b: int) -> int:\n    if a:\n        return a + b\n    return b",
     CLASS_HINTED),
    ("whole answer dedented, tabs", TABS, (1, 5),
     "def add(self, a: int, b: int) -> int:\n\tif a:\n\t\treturn a + b\n\treturn b", TABS_HINTED),
]


@pytest.mark.parametrize(("document", "target", "answer", "expected"),
                         [case[1:] for case in FIRST_LINE], ids=[c[0] for c in FIRST_LINE])
def test_first_line_without_the_target_indentation(document: str, target: tuple[int, int],
                                                   answer: str, expected: str) -> None:
    assert land(document, target, answer) == expected


# ---- 2. a closing fence glued to the last code line ----------------------------------------

MODULE = "import os\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
HINTED = MODULE.replace("def add(a, b):", "def add(a: int, b: int) -> int:")
JS_FN = "function f() {\n  return 1;\n}\n"
JS_FN_NEW = "function f() {\n  return 2;\n}\n"

GLUED = [
    ("prefix opened the fence", MODULE, (3, 5),
     "def add(a: int, b: int) -> int:\n    return a + b```\n\nThis adds type hints.", FENCED,
     "python", HINTED),
    ("closing brace", JS_FN, (0, 3), "function f() {\n  return 2;\n}```", "```javascript\n",
     "javascript", JS_FN_NEW),
    ("chat answer with an opener", MODULE, (3, 5),
     "```python\ndef add(a: int, b: int) -> int:\n    return a + b```", "", "python", HINTED),
    ("chat answer, untagged opener", JS_FN, (0, 3), "```\nfunction f() {\n  return 2;\n}```",
     "", "javascript", JS_FN_NEW),
    ("chat answer that never opened it", MODULE, (3, 5),
     "def add(a: int, b: int) -> int:\n    return a + b```\nThe hints are on.", "", "python",
     HINTED),
    ("glued with spaces before it", JS_FN, (0, 3), "function f() {\n  return 2;\n}  ```\n",
     "```javascript\n", "javascript", JS_FN_NEW),
]


@pytest.mark.parametrize(("document", "target", "answer", "prefix", "fence", "expected"),
                         [case[1:] for case in GLUED], ids=[c[0] for c in GLUED])
def test_glued_closing_fence(document: str, target: tuple[int, int], answer: str, prefix: str,
                             fence: str, expected: str) -> None:
    assert land(document, target, answer, prefix=prefix, fence=fence) == expected


# ---- 3. an unfenced answer that opens with a short English line ---------------------------

CODE = "def add(a: int, b: int) -> int:\n    return a + b"
ENGLISH_FIRST = [
    ("here is, blank line", "Here is the updated function\n\n" + CODE, ""),
    ("here's with a colon", "Here's the function with type hints:\n" + CODE, ""),
    ("sure!", "Sure!\n\n" + CODE, ""),
    ("certainly, a sentence", "Certainly. I added type hints to both parameters.\n\n" + CODE, ""),
    ("two opener lines", "Sure thing!\nHere is the code:\n\n" + CODE, ""),
    ("of course, then trailing prose",
     "Of course.\n\n" + CODE + "\n\nBoth parameters are ints now.", ""),
    ("inside an opened fence", "Here is the updated function\n\n" + CODE, FENCED),
    ("inside an opened fence, then the model's own fence",
     "Here is the updated function:\n```python\n" + CODE + "\n```", FENCED),
    ("a file name, then the model's own fence (Aider)", "example.py\n```python\n" + CODE + "\n```",
     FENCED),
]


@pytest.mark.parametrize(("answer", "prefix"), [case[1:] for case in ENGLISH_FIRST],
                         ids=[c[0] for c in ENGLISH_FIRST])
def test_english_line_before_unfenced_code(answer: str, prefix: str) -> None:
    assert land(MODULE, (3, 5), answer, prefix=prefix) == HINTED


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # Code keywords ending in a colon are code (Continue: "def:" is not English).
        ("else:\n    pass", "else:\n    pass"),
        ("default:\n  return 0;", "default:\n  return 0;"),
        # A lone English line is not erased: nothing would remain.
        ("Here is nothing", "Here is nothing"),
        # `sure = 1` is code, not "Sure".
        ("sure = 1\n\nprint(sure)", "sure = 1\n\nprint(sure)"),
    ],
)
def test_english_first_line_is_not_taken_for_code_it_is(answer: str, expected: str) -> None:
    assert extract_code(answer, response_prefix="", fence="python") == expected


def test_a_first_line_the_document_holds_is_kept() -> None:
    notes = "Here is the plan.\n\nShip it on Monday.\n"
    answer = "Here is the plan.\n\nShip it on Tuesday."
    assert land(notes, (0, 3), answer, prefix="", fence="") == notes.replace("Monday", "Tuesday")


# ---- 4. nested re-indentation ---------------------------------------------------------------

NESTED = (
    "class Job:\n"
    "    def run(self, items):\n"
    "        for item in items:\n"
    "            if item:\n"
    "                self.handle(item,\n"
    "                            True)\n"
    "        return True\n"
)
NESTED_TABS = NESTED.replace("    ", "\t")


def _deeper(block: str, indent: str) -> str:
    return "".join(indent + line + "\n" if line else "\n" for line in block.split("\n"))


REWRITE = ("if item and item.ready:\n    self.handle(item,\n                True)\n"
           "    self.count += 1")
AMBIGUOUS = "if item:\n    values = [\n      item,\n    ]\n    self.handle(values)"
REST = "        return True\n"
NESTING = [
    ("aligned continuation kept exactly", NESTED, (3, 6), REWRITE,
     NESTED.replace(NESTED.split("\n", 3)[3], _deeper(REWRITE, " " * 12) + REST)),
    ("2- and 4-space steps in one answer", NESTED, (3, 6), AMBIGUOUS,
     NESTED.replace(NESTED.split("\n", 3)[3], _deeper(AMBIGUOUS, " " * 12)
                    + "        return True\n")),
    ("answer already at its absolute indentation", NESTED, (3, 6), _deeper(REWRITE, " " * 12),
     NESTED.replace(NESTED.split("\n", 3)[3], _deeper(REWRITE, " " * 12) + REST)),
    ("tabs, base moves three levels", NESTED_TABS, (3, 6),
     "if item and item.ready:\n\tself.handle(item,\n\t            True)",
     NESTED_TABS.replace("\t\t\tif item:\n", "\t\t\tif item and item.ready:\n")
     .replace("\t\t\t\t\t\t\tTrue)", "\t\t\t\t            True)")),
    ("2-space answer in a 4-space file: levels converted, alignment kept", NESTED, (3, 6),
     "if item:\n  self.handle(item,\n              True)\n  if item.ready:\n    self.count += 1",
     NESTED.replace("True)\n        return", "True)\n                if item.ready:\n"
                    "                    self.count += 1\n        return")),
]


@pytest.mark.parametrize(("document", "target", "answer", "expected"),
                         [case[1:] for case in NESTING], ids=[c[0] for c in NESTING])
def test_nested_reindentation(document: str, target: tuple[int, int], answer: str,
                              expected: str) -> None:
    assert land(document, target, answer) == expected


@pytest.mark.parametrize("base", ["", "    ", "        ", "            "])
def test_relative_indentation_moves_as_it_is(base: str) -> None:
    code = "if x:\n    call(a,\n         b)\n    y = [\n      1,\n    ]"
    moved = reindent(code, base, "    ")
    assert moved == "\n".join(base + line for line in code.split("\n"))


# ---- 5. documents that contain fences -------------------------------------------------------

README = (
    "# Tool\n"
    "\n"
    "Install it:\n"
    "\n"
    "```bash\n"
    "pip install tool\n"
    "```\n"
    "\n"
    "Run `tool --help`.\n"
)
USAGE = "Usage:\n\n```bash\ntool run\n```\n\n"
README_NEW = README.replace("Run `tool", USAGE + "Run `tool")
README_BODY = README_NEW.rstrip("\n")
UNTAGGED = "Example:\n\n```\nx = 1\n```\n"
UNTAGGED_NEW = "Example:\n\n```\nx = 2\n```\n\nAnd:\n\n```\ny = 3\n```\n"
PY_DOC = '"""Usage:\n\n```\ntool run\n```\n"""\nimport os\n'
PY_DOC_NEW = PY_DOC.replace("tool run", "tool run --fast")

DOCUMENTS = [
    ("inner tagged blocks kept, prose after the outer close dropped", README, (0, 9),
     README_BODY + "\n```\n\nI added a usage section.", "```\n", ""),
    ("the model opens ```md itself", README, (0, 9), "```md\n" + README_BODY + "\n```", "```\n",
     ""),
    ("```markdown README.md opening (Continue)", README, (0, 9),
     "```markdown README.md\n" + README_BODY + "\n```\nDone.", "", ""),
    ("file name line, then the fence (Aider)", README, (0, 9),
     "README.md\n```markdown\n" + README_BODY + "\n```", "", ""),
    ("chat answer: a preamble, the document, an explanation", README, (0, 9),
     "Here is the README with a usage section:\n\n```markdown\n" + README_BODY
     + "\n```\n\nThe new section shows `tool run`.", "", ""),
    ("a four-backtick outer fence", README, (0, 9), "````markdown\n" + README_BODY + "\n````", "",
     ""),
    ("fence tag markdown: the document is told by the tag", README, (0, 9),
     README_BODY + "\n```\nThat is all.", "```markdown\n", "markdown"),
]


@pytest.mark.parametrize(("document", "target", "answer", "prefix", "fence"),
                         [case[1:] for case in DOCUMENTS], ids=[c[0] for c in DOCUMENTS])
def test_documents_with_fences(document: str, target: tuple[int, int], answer: str,
                               prefix: str, fence: str) -> None:
    assert land(document, target, answer, prefix=prefix, fence=fence) == README_NEW


@pytest.mark.parametrize(
    ("answer", "prefix"),
    [
        (UNTAGGED_NEW + "```\n\nTwo examples now.", "```\n"),  # untagged inner blocks pair up
        ("```md\n" + UNTAGGED_NEW + "```", ""),
    ],
)
def test_untagged_inner_blocks(answer: str, prefix: str) -> None:
    assert land(UNTAGGED, (0, 5), answer, prefix=prefix, fence="") == UNTAGGED_NEW


def test_fences_inside_a_python_docstring_at_column_zero() -> None:
    answer = PY_DOC_NEW + "```\nDone."
    assert land(PY_DOC, (0, 7), answer) == PY_DOC_NEW


def test_unclosed_document_runs_to_the_end() -> None:
    # Continue: an even number of bare fences means no outer close came (a length cut).
    answer = "Example:\n\n```\nx = 2\n```"
    assert extract_code(answer, response_prefix="```\n", fence="",
                        original=UNTAGGED) == answer


# ---- 6. inline backticks in prose ------------------------------------------------------------

TIPS = "# Tips\n\nUse `cmd+click` to jump.\n"
INLINE = [
    ("prose lines of a document", TIPS, (0, 3),
     "# Tips\n\nUse `cmd+click` to jump to a definition.\nPress ```F12``` too.\n```", "```\n", "",
     TIPS.replace("to jump.", "to jump to a definition.\nPress ```F12``` too.")),
    ("a preamble and an explanation with inline code", MODULE, (3, 5),
     "Here's the updated `add` function:\n\n```python\n" + CODE + "\n```\n\n"
     "Now `add(1, 2)` returns `3`.", "", "python", HINTED),
    ("inline triple backticks in a line of code", "x = 1\n", (0, 1),
     'msg = "wrap it in ```code```"', FENCED, "python", 'msg = "wrap it in ```code```"\n'),
    ("a shell line with inline fences (Continue: echo ```test```)", "echo hi\n", (0, 1),
     "echo ```test```\necho done", "```bash\n", "bash", "echo ```test```\necho done\n"),
]


@pytest.mark.parametrize(("document", "target", "answer", "prefix", "fence", "expected"),
                         [case[1:] for case in INLINE], ids=[c[0] for c in INLINE])
def test_inline_backticks_are_text(document: str, target: tuple[int, int], answer: str,
                                   prefix: str, fence: str, expected: str) -> None:
    assert land(document, target, answer, prefix=prefix, fence=fence) == expected


def test_explanations_count_only_fence_lines() -> None:
    text = "Press `cmd+click` or ```F12```.\n```python\nx = 1"
    assert explain_markdown(text) == text + "\n```"
    assert explain_markdown("Press `cmd+click`.") == "Press `cmd+click`."


# ---- the readers on their own -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "ticks", "tag"),
    [
        ("```", 3, ""),
        ("```python", 3, "python"),
        ("   ```py", 3, "python"),
        ("````markdown README.md", 4, "md"),
        ("```python:src/app.py", 3, "python"),
        ("```src/app.py", 3, ""),
        ("```{.python}", 3, "python"),
        ("```typescript", 3, "ts"),
    ],
)
def test_parse_fence(line: str, ticks: int, tag: str) -> None:
    fence = parse_fence(line)
    assert fence is not None and fence.ticks == ticks and fence.tag == tag


@pytest.mark.parametrize("line", ["    ```", "x ```y``` z", "```x``` opens", "`cmd+click`", ""])
def test_not_a_fence_line(line: str) -> None:
    assert parse_fence(line) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("}```", ("}", 3)),
        ("    return a + b```", ("    return a + b", 3)),
        ("end ````", ("end", 4)),
        ("```", None),  # a fence line, not glued
        ("        ```", None),  # indented: nothing before the backticks
        ("echo ```test```", None),  # inline code
        ("Use `cmd+click`", None),
    ],
)
def test_glued_close(line: str, expected: tuple[str, int] | None) -> None:
    assert glued_close(line) == expected


def test_find_close_in_code_and_in_documents() -> None:
    lines = ["a", "```bash", "b", "```", "c", "```", "after"]
    assert find_close(lines, 3, document=False).index == 5  # tagged inner block skipped
    doc = ["a", "```", "b", "```", "```", "after", "```", "x", "```"]
    assert find_close(doc, 3, document=True).index == 8  # odd count: the last
    assert find_close(["a", "```", "b", "```", "c```"], 3, document=True).glued == "c"
    assert find_close(["a", "b"], 3, document=True).index == 2


def test_canonical_tag_aliases() -> None:
    assert canonical_tag("js") == canonical_tag("javascript") == "javascript"
    assert canonical_tag("sh") == "bash" and canonical_tag("c++") == "cpp"
    assert canonical_tag("") == "" and canonical_tag("README.md") == ""


@pytest.mark.parametrize(
    ("line", "following", "expected"),
    [
        ("Here is the updated function", "", True),
        ("Here is the updated function", "def f():", False),
        ("Sure!", "", True),
        ("Here's the updated `area` function:", "def area():", True),
        ("I've added type hints.", "", True),
        ("The updated code:", "x = 1", True),
        ("else:", "", False),
        ("sure = 1", "", False),
        ("    Here is an indented line", "", False),
        ("Here is a = b", "", False),
    ],
)
def test_is_preamble(line: str, following: str, expected: bool) -> None:
    assert is_preamble(line, following) is expected
