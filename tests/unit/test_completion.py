"""Inline completion's pure logic: the FIM prompt (format and stability while typing) and
the clean-up of model output (block end, single line, overlap with the text after the
cursor, indentation). `|` marks the cursor in the documents below."""

from __future__ import annotations

import itertools

import pytest

from lsp_server import completion as c
from lsp_server.extraction.languages import language_for, parse


def _doc(marked: str) -> tuple[str, int]:
    offset = marked.index("|")
    return marked[:offset] + marked[offset + 1:], offset


def _clean(lang: str | None, marked: str, raw: str, **kw: object) -> c.Cleaned:
    text, offset = _doc(marked)
    spec = language_for(lang, "x") if lang else None
    tree = parse(spec, text.encode()) if spec else None
    multiline = c.is_multiline_position(text, offset, spec, tree)
    return c.postprocess(raw, text=text, offset=offset, multiline=multiline, spec=spec,
                         tree=tree, **kw)  # type: ignore[arg-type]


# ---- single line or several -------------------------------------------------------------

MULTILINE_CASES = [
    ("python", "def f(x):\n    |", True),  # a fresh, indented line
    ("python", "def f(x):|", True),  # after a block opener
    ("python", "if ready:|\n    pass\n", True),
    ("python", "x = compute(|", True),  # an open call may continue on lines below
    ("python", "x = comp|", False),  # the middle of a statement
    ("python", "b = a[1:|]", False),  # a slice colon is no block opener
    ("python", "d = {'a':|}", False),  # nor is a dict entry's
    ("python", "total = f(a|, b)", False),  # code after the cursor
    ("python", "print(x|)", False),
    ("python", "# compute the |", False),  # a comment: finish the comment line
    ("python", "s = 'value {|'", False),  # a brace inside a string
    ("javascript", "function f() {|\n}", True),
    ("javascript", "const x = {|};", True),
    ("go", "for i := 0; i < n; i++ {|", True),
    ("lua", "for i = 1, 10 do|", True),
    (None, "anything {|", True),  # no grammar: by the last character
    (None, "anything|", False),
]


@pytest.mark.parametrize(("lang", "marked", "expected"), MULTILINE_CASES)
def test_single_or_multi_line(lang: str | None, marked: str, expected: bool) -> None:
    text, offset = _doc(marked)
    spec = language_for(lang, "x") if lang else None
    tree = parse(spec, text.encode()) if spec else None
    assert c.is_multiline_position(text, offset, spec, tree) is expected


# ---- trimming ----------------------------------------------------------------------------

TRIM_CASES = [
    # (language, document, model output, shown text, a rule that must have fired)
    ("python", "def f(x):\n    y = 1\n    |", "return y\n\ndef g():\n    pass",
     "return y", "block_end"),
    ("python", "def f(x):|\n", "\n    return x\n\nprint(f(1))", "\n    return x", "block_end"),
    ("python", "class A:\n    def f(self):\n        return 1\n    |\n",
     "def g(self):\n        return 2\n\nx = A()", "def g(self):\n        return 2",
     "block_end"),
    ("python", "x = 1\n|\n\ndef h():\n    pass\n", "def g():\n    pass\n\ndef k():\n    pass\n",
     "def g():\n    pass", "block_end"),  # top level: one definition at a time
    ("python", "x = {\n    'a': 1,\n    |\n}\n", "'b': 2,\n}\ny = 3", "'b': 2,",
     "existing_line"),
    ("python", "def f():\n    return foo(|)\n", "a, b)\n    x = 1", "a, b", "block_end"),
    ("javascript", "function f() {\n  |\n}\n", "return 1;\n}\n\nfunction g() {}",
     "return 1;", "existing_line"),  # the `}` is already there
    ("javascript", "function f() {\n  |", "return 1;\n}\n\nfunction g() {}",
     "return 1;\n}", "block_end"),  # ...and here it is not: keep the one that closes f
    ("go", "func main() {\n\tfor i := 0; i < 3; i++ {|\n\t}\n}\n",
     "\n\t\tfmt.Println(i)\n\t}\n\tfmt.Println(\"done\")", "\n\t\tfmt.Println(i)",
     "existing_line"),
    (None, "foo {\n  |", "bar\n  baz\n}\nqux", "bar\n  baz\n}", "block_end"),  # indentation
    ("python", "x = comp|", "ute(a)\nprint(x)", "ute(a)", "single_line"),
    ("python", "# compute |", "the sum\nx = 1", "the sum", "single_line"),
]


@pytest.mark.parametrize(("lang", "marked", "raw", "expected", "rule"), TRIM_CASES)
def test_trimming(lang: str | None, marked: str, raw: str, expected: str, rule: str) -> None:
    cleaned = _clean(lang, marked, raw, indent_unit="\t" if lang == "go" else "    ")
    assert cleaned.text == expected
    assert rule in cleaned.trims


def test_completion_inside_the_block_is_kept_whole() -> None:
    raw = "z = y * 2\n    w = z + 1"
    cleaned = _clean("python", "def f(x):\n    y = 1\n    |\n    return y\n", raw)
    assert cleaned.text == raw and cleaned.trims == []


def test_tree_of_the_document_gives_the_same_cut_as_a_full_parse() -> None:
    text, offset = _doc("import os\n\n\ndef f(x):\n    y = 1\n    |\n\n\ndef g():\n    pass\n")
    spec = language_for("python", "x.py")
    assert spec is not None
    tree = parse(spec, text.encode())
    raw = "return y\n\n\ndef h():\n    pass"
    with_tree = c.scope_end_cut(text, offset, raw, spec, tree)
    without = c.scope_end_cut(text, offset, raw, spec, None)
    assert with_tree == without == (len("return y"), False)


# ---- the text after the cursor -----------------------------------------------------------

REST_CASES = [
    # (document, model output, shown text, replaced characters after the cursor)
    ("print(|)", "x)", "x", 0),  # the `)` is already there
    ("print(|)", "g(x)", "g(x)", 0),  # ...but this `)` closes g(
    ("x = [1, 2|]", ", 3]", ", 3", 0),
    ("s = '|'", "abc'", "abc", 0),
    ("call(a, |)", "b)", "b", 0),
    ("if (ready(|)) {", "x", "x", 0),  # code after the cursor: single line, kept as is
]


@pytest.mark.parametrize(("marked", "raw", "expected", "replaced"), REST_CASES)
def test_no_duplicated_suffix(marked: str, raw: str, expected: str, replaced: int) -> None:
    cleaned = _clean("python", marked, raw)
    assert (cleaned.text, cleaned.replace_chars) == (expected, replaced)


def test_multiline_completion_that_rewrote_the_closers_replaces_them() -> None:
    text, replaced, rule = c.merge_rest_of_line("x)\n    y = 2", "    foo(", ")")
    assert (text, replaced, rule) == ("x)\n    y = 2", 1, "rest_replaced")


# ---- indentation, budget ------------------------------------------------------------------

INDENT_CASES = [
    ("y = 1\n        z = 2", "\t", "y = 1\n\t\tz = 2"),  # spaces in a tab-indented file
    ("y = 1\n\t\tz = 2", "    ", "y = 1\n        z = 2"),  # tabs in a 4-space file
    ("y = 1\n\tz = 2", "  ", "y = 1\n  z = 2"),  # ...and in a 2-space file
    ("y = 1\n      z", "\t", "y = 1\n\t  z"),  # alignment spaces are kept
    ("y = 1\n    z = 2", "    ", "y = 1\n    z = 2"),  # already right
]


@pytest.mark.parametrize(("raw", "unit", "expected"), INDENT_CASES)
def test_indentation_follows_the_document(raw: str, unit: str, expected: str) -> None:
    assert c.normalize_indent(raw, unit, first_line_is_indent=False) == expected


def test_first_line_indentation_is_left_alone_mid_line() -> None:
    assert c.normalize_indent("\tx", "    ", first_line_is_indent=False) == "\tx"
    assert c.normalize_indent("\tx", "    ", first_line_is_indent=True) == "    x"


def test_time_budget_keeps_whole_lines_only() -> None:
    marked = "def f(x):\n    |"
    assert _clean("python", marked, "y = 1\n    z = x +", stopped_early=True).text == "y = 1"
    assert _clean("python", marked, "y = x +", stopped_early=True).text == ""
    # max tokens: an unfinished line goes when a whole one comes before it...
    assert _clean("python", marked, "y = 1\n    z = x +", length_limited=True).text == "y = 1"
    # ...but a lone long line is still shown.
    assert _clean("python", marked, "y = x + 1", length_limited=True).text == "y = x + 1"


def test_whitespace_only_output_is_no_completion() -> None:
    assert _clean("python", "def f(x):\n    |", "   \n  ").text == ""


# ---- prompt format ---------------------------------------------------------------------------

BUDGET = c.FimBudget(prefix_chars=4000, suffix_chars=400, suffix_lines=12,
                     context_chars=1000, per_file_chars=500)


def test_psm_repository_form() -> None:
    text, offset = _doc("import os\n\ndef f():\n    ret|\n\nprint(f())\n")
    prompt = c.build_prompt(text, offset, budget=BUDGET, path="pkg/mod.py", repo="proj",
                            other_files=[("pkg/util.py", "def util():\n    pass\n")])
    assert prompt.text == (
        "<repo_name>proj<file_sep>pkg/util.py\ndef util():\n    pass\n"
        "<file_sep><fim_prefix>pkg/mod.py\nimport os\n\ndef f():\n    ret"
        "<fim_suffix>\n\nprint(f())\n<fim_middle>")
    assert prompt.context_paths == ("pkg/util.py",)


def test_spm_form_puts_the_prefix_last_and_drops_auto_closed_brackets() -> None:
    text, offset = _doc("def f():\n    print(|)\n    return 1\n")
    prompt = c.build_prompt(text, offset, budget=BUDGET, order=c.SPM, path="m.py")
    assert prompt.text == ("<file_sep><fim_prefix><fim_suffix>\n    return 1\n<fim_middle>"
                           "m.py\ndef f():\n    print(")


def test_plain_form_without_repository_tokens() -> None:
    text, offset = _doc("a = 1\nb = |\n")
    prompt = c.build_prompt(text, offset, budget=BUDGET, path="m.py", repo="r",
                            other_files=[("x.py", "x = 1\n")], repo_form=False)
    assert prompt.text == "<fim_prefix>a = 1\nb = <fim_suffix>\n<fim_middle>"


def test_special_token_spellings_in_the_document_are_neutralized() -> None:
    text, offset = _doc('FIM = "<fim_prefix>"\nx = |')
    prompt = c.build_prompt(text, offset, budget=BUDGET, repo_form=False)
    assert prompt.text.count("<fim_prefix>") == 1
    assert "<\u200bfim_prefix>" in prompt.text


def test_other_files_fit_the_budget_at_line_boundaries() -> None:
    files = [(f"f{i}.py", "".join(f"line_{j} = {j}\n" for j in range(100))) for i in range(5)]
    chosen = c.select_context(files, budget_chars=1000, per_file_chars=400)
    assert sum(len(content) + len(path) + 2 for path, content in chosen) <= 1000
    assert all(content.endswith("\n") for _, content in chosen)
    assert [path for path, _ in chosen] == ["f0.py", "f1.py", "f2.py"]
    assert len(chosen[2][1]) < len(chosen[0][1])  # what was left of the budget


def test_small_files_still_get_a_few_lines_of_suffix() -> None:
    text, offset = _doc("def f(x):\n    |\n\nprint(f(2))\nprint(f(3))\n")
    prompt = c.build_prompt(text, offset, budget=BUDGET, repo_form=False)
    assert "<fim_suffix>\n\nprint(f(2))\nprint(f(3))\n<fim_middle>" in prompt.text


# ---- prompt stability while typing ------------------------------------------------------------

TYPED = "".join(
    f"def function_{i}(argument, other=None):\n"
    f"    result = [value * {i} for value in argument if value]\n"
    f"    return result or other\n\n\n"
    for i in range(60)
)
TAIL = "\n\nif __name__ == '__main__':\n    main()\n"


def _common_prefix(a: str, b: str) -> int:
    size = min(len(a), len(b))
    return next((i for i in range(size) if a[i] != b[i]), size)


@pytest.mark.parametrize("order", [c.PSM, c.SPM])
def test_typing_changes_only_the_end_of_the_prompt(order: str) -> None:
    """Type TYPED character by character before TAIL: every prompt shares with the
    previous one everything up to where the cursor was (PSM: up to the suffix marker;
    SPM: all of it), except when the prefix window steps forward, which is rare."""
    budget = c.FimBudget(prefix_chars=3000, suffix_chars=200)
    previous: c.FimPrompt | None = None
    window_moves = 0
    for typed in range(1, len(TYPED) + 1, 3):
        text = TYPED[:typed] + TAIL
        prompt = c.build_prompt(text, typed, budget=budget, order=order, path="m.py",
                                repo="r", other_files=[("o.py", "import sys\n")])
        if previous is not None:
            if prompt.prefix_start != previous.prefix_start:
                window_moves += 1
                previous = prompt
                continue
            shared = _common_prefix(previous.text, prompt.text)
            if order == c.SPM:
                assert shared == len(previous.text)
            else:
                assert shared >= previous.text.index("<fim_suffix>")
                # what PSM re-evaluates: the suffix, a small share of a full prompt
                if prompt.prefix_chars >= 2000:
                    assert len(prompt.text) - shared <= 0.1 * len(prompt.text)
        previous = prompt
    # 3000-char window, stepping every 750 characters through ~8,000 typed
    assert 1 <= window_moves <= len(TYPED) // 750 + 1


def test_prefix_window_starts_on_a_line_and_moves_in_steps() -> None:
    text = "".join(f"line {i:04d}\n" for i in range(2000))
    starts = [c.prefix_window_start(text, offset, 4000) for offset in range(0, len(text), 7)]
    assert all(s == 0 or text[s - 1] == "\n" for s in starts)
    assert starts == sorted(starts)
    moves = sum(1 for a, b in itertools.pairwise(starts) if a != b)
    assert moves <= len(text) // 1000 + 1  # one step per 4000 / 4 characters typed
    offset = len(text) - 5
    assert offset - c.prefix_window_start(text, offset, 4000) <= 4000


def test_suffix_is_relative_to_the_cursor() -> None:
    text, offset = _doc("def f():\n    x = 1|\n    y = 2\n    return y\n")
    before = c.suffix_window(text, offset, 200, 12)
    typed = text[:offset] + "0" + text[offset:]  # typing before the cursor
    assert c.suffix_window(typed, offset + 1, 200, 12) == before
    entered = text[:offset] + "\n    " + text[offset:]  # Enter at the end of the line
    assert c.suffix_window(entered, offset + 5, 200, 12) == before
    assert before == "\n    y = 2\n    return y\n"


def test_stop_strings() -> None:
    assert "\n" not in c.stop_strings(True)
    assert "\n" in c.stop_strings(False)
    assert "<file_sep>" in c.stop_strings(True)


# ---- which model serves completions -------------------------------------------------------


def test_auto_completion_model_is_a_base_preset_and_names_pass_through() -> None:
    from lsp_server.completion.model_choice import resolve_completion_model
    from model.presets import PRESETS

    auto = resolve_completion_model("auto")
    assert PRESETS[auto].kind == "base"
    assert resolve_completion_model("/models/x.gguf") == "/models/x.gguf"


def test_typing_never_starts_a_download_of_the_edit_model(tmp_path: object) -> None:
    from pathlib import Path

    from lsp_server.completion.model_choice import loads_without_download
    from lsp_server.settings import Settings
    from model.download import local_gguf_path

    folder = Path(str(tmp_path))
    preset = Settings(model="starcoder2-3b", models_dir=str(folder))
    assert not loads_without_download(preset)  # not downloaded yet
    local_gguf_path("starcoder2-3b", folder).write_bytes(b"GGUF")
    assert loads_without_download(preset)
    assert loads_without_download(Settings(model=str(folder / "mine.gguf")))
    assert loads_without_download(Settings(backend="openai", endpoint="http://h"))
    assert not loads_without_download(Settings(model="bigcode/starcoder2-3b",
                                                models_dir=str(folder)))
