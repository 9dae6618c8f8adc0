"""From a model's raw answer to minimal edits: extraction, reindentation and line diffs."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lsp_server.edits import (
    TextEditSpec,
    apply_edits,
    detect_eol,
    detect_indent_unit,
    drop_repeated_signature,
    explain_markdown,
    extract_code,
    reindent,
    replacement_edits,
)

FENCED = "```python\n"  # response prefix that opened a fence


def answer_to_document(
    document: str,
    target: tuple[int, int],
    answer: str,
    *,
    prefix: str = FENCED,
    fence: str = "python",
    base: str | None = None,
) -> tuple[str, list[TextEditSpec]]:
    """The server's path: extract -> reindent -> drop repeated signature -> minimal edits."""
    code = extract_code(answer, response_prefix=prefix, fence=fence)
    lines = document.split("\n")
    if base is None:
        body = [line.rstrip("\r") for line in lines[target[0] : target[1]] if line.strip()]
        base = body[0][: len(body[0]) - len(body[0].lstrip())] if body else ""
    code = reindent(code, base, detect_indent_unit(document))
    line_above = lines[target[0] - 1].rstrip("\r") if target[0] > 0 else None
    edits = replacement_edits(document, target, code, line_above=line_above)
    return apply_edits(document, edits), edits


MODULE = "import os\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
HINTED = MODULE.replace("def add(a, b):", "def add(a: int, b: int) -> int:")

CLASS = (
    "class Calc:\n"
    "    def add(self, a, b):\n"
    "        total = a + b\n"
    "        return total\n"
    "\n"
    "    def sub(self, a, b):\n"
    "        return a - b\n"
)
CLASS_HINTED = CLASS.replace("def add(self, a, b):", "def add(self, a: int, b: int) -> int:")

# (id, document, target lines, answer, response prefix, expected document)
CASES = [
    (
        "fenced prefix, closing fence, explanation after",
        MODULE,
        (3, 5),
        "def add(a: int, b: int) -> int:\n    return a + b\n```\n\nThis adds type hints.",
        FENCED,
        HINTED,
    ),
    (
        "closing-fence stop already removed",
        MODULE,
        (3, 5),
        "def add(a: int, b: int) -> int:\n    return a + b",
        FENCED,
        HINTED,
    ),
    (
        "model opened the fence again",
        MODULE,
        (3, 5),
        "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```",
        FENCED,
        HINTED,
    ),
    (
        "length cut inside the fence",
        MODULE,
        (3, 5),
        "def add(a: int, b: int) -> int:\n    return a + b\n",
        FENCED,
        HINTED,
    ),
    (
        "preamble and fenced block, no prefix",
        MODULE,
        (3, 5),
        "Here's the updated code:\n\n```python\ndef add(a: int, b: int) -> int:\n"
        "    return a + b\n```\n\nI added type hints to both parameters.",
        "",
        HINTED,
    ),
    (
        "first block of the wanted language wins over a shell block and an example",
        MODULE,
        (3, 5),
        "First install:\n```bash\npip install nothing\n```\nThen:\n```python\n"
        "def add(a: int, b: int) -> int:\n    return a + b\n```\nExample:\n```python\n"
        "print(add(1, 2))\n```",
        "",
        HINTED,
    ),
    (
        "no fence at all: preamble and trailing prose dropped",
        MODULE,
        (3, 5),
        "Sure! Here is the function with type hints:\n"
        "def add(a: int, b: int) -> int:\n    return a + b\n\n"
        "The annotations document that both arguments are integers.\n"
        "They are not checked at runtime by Python itself.",
        "",
        HINTED,
    ),
    (
        "end-of-turn markers are cut, a ### comment is kept",
        MODULE,
        (3, 5),
        "### checked\ndef add(a: int, b: int) -> int:\n    return a + b<|endoftext|>junk",
        FENCED,
        HINTED.replace("def add(a: int", "### checked\ndef add(a: int"),
    ),
    (
        "instruction header after the answer is cut",
        MODULE,
        (3, 5),
        "def add(a: int, b: int) -> int:\n    return a + b\n\n### Instruction\nmore",
        FENCED,
        HINTED,
    ),
    (
        "method returned dedented to column 0",
        CLASS,
        (1, 4),
        "def add(self, a: int, b: int) -> int:\n    total = a + b\n    return total",
        FENCED,
        CLASS_HINTED,
    ),
    (
        "method returned with 2-space indentation",
        CLASS,
        (1, 4),
        "  def add(self, a: int, b: int) -> int:\n    total = a + b\n    return total",
        FENCED,
        CLASS_HINTED,
    ),
    (
        "repeated signature: body-only target",
        CLASS,
        (2, 4),
        "def add(self, a, b):\n    total = b + a\n    return total",
        FENCED,
        CLASS.replace("total = a + b", "total = b + a"),
    ),
    (
        "repeated signature, already at document indentation",
        CLASS,
        (2, 4),
        "    def add(self, a, b):\n        total = b + a\n        return total",
        FENCED,
        CLASS.replace("total = a + b", "total = b + a"),
    ),
    (
        "unchanged answer",
        MODULE,
        (3, 5),
        "def add(a, b):\n    return a + b\n```",
        FENCED,
        MODULE,
    ),
    ("empty answer", MODULE, (3, 5), "", FENCED, MODULE),
    ("whitespace answer", MODULE, (3, 5), "  \n\n  ", FENCED, MODULE),
    ("immediately closed fence", MODULE, (3, 5), "```\nSorry, I cannot.", FENCED, MODULE),
    (
        "target includes the last line, final newline kept",
        MODULE,
        (7, 9),
        "def sub(a, b):\n    return b - a",
        FENCED,
        MODULE.replace("return a - b", "return b - a"),
    ),
    (
        "target includes the last line, no final newline stays absent",
        MODULE.rstrip("\n"),
        (7, 9),
        "def sub(a, b):\n    return b - a\n",
        FENCED,
        MODULE.rstrip("\n").replace("return a - b", "return b - a"),
    ),
    (
        "target runs over the last empty line",
        MODULE,
        (7, 10),
        "def sub(a, b):\n    return b - a",
        FENCED,
        MODULE.replace("return a - b", "return b - a"),
    ),
    (
        "appending lines at a last line without final newline",
        "x = 1\ny = 2",
        (1, 2),
        "y = 2\nz = 3",
        FENCED,
        "x = 1\ny = 2\nz = 3",
    ),
]


@pytest.mark.parametrize(
    ("document", "target", "answer", "prefix", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_answer_to_document(
    document: str, target: tuple[int, int], answer: str, prefix: str, expected: str
) -> None:
    result, edits = answer_to_document(document, target, answer, prefix=prefix)
    assert result == expected
    if expected == document:
        assert edits == []


def test_minimal_diff_touches_only_changed_lines() -> None:
    _, edits = answer_to_document(
        MODULE, (3, 5), "def add(a: int, b: int) -> int:\n    return a + b"
    )
    assert edits == [TextEditSpec((3, 0), (4, 0), "def add(a: int, b: int) -> int:\n")]


def test_minimal_diff_insertion_and_deletion_hunks() -> None:
    document = "def f():\n    a = 1\n    b = 2\n    c = 3\n    return a\n"
    new = "def f():\n    a = 1\n    c = 3\n    d = 4\n    return a"
    edits = replacement_edits(document, (0, 5), new)
    assert edits == [
        TextEditSpec((2, 0), (3, 0), ""),
        TextEditSpec((4, 0), (4, 0), "    d = 4\n"),
    ]
    assert apply_edits(document, edits) == new + "\n"


def test_tabs_document() -> None:
    document = "class A:\n\tdef f(self):\n\t\treturn 1\n"
    result, edits = answer_to_document(
        document, (1, 3), "def f(self):\n    if self:\n        return 2\n    return 1"
    )
    assert result == "class A:\n\tdef f(self):\n\t\tif self:\n\t\t\treturn 2\n\t\treturn 1\n"
    assert edits == [TextEditSpec((2, 0), (2, 0), "\t\tif self:\n\t\t\treturn 2\n")]


def test_crlf_document_gets_crlf_and_untouched_lines_stay() -> None:
    document = "a = 1\r\ndef f():\r\n    return 1\r\nb = 2\r\n"
    result, edits = answer_to_document(document, (1, 3), "def f():\n    x = 2\n    return x\n```")
    assert result == "a = 1\r\ndef f():\r\n    x = 2\r\n    return x\r\nb = 2\r\n"
    assert edits == [TextEditSpec((2, 0), (3, 0), "    x = 2\r\n    return x\r\n")]
    assert detect_eol(document) == "\r\n"


def test_crlf_document_without_final_newline() -> None:
    document = "a = 1\r\nb = 2"
    edits = replacement_edits(document, (1, 2), "b = 3")
    assert edits == [TextEditSpec((1, 0), (1, 5), "b = 3")]
    assert apply_edits(document, edits) == "a = 1\r\nb = 3"


def test_emoji_and_cjk_positions_are_code_points() -> None:
    document = 'greet = "你好😀"\ndef f():\n    return "😀😀"'
    edits = replacement_edits(document, (1, 3), 'def f():\n    return "世界😀"')
    # Code points: the line `    return "😀😀"` is 15 long (UTF-16 would say 17).
    assert edits == [TextEditSpec((2, 0), (2, 15), '    return "世界😀"')]
    assert apply_edits(document, edits) == 'greet = "你好😀"\ndef f():\n    return "世界😀"'


# ---- generate mode (insertion) -------------------------------------------------------------

GENERATED = "def mul(a, b):\n    return a * b"


@pytest.mark.parametrize(
    ("document", "line", "expected_edit", "expected"),
    [
        (
            "import os\n\nx = 1\n",
            1,
            TextEditSpec((1, 0), (1, 0), GENERATED + "\n"),
            "import os\n" + GENERATED + "\n\nx = 1\n",
        ),
        (
            "import os\n",
            1,
            TextEditSpec((1, 0), (1, 0), GENERATED + "\n"),
            "import os\n" + GENERATED + "\n",
        ),
        (
            "import os",
            1,
            TextEditSpec((0, 9), (0, 9), "\n" + GENERATED),
            "import os\n" + GENERATED,
        ),
        (
            "import os",
            7,  # past the end clamps to appending
            TextEditSpec((0, 9), (0, 9), "\n" + GENERATED),
            "import os\n" + GENERATED,
        ),
        ("", 0, TextEditSpec((0, 0), (0, 0), GENERATED + "\n"), GENERATED + "\n"),
        (
            "a = 1\r\n",
            0,
            TextEditSpec((0, 0), (0, 0), GENERATED.replace("\n", "\r\n") + "\r\n"),
            GENERATED.replace("\n", "\r\n") + "\r\na = 1\r\n",
        ),
    ],
    ids=["middle", "eof-with-newline", "eof-without-newline", "past-eof", "empty", "crlf"],
)
def test_generate_inserts_lines(
    document: str, line: int, expected_edit: TextEditSpec, expected: str
) -> None:
    edits = replacement_edits(document, (line, line), GENERATED + "\n\n")
    assert edits == [expected_edit]
    assert apply_edits(document, edits) == expected


def test_generate_reindents_to_the_given_base() -> None:
    document = "class A:\n    x = 1\n"
    result, _ = answer_to_document(document, (2, 2), "def f(self):\n  return 1", base="    ")
    assert result == "class A:\n    x = 1\n    def f(self):\n        return 1\n"


def test_generate_drops_an_echoed_instruction_comment() -> None:
    document = "class A:\n    # starcoder: add a method f\n"
    answer = "    # starcoder: add a method f\n    def f(self):\n        return 1"
    result, _ = answer_to_document(document, (2, 2), answer, base="    ")
    assert result == document + "    def f(self):\n        return 1\n"


def test_bad_target_raises() -> None:
    with pytest.raises(ValueError):
        replacement_edits("a\n", (2, 1), "b")


# ---- response extraction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "fence", "expected"),
    [
        # Only blocks in another language: the longest one.
        ("```js\nlet a = 1;\n```\n```ts\nlet b: number = 2;\n```", "python", "let b: number = 2;"),
        # An untagged block counts as the wanted language.
        ("Result:\n```\nx = 1\n```", "python", "x = 1"),
        # A block left open by a length cut runs to the end.
        ("Here it is:\n```python\nx = 1\ny = 2", "python", "x = 1\ny = 2"),
        # A longer fence contains a triple-backtick line.
        ("````markdown\n```\ninner\n```\n````", "markdown", "```\ninner\n```"),
        # Unfenced code whose last lines look a bit like prose but are code: kept.
        ("SELECT name FROM users\nWHERE id = 1;", "sql", "SELECT name FROM users\nWHERE id = 1;"),
        ("x = 1\n\nNote that x is now an int.", "python", "x = 1"),
        # ALL-CAPS first word is not taken for prose.
        ("x = 1\n\nTODO fix this later", "python", "x = 1\n\nTODO fix this later"),
        ("x = 1\n\nif x:\n    print(x)", "python", "x = 1\n\nif x:\n    print(x)"),
        # No blank line: an all-prose answer is not erased.
        ("This is not code at all.", "python", "This is not code at all."),
        # A preamble needs to look like prose: `else:` is code.
        ("else:\n    pass", "python", "else:\n    pass"),
        ("\r\n\r\nx = 1\r\n\r\n", "python", "x = 1"),
    ],
)
def test_extract_code_without_prefix(answer: str, fence: str, expected: str) -> None:
    assert extract_code(answer, response_prefix="", fence=fence) == expected


def test_extract_code_with_gpteacher_prefix() -> None:
    prefix = "\n```python\n"  # gpteacher's prefix starts with a newline
    assert extract_code("x = 1\n```\nDone.", response_prefix=prefix, fence="python") == "x = 1"


def test_extract_code_keeps_indented_fence_in_docstring() -> None:
    answer = 'def f():\n    """Use:\n\n        ```\n        f()\n        ```\n    """\n```'
    assert extract_code(answer, response_prefix=FENCED, fence="python") == answer[:-4]


def test_explain_markdown() -> None:
    assert explain_markdown("\n\nIt adds.  \n\n### Instruction\nmore") == "It adds."
    assert explain_markdown("### Summary\nIt adds.<|endoftext|>") == "### Summary\nIt adds."
    assert explain_markdown("Example:\n```python\nadd(1, 2)") == (
        "Example:\n```python\nadd(1, 2)\n```"
    )
    assert explain_markdown("A\r\nB\r\n") == "A\nB"


# ---- indentation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("def f():\n    return 1\n", "    "),
        ("def f():\n  if x:\n    return 1\n", "  "),
        ("def f():\n\treturn 1\n", "\t"),
        ("x = 1\n", "    "),  # no evidence: 4 spaces
        ("call(a,\n                 b)\n", "    "),  # continuation only: not a unit
        ("a:\n    b:\n        c\n    d:\n  e\n", "    "),  # most common step wins
        ("if x:\r\n  y\r\n", "  "),
    ],
)
def test_detect_indent_unit(text: str, unit: str) -> None:
    assert detect_indent_unit(text) == unit


@pytest.mark.parametrize(
    ("code", "base", "unit", "expected"),
    [
        ("def f():\n    return 1", "    ", "    ", "    def f():\n        return 1"),
        ("    def f():\n        return 1", "", "    ", "def f():\n    return 1"),
        ("def f():\n  if x:\n    return 1", "", "    ", "def f():\n    if x:\n        return 1"),
        ("def f():\n    return 1", "\t", "\t", "\tdef f():\n\t\treturn 1"),
        ("def f():\n\treturn 1", "", "  ", "def f():\n  return 1"),
        # Blank lines (even with whitespace) come out empty.
        ("def f():\n    \n    return 1", "  ", "    ", "  def f():\n\n      return 1"),
        # Aligned continuation lines keep their extra spaces.
        ("x = f(a,\n      b)\nif x:\n    y", "", "\t", "x = f(a,\n\t  b)\nif x:\n\ty"),
        ("", "    ", "    ", ""),
        ("\n  \n", "    ", "    ", ""),
    ],
)
def test_reindent(code: str, base: str, unit: str, expected: str) -> None:
    assert reindent(code, base, unit) == expected


def test_drop_repeated_signature_only_on_a_match() -> None:
    code = "    return 2"
    assert drop_repeated_signature(code, "def f():", "    ") == code
    assert drop_repeated_signature(code, None, "    ") == code
    assert drop_repeated_signature(code, "   ", "    ") == code
    assert drop_repeated_signature("def f():\n  return 2", "def f():", "    ") == "    return 2"
    assert drop_repeated_signature("def f():", "def f():", "    ") == ""


# ---- apply_edits ---------------------------------------------------------------------------


def test_apply_edits_clamps_and_rejects_overlaps() -> None:
    assert apply_edits("ab\r\ncd", [TextEditSpec((0, 99), (0, 99), "!")]) == "ab!\r\ncd"
    assert apply_edits("ab\ncd", [TextEditSpec((9, 0), (9, 0), "!")]) == "ab\ncd!"
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(
            "abcdef",
            [TextEditSpec((0, 0), (0, 3), "x"), TextEditSpec((0, 2), (0, 4), "y")],
        )
    # Unsorted input is fine.
    assert (
        apply_edits(
            "abcdef", [TextEditSpec((0, 4), (0, 5), "E"), TextEditSpec((0, 0), (0, 1), "A")]
        )
        == "AbcdEf"
    )


# ---- property: the edits produce exactly the replaced document ------------------------------

LINE = st.text(alphabet="ab 😀", max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(LINE, max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.lists(LINE, min_size=1, max_size=8).filter(lambda ls: bool(ls[-1].strip())),
    st.data(),
)
def test_replacement_edits_property(
    old: list[str], eol: str, final: bool, new: list[str], data: st.DataObject
) -> None:
    document = eol.join(old) + (eol if final and old else "")
    start = data.draw(st.integers(0, len(old) + 1))
    end = data.draw(st.integers(start, len(old) + 1))
    edits = replacement_edits(document, (start, end), "\n".join(new))

    # Oracle: the document's lines with [start, end) (clamped) replaced; its final newline
    # kept as it was (an empty document gets one); blank new lines emptied.
    lines = document.split(eol)
    has_final = lines[-1] == ""  # true for the empty document
    if has_final:
        lines.pop()
    clamp_start, clamp_end = min(start, len(lines)), min(end, len(lines))
    new = [line if line.strip() else "" for line in new]
    result = lines[:clamp_start] + new + lines[clamp_end:]
    if "\n" not in document:
        eol = "\n"  # no evidence: LF
    expected = eol.join(result) + (eol if has_final else "")
    assert apply_edits(document, edits) == expected

    # Sorted, non-overlapping, and never outside the target lines.
    for before, after in itertools.pairwise(edits):
        assert before.end <= after.start
    for edit in edits:
        assert edit.start[0] >= min(clamp_start, max(len(lines) - 1, 0))
        assert edit.end[0] <= max(clamp_end, clamp_start)
