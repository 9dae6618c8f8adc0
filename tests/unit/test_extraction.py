"""Extraction of instruction, target lines and context, on real tree-sitter trees."""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass

import pytest

from lsp_server.extraction import (
    DEFAULT_PREFIXES,
    LANGUAGES,
    Extraction,
    extract,
    find_instruction_fast,
    instruction_from_comment,
    language_for,
    parse,
    strip_comment_markers,
)
from lsp_server.extraction.comments import match_prefix
from lsp_server.extraction.languages import LanguageSpec, get_parser


def row_of(src: str, needle: str) -> int:
    rows = [i for i, line in enumerate(src.split("\n")) if needle in line]
    assert len(rows) == 1, f"{needle!r} found on rows {rows}"
    return rows[0]


def run(
    src: str,
    language_id: str | None,
    path: str,
    start: tuple[int, int],
    end: tuple[int, int] | None = None,
    **kwargs: object,
) -> Extraction | None:
    spec = language_for(language_id, path)
    tree = parse(spec, src.encode("utf-8")) if spec is not None else None
    return extract(src, tree, spec, start, end or start, **kwargs)  # type: ignore[arg-type]


def dedent(src: str) -> str:
    return textwrap.dedent(src).lstrip("\n")


@dataclass
class Lang:
    """One language's fixture.

    ``src`` has: an import; ``starcoder: add logging`` above a function (with its
    decorator/attribute/doc comment: the target starts at ``first`` and has
    ``first_len`` lines); a plain function whose body holds ``plain``
    (``plain_first``/``plain_len``); and, where the language has block comments,
    a block-comment instruction above a function (``block_first``/``block_len``).
    ``gen`` ends with a comment-only instruction and has one at the end of a body.
    """

    id: str
    path: str
    src: str
    first: str
    first_len: int
    plain: str
    plain_first: str
    plain_len: int
    block_instruction: str | None
    block_first: str | None
    block_len: int
    gen: str
    gen_inner_indent: str
    import_line: str


LANGS: list[Lang] = [
    Lang(
        "python",
        "m.py",
        dedent(
            '''
            import os


            # starcoder: add logging
            @cache
            def first(x):
                return x + 1


            def second(y):
                """Docstrings are not comments: # starcoder: no."""
                z = y * 2
                return z
            '''
        ),
        "@cache",
        3,
        "z = y * 2",
        "def second",
        4,
        None,
        None,
        0,
        dedent(
            """
            def total(xs):
                result = 0
                # loop over xs and add each item to result

            # Write a quicksort function with type hints
            """
        ),
        "    ",
        "import os",
    ),
    Lang(
        "javascript",
        "m.js",
        dedent(
            """
            import fs from "fs";

            // starcoder: add logging
            export function first(x) {
              return x + 1;
            }

            const second = (y) => {
              const z = y * 2;
              return z;
            };

            /* sc: make it async */
            function third() {
              return 3;
            }
            """
        ),
        "export function first",
        3,
        "const z = y * 2",
        "const second",
        4,
        "make it async",
        "function third",
        3,
        dedent(
            """
            function total(xs) {
              let result = 0;
              // loop over xs and add each item to result
            }

            // Write a quicksort function
            """
        ),
        "  ",
        'import fs from "fs";',
    ),
    Lang(
        "typescript",
        "m.ts",
        dedent(
            """
            import { Injectable } from "@angular/core";

            export class Service {
              // starcoder: add logging
              @Log()
              first(x: number): number {
                return x + 1;
              }

              second(y: number): number {
                const z = y * 2;
                return z;
              }

              /** sc: make it async */
              third(): number {
                return 3;
              }
            }
            """
        ),
        "@Log()",
        4,
        "const z = y * 2",
        "second(y: number)",
        4,
        "make it async",
        "third(): number",
        3,
        dedent(
            """
            function total(xs: number[]): number {
              let result = 0;
              // loop over xs and add each item to result
            }

            // Write a quicksort function
            """
        ),
        "  ",
        'import { Injectable } from "@angular/core";',
    ),
    Lang(
        "typescriptreact",
        "m.tsx",
        dedent(
            """
            import React from "react";

            // starcoder: add logging
            export function First(): JSX.Element {
              return <h1>Hello</h1>;
            }

            function Second() {
              const year = 2024;
              return <footer>{year}</footer>;
            }

            /* sc: memoize it */
            const Third = () => {
              return <main />;
            };
            """
        ),
        "export function First",
        3,
        "const year = 2024",
        "function Second",
        4,
        "memoize it",
        "const Third",
        3,
        dedent(
            """
            function Total() {
              const result = 0;
              // add each item as a list element
            }

            // Write a Button component
            """
        ),
        "  ",
        'import React from "react";',
    ),
    Lang(
        "go",
        "m.go",
        dedent(
            """
            package main

            import "fmt"

            // starcoder: add logging
            func First(x int) int {
            \treturn x + 1
            }

            func Second(y int) int {
            \tz := y * 2
            \treturn z
            }

            /* sc: return an error too */
            func Third() int {
            \treturn 3
            }
            """
        ),
        "func First",
        3,
        "z := y * 2",
        "func Second",
        4,
        "return an error too",
        "func Third",
        3,
        dedent(
            """
            package main

            func Total(xs []int) int {
            \tresult := 0
            \t// loop over xs and add each item to result
            }

            // Write a quicksort function
            """
        ),
        "\t",
        'import "fmt"',
    ),
    Lang(
        "rust",
        "m.rs",
        dedent(
            """
            use std::fmt;

            // starcoder: add logging
            /// Adds one.
            #[inline]
            pub fn first(x: i32) -> i32 {
                x + 1
            }

            fn second(y: i32) -> i32 {
                let z = y * 2;
                z
            }

            /* sc: make it generic */
            fn third() -> i32 {
                3
            }
            """
        ),
        "/// Adds one.",
        5,
        "let z = y * 2",
        "fn second",
        4,
        "make it generic",
        "fn third",
        3,
        dedent(
            """
            fn total(xs: &[i32]) -> i32 {
                let mut result = 0;
                // loop over xs and add each item to result
            }

            // Write a quicksort function
            """
        ),
        "    ",
        "use std::fmt;",
    ),
    Lang(
        "java",
        "Main.java",
        dedent(
            """
            import java.util.List;

            public class Main {
                // starcoder: add logging
                @Override
                public int first(int x) {
                    return x + 1;
                }

                public int second(int y) {
                    int z = y * 2;
                    return z;
                }

                /* sc: make it static */
                public int third() {
                    return 3;
                }
            }
            """
        ),
        "@Override",
        4,
        "int z = y * 2",
        "public int second",
        4,
        "make it static",
        "public int third",
        3,
        dedent(
            """
            public class Main {
                int total(int[] xs) {
                    int result = 0;
                    // loop over xs and add each item to result
                }

                // Write a quicksort method
            }
            """
        ),
        "        ",
        "import java.util.List;",
    ),
    Lang(
        "c",
        "m.c",
        dedent(
            """
            #include <stdio.h>

            // starcoder: add logging
            static int first(int x) {
                return x + 1;
            }

            int second(int y) {
                int z = y * 2;
                return z;
            }

            /* sc: use unsigned ints */
            int third(void) {
                return 3;
            }
            """
        ),
        "static int first",
        3,
        "int z = y * 2",
        "int second",
        4,
        "use unsigned ints",
        "int third",
        3,
        dedent(
            """
            int total(int *xs, int n) {
                int result = 0;
                // loop over xs and add each item to result
            }

            // Write a quicksort function
            """
        ),
        "    ",
        "#include <stdio.h>",
    ),
    Lang(
        "cpp",
        "m.cpp",
        dedent(
            """
            #include <vector>

            // starcoder: add logging
            template <typename T>
            [[nodiscard]] T first(T x) {
                return x + 1;
            }

            int second(int y) {
                int z = y * 2;
                return z;
            }

            /* sc: make it constexpr */
            int third() {
                return 3;
            }
            """
        ),
        "template <typename T>",
        4,
        "int z = y * 2",
        "int second",
        4,
        "make it constexpr",
        "int third",
        3,
        dedent(
            """
            int total(const std::vector<int>& xs) {
                int result = 0;
                // loop over xs and add each item to result
            }

            // Write a quicksort function
            """
        ),
        "    ",
        "#include <vector>",
    ),
    Lang(
        "csharp",
        "Program.cs",
        dedent(
            """
            using System;

            public class Program
            {
                // starcoder: add logging
                [Obsolete]
                public int First(int x)
                {
                    return x + 1;
                }

                public int Second(int y)
                {
                    int z = y * 2;
                    return z;
                }

                /* sc: make it static */
                public int Third()
                {
                    return 3;
                }
            }
            """
        ),
        "[Obsolete]",
        5,
        "int z = y * 2",
        "public int Second",
        5,
        "make it static",
        "public int Third",
        4,
        dedent(
            """
            public class Program
            {
                int Total(int[] xs)
                {
                    int result = 0;
                    // loop over xs and add each item to result
                }

                // Write a quicksort method
            }
            """
        ),
        "        ",
        "using System;",
    ),
    Lang(
        "ruby",
        "m.rb",
        dedent(
            """
            require "json"

            # starcoder: add logging
            def first(x)
              x + 1
            end

            def second(y)
              z = y * 2
              z
            end

            =begin
            sc: memoize the result
            =end
            def third
              3
            end
            """
        ),
        "def first",
        3,
        "z = y * 2",
        "def second",
        4,
        "memoize the result",
        "def third",
        3,
        dedent(
            """
            def total(xs)
              result = 0
              # loop over xs and add each item to result
            end

            # Write a quicksort method
            """
        ),
        "  ",
        'require "json"',
    ),
    Lang(
        "php",
        "m.php",
        dedent(
            """
            <?php
            use App\\Models\\User;

            // starcoder: add logging
            #[Pure]
            function first($x) {
                return $x + 1;
            }

            function second($y) {
                $z = $y * 2;
                return $z;
            }

            /* sc: add type hints */
            function third() {
                return 3;
            }
            """
        ),
        "#[Pure]",
        4,
        "$z = $y * 2",
        "function second",
        4,
        "add type hints",
        "function third",
        3,
        dedent(
            """
            <?php
            function total($xs) {
                $result = 0;
                // loop over xs and add each item to result
            }

            // Write a quicksort function
            """
        ),
        "    ",
        "use App\\Models\\User;",
    ),
    Lang(
        "shellscript",
        "m.sh",
        dedent(
            """
            #!/usr/bin/env bash
            source ./lib.sh

            # starcoder: add logging
            first() {
              echo $(( $1 + 1 ))
            }

            second() {
              local z=$(( $1 * 2 ))
              echo "$z"
            }
            """
        ),
        "first() {",
        3,
        "local z=",
        "second() {",
        4,
        None,
        None,
        0,
        dedent(
            """
            total() {
              local result=0
              # loop over the arguments and add each to result
            }

            # Write a function that prints usage
            """
        ),
        "  ",
        "source ./lib.sh",
    ),
    Lang(
        "lua",
        "m.lua",
        dedent(
            """
            local json = require("json")

            -- starcoder: add logging
            local function first(x)
              return x + 1
            end

            local function second(y)
              local z = y * 2
              return z
            end

            --[[ sc: memoize the result ]]
            function third()
              return 3
            end
            """
        ),
        "local function first",
        3,
        "local z = y * 2",
        "local function second",
        4,
        "memoize the result",
        "function third",
        3,
        dedent(
            """
            local function total(xs)
              local result = 0
              -- loop over xs and add each item to result
            end

            -- Write a quicksort function
            """
        ),
        "  ",
        'local json = require("json")',
    ),
]
LANG_IDS = [lang.id for lang in LANGS]


def test_every_language_has_a_fixture() -> None:
    covered = {language_for(lang.id, lang.path).id for lang in LANGS}  # type: ignore[union-attr]
    assert covered == {spec.id for spec in LANGUAGES}


@pytest.mark.parametrize("lang", LANGS, ids=LANG_IDS)
def test_instruction_above_function(lang: Lang) -> None:
    comment = row_of(lang.src, "starcoder: add logging")
    first = row_of(lang.src, lang.first)
    expected = (first, first + lang.first_len)
    for row in (comment, first, first + lang.first_len - 2):
        result = run(lang.src, lang.id, lang.path, (row, 3))
        assert result is not None, row
        assert result.mode == "edit"
        assert result.instruction == "add logging"
        assert result.instruction_lines == (comment, comment + 1)
        assert result.target_lines == expected, (row, result)
        assert result.target_text == "".join(
            line + "\n" for line in lang.src.split("\n")[expected[0] : expected[1]]
        )
        assert result.node_type is not None
        assert lang.import_line in result.context
        assert "add logging" not in result.context


@pytest.mark.parametrize("lang", LANGS, ids=LANG_IDS)
def test_cursor_in_function_without_comment(lang: Lang) -> None:
    row = row_of(lang.src, lang.plain)
    first = row_of(lang.src, lang.plain_first)
    result = run(lang.src, lang.id, lang.path, (row, 5))
    assert result is not None
    assert result.mode == "edit"
    assert result.instruction is None
    assert result.instruction_lines is None
    assert result.target_lines == (first, first + lang.plain_len)
    assert result.target_text.split("\n")[0] == lang.src.split("\n")[first]
    assert result.indent == lang.src.split("\n")[first][: len(result.indent)]


@pytest.mark.parametrize(
    "lang", [lang for lang in LANGS if lang.block_instruction], ids=lambda lang: lang.id
)
def test_block_comment_instruction(lang: Lang) -> None:
    assert lang.block_instruction is not None and lang.block_first is not None
    first = row_of(lang.src, lang.block_first)
    comment = row_of(lang.src, lang.block_instruction)
    comment_start = comment - 1 if lang.id == "ruby" else comment  # =begin / sc: / =end
    for row in (comment, first + 1):
        result = run(lang.src, lang.id, lang.path, (row, 0))
        assert result is not None
        assert result.mode == "edit"
        assert result.instruction == lang.block_instruction
        assert result.instruction_lines is not None
        assert result.instruction_lines[0] == comment_start
        assert result.target_lines == (first, first + lang.block_len)


@pytest.mark.parametrize("lang", LANGS, ids=LANG_IDS)
def test_generate_at_end_of_file(lang: Lang) -> None:
    comment = row_of(lang.gen, "Write a")
    result = run(lang.gen, lang.id, lang.path, (comment, 4))
    assert result is not None
    assert result.mode == "generate"
    assert result.instruction is not None and result.instruction.startswith("Write a")
    assert result.instruction_lines == (comment, comment + 1)
    assert result.target_lines == (comment + 1, comment + 1)
    assert result.target_text == ""
    assert result.indent == lang.gen.split("\n")[comment][: len(result.indent)]
    assert result.node_type is None


@pytest.mark.parametrize("lang", LANGS, ids=LANG_IDS)
def test_generate_at_end_of_block(lang: Lang) -> None:
    comment = row_of(lang.gen, "add each")
    result = run(lang.gen, lang.id, lang.path, (comment, 0))
    assert result is not None
    assert result.mode == "generate", result
    assert result.instruction is not None and "add each" in result.instruction
    assert result.target_lines == (comment + 1, comment + 1)
    assert result.indent == lang.gen_inner_indent
    # Inside a function: its signature is context.
    signature = next(line for line in lang.gen.split("\n") if "total" in line.lower())
    assert signature in result.context


# --------------------------------------------------------------------------- selections


PY = dedent(
    """
    import os
    from typing import Any


    class Greeter(Base):
        greeting = "hi"

        def greet(self, name: str) -> str:
            # sc: use an f-string
            # and strip the name
            message = self.greeting + ", " + name
            return message

        def shout(self, name):
            return self.greet(name).upper()
    """
)


def test_selection_targets_selected_lines() -> None:
    start = row_of(PY, "message = ")
    result = run(PY, "python", "g.py", (start, 4), (start + 1, 6), instruction="tidy")
    assert result is not None
    assert result.mode == "edit"
    assert result.instruction == "tidy"
    assert result.target_lines == (start, start + 2)
    assert result.node_type is None
    assert result.indent == "        "
    assert "class Greeter(Base):" in result.context
    assert "def greet(self, name: str) -> str:" in result.context


def test_selection_ending_at_column_zero_excludes_that_line() -> None:
    start = row_of(PY, "message = ")
    result = run(PY, "python", "g.py", (start, 0), (start + 1, 0))
    assert result is not None
    assert result.target_lines == (start, start + 1)
    # The multi-line instruction comment directly above applies.
    assert result.instruction == "use an f-string\nand strip the name"


def test_selection_reversed_is_normalised() -> None:
    start = row_of(PY, "message = ")
    result = run(PY, "python", "g.py", (start + 2, 0), (start, 3))
    assert result is not None
    assert result.target_lines == (start, start + 2)


def test_selection_starting_with_instruction_comment() -> None:
    comment = row_of(PY, "sc: use an f-string")
    result = run(PY, "python", "g.py", (comment, 0), (comment + 4, 0))
    assert result is not None
    assert result.instruction == "use an f-string\nand strip the name"
    assert result.instruction_lines == (comment, comment + 2)
    assert result.target_lines == (comment + 2, comment + 4)
    assert "sc:" not in result.target_text


def test_selection_of_only_a_comment_generates() -> None:
    src = "x = 1\n# write a function that adds two numbers\ny = 2\n"
    result = run(src, "python", "a.py", (1, 0), (1, 10))
    assert result is not None
    assert result.mode == "generate"
    assert result.instruction == "write a function that adds two numbers"
    assert result.target_lines == (2, 2)


def test_selection_with_ordinary_comment_above_has_no_instruction() -> None:
    src = "# just a note\nx = 1\ny = 2\n"
    result = run(src, "python", "a.py", (1, 0), (2, 5))
    assert result is not None
    assert result.instruction is None
    assert result.target_lines == (1, 3)


# --------------------------------------------------------------------------- cursor rules


def test_multi_line_comment_instruction_targets_statement_below() -> None:
    comment = row_of(PY, "sc: use an f-string")
    for row in (comment, comment + 1):
        result = run(PY, "python", "g.py", (row, 12))
        assert result is not None
        assert result.instruction == "use an f-string\nand strip the name"
        assert result.instruction_lines == (comment, comment + 2)
        assert result.target_lines == (comment + 2, comment + 3)
        assert result.node_type == "expression_statement"


def test_instruction_inside_class_method_has_class_context() -> None:
    src = dedent(
        """
        import os
        from typing import Any


        class Greeter(Base):
            greeting = "hi"

            # starcoder: add a docstring
            def greet(self, name: str) -> str:
                return self.greeting + name
        """
    )
    result = run(src, "python", "g.py", (row_of(src, "return self.greeting"), 8))
    assert result is not None
    assert result.instruction == "add a docstring"
    assert result.node_type == "function_definition"
    assert result.context == "import os\nfrom typing import Any\nclass Greeter(Base):\n"
    assert "def greet" not in result.context


def test_ordinary_comment_is_not_an_instruction() -> None:
    src = "# Compute the total.\ndef total(xs):\n    return sum(xs)\n"
    result = run(src, "python", "t.py", (0, 3))
    assert result is not None
    assert result.mode == "edit"
    assert result.instruction is None
    assert result.instruction_lines is None
    assert result.target_lines == (1, 3)
    inside = run(src, "python", "t.py", (2, 5))
    assert inside is not None and inside.instruction is None


def test_todo_prefix_is_stripped() -> None:
    src = "def f(xs):\n    # TODO: handle empty input\n    return xs[0]\n"
    result = run(src, "python", "t.py", (1, 0))
    assert result is not None
    assert result.instruction == "handle empty input"
    assert result.target_lines == (2, 3)


def test_custom_prefixes() -> None:
    src = "# ai: make it faster\ndef f():\n    return 1\n"
    assert run(src, "python", "t.py", (0, 0)).instruction is None  # type: ignore[union-attr]
    result = run(src, "python", "t.py", (0, 0), prefixes=["ai:"])
    assert result is not None and result.instruction == "make it faster"


def test_bare_prefix_means_ask_for_instruction() -> None:
    src = "# sc:\ndef f():\n    return 1\n"
    result = run(src, "python", "t.py", (0, 0))
    assert result is not None
    assert result.instruction is None
    assert result.instruction_lines == (0, 1)
    assert result.target_lines == (1, 3)


def test_given_instruction_overrides_comment() -> None:
    src = "# sc: make it faster\ndef f():\n    return 1\n"
    result = run(src, "python", "t.py", (2, 0), instruction="rename it")
    assert result is not None
    assert result.instruction == "rename it"
    assert result.target_lines == (1, 3)


def test_blank_line_after_comment_only_instruction_generates() -> None:
    src = "import os\n\n# write a main function\n\n"
    result = run(src, "python", "a.py", (3, 0))
    assert result is not None
    assert result.mode == "generate"
    assert result.instruction == "write a main function"
    assert result.target_lines == (3, 3)


def test_instruction_with_blank_line_before_code() -> None:
    src = "# sc: add type hints\n\ndef f(x):\n    return x\n"
    result = run(src, "python", "a.py", (0, 0))
    assert result is not None and result.target_lines == (2, 4)
    from_inside = run(src, "python", "a.py", (3, 0))
    assert from_inside is not None and from_inside.instruction == "add type hints"


def test_innermost_instruction_wins() -> None:
    src = dedent(
        """
        # sc: rename the function
        def f(xs):
            # sc: use a comprehension
            for x in xs:
                print(x)
            return xs
        """
    )
    inner = run(src, "python", "a.py", (4, 0))
    assert inner is not None
    assert inner.instruction == "use a comprehension"
    assert inner.target_lines == (3, 5)
    outer = run(src, "python", "a.py", (5, 0))
    assert outer is not None
    assert outer.instruction == "rename the function"
    assert outer.target_lines == (1, 6)


def test_generate_inside_class_gets_class_header_not_previous_method() -> None:
    src = dedent(
        """
        import os


        class Stack:
            def push(self, item):
                self.items.append(item)

            # Write a pop method that raises on empty
        """
    )
    comment = row_of(src, "Write a pop")
    result = run(src, "python", "s.py", (comment, 6))
    assert result is not None
    assert result.mode == "generate"
    assert result.indent == "    "
    assert result.context == "import os\nclass Stack:\n"


def test_ts_decorator_line_targets_decorated_method() -> None:
    lang = next(lang for lang in LANGS if lang.id == "typescript")
    decorator = row_of(lang.src, "@Log()")
    result = run(lang.src, lang.id, lang.path, (decorator, 2))
    assert result is not None
    assert result.target_lines == (decorator, decorator + 4)
    assert "export class Service {" in result.context


def test_rust_method_context_has_impl_header() -> None:
    src = dedent(
        """
        use std::fmt;

        impl Point {
            // sc: return the distance as f32
            fn norm(&self) -> f64 {
                (self.x * self.x + self.y * self.y).sqrt()
            }
        }
        """
    )
    result = run(src, "rust", "p.rs", (5, 10))
    assert result is not None
    assert result.instruction == "return the distance as f32"
    assert result.context == "use std::fmt;\nimpl Point {\n"


def test_jsdoc_block_instruction_from_its_middle_line() -> None:
    src = dedent(
        """
        import { a } from "a";

        /**
         * Intro line.
         * starcoder: validate the input
         *   and throw on bad values
         */
        export const parse = (s) => {
          return JSON.parse(s);
        };
        """
    )
    for row in (2, 4, 6, 8):
        result = run(src, "javascript", "p.js", (row, 2))
        assert result is not None
        assert result.instruction == "validate the input\nand throw on bad values"
        assert result.instruction_lines == (2, 7)
        assert result.target_lines == (7, 10)
        assert result.context == 'import { a } from "a";\n'


def test_decorated_class_header_context() -> None:
    src = dedent(
        """
        from dataclasses import dataclass


        @dataclass(frozen=True)
        class Point:
            x: int

            def norm(self):
                return abs(self.x)
        """
    )
    result = run(src, "python", "p.py", (row_of(src, "return abs"), 0))
    assert result is not None
    assert result.target_lines == (7, 9)
    assert result.context == "from dataclasses import dataclass\nclass Point:\n"


def test_find_instruction_fast_generate() -> None:
    src = "def f():\n    pass\n\n# write a main function\n"
    spec = language_for("python", "a.py")
    assert spec is not None
    result = find_instruction_fast(src, parse(spec, src.encode()), spec, (3, 2))
    assert result is not None
    assert result.mode == "generate" and result.instruction == "write a main function"


def test_javascript_closing_brace_after_comment_generates() -> None:
    src = "class A {\n  m() {}\n  // add a method n that returns 2\n}\n"
    result = run(src, "javascript", "a.js", (2, 0))
    assert result is not None
    assert result.mode == "generate"
    assert result.indent == "  "
    assert result.context == "class A {\n"


# --------------------------------------------------------------------------- fallback


XYZ = dedent(
    """
    load "core"

    ; sc: make it tail recursive
    fn fact n
      if n == 0
        1

      else
        n * fact n - 1

    fn plain x
      x + 1

    -- write a fibonacci function
    """
)


def test_unknown_language_comment_above_paragraph() -> None:
    assert language_for(None, "file:///tmp/prog.xyz") is None
    comment = row_of(XYZ, "sc: make it tail recursive")
    result = run(XYZ, None, "prog.xyz", (comment, 2))
    assert result is not None
    assert result.language is None
    assert result.mode == "edit"
    assert result.instruction == "make it tail recursive"
    assert result.target_lines == (comment + 1, comment + 7)  # across the indented blank
    assert result.node_type is None
    assert result.context == ""
    inside = run(XYZ, None, "prog.xyz", (comment + 3, 0))
    assert inside is not None and inside.instruction == "make it tail recursive"


def test_unknown_language_cursor_without_comment_and_generate() -> None:
    plain = row_of(XYZ, "fn plain")
    result = run(XYZ, None, "prog.xyz", (plain + 1, 0))
    assert result is not None
    assert result.instruction is None
    assert result.target_lines == (plain, plain + 2)
    comment = row_of(XYZ, "write a fibonacci")
    gen = run(XYZ, None, "prog.xyz", (comment, 0))
    assert gen is not None
    assert gen.mode == "generate"
    assert gen.instruction == "write a fibonacci function"
    assert gen.target_lines == (comment + 1, comment + 1)


def test_unknown_language_block_comment_and_closing_brace() -> None:
    src = "thing {\n  a = 1\n  /* sc:\n     add b */\n}\n"
    result = run(src, None, "x.unknown", (3, 0))
    assert result is not None
    assert result.mode == "generate"
    assert result.instruction == "add b"
    assert result.instruction_lines == (2, 4)
    assert result.target_lines == (4, 4)
    assert result.indent == "  "


def test_known_language_without_tree_uses_its_markers() -> None:
    spec = language_for("lua", "a.lua")
    src = "-- sc: return early\nlocal function f(x)\n  return x\nend\n"
    result = extract(src, None, spec, (0, 0), (0, 0))
    assert result is not None
    assert result.language is spec
    assert result.instruction == "return early"
    assert result.target_lines == (1, 4)


# --------------------------------------------------------------------------- robustness


def test_context_budget_drops_furthest_first() -> None:
    imports = "".join(f"import module_{i}\n" for i in range(40))
    src = (
        imports + "\n\nclass Big(Base):\n    # sc: speed it up\n    def run(self):\n        pass\n"
    )
    full = run(src, "python", "b.py", (43, 0))
    assert full is not None
    assert full.context.startswith("import module_0\n")
    assert full.context.endswith("class Big(Base):\n")
    lines = lambda s: len(s.splitlines())  # noqa: E731
    small = run(src, "python", "b.py", (43, 0), context_budget_tokens=5, count_tokens=lines)
    assert small is not None
    assert small.context == "".join(f"import module_{i}\n" for i in range(36, 40)) + (
        "class Big(Base):\n"
    )
    none = run(src, "python", "b.py", (43, 0), context_budget_tokens=0)
    assert none is not None and none.context == ""
    tiny = run(src, "python", "b.py", (43, 0), context_budget_tokens=1, count_tokens=lines)
    assert tiny is not None and tiny.context == "class Big(Base):\n"


def test_emoji_and_cjk_lines_use_code_points() -> None:
    src = dedent(
        """
        def greet():
            s = "héllo 😀 世界"  # not an instruction
            # sc: 翻译成英文 😀
            return s + "你好"
        """
    )
    for col in (0, 9, 14, 30):
        result = run(src, "python", "e.py", (2, col))
        assert result is not None
        assert result.instruction == "翻译成英文 😀"
        assert result.target_lines == (3, 4)
        assert result.target_text == '    return s + "你好"\n'
    inside = run(src, "python", "e.py", (1, 12))
    assert inside is not None and inside.target_lines == (0, 4)
    # Selection columns are code points too (end past the line is clamped).
    sel = run(src, "python", "e.py", (1, 16), (1, 99), instruction="x")
    assert sel is not None and sel.target_lines == (1, 2)


def test_crlf_line_endings_are_preserved() -> None:
    src = "import os\r\n\r\n# sc: add a docstring\r\ndef f(x):\r\n    return x\r\n"
    result = run(src, "python", "c.py", (2, 0))
    assert result is not None
    assert result.instruction == "add a docstring"
    assert result.target_lines == (3, 5)
    assert result.target_text == "def f(x):\r\n    return x\r\n"
    assert result.indent == ""
    assert result.context == "import os\r\n"
    gen_src = "x = 1\r\n# write a helper\r\n"
    gen = run(gen_src, "python", "c.py", (1, 3))
    assert gen is not None and gen.mode == "generate" and gen.instruction == "write a helper"
    js = "// sc: use const\r\nfunction f() {\r\n  var x = 1;\r\n}\r\n"
    result = run(js, "javascript", "c.js", (2, 0))
    assert result is not None
    assert result.instruction == "use const"
    assert result.target_text == "function f() {\r\n  var x = 1;\r\n}\r\n"


def test_empty_document() -> None:
    assert run("", "python", "e.py", (0, 0)) is None
    assert run("\n\n", "python", "e.py", (1, 0)) is None
    assert run("", None, "e.xyz", (0, 0)) is None
    gen = run("", "python", "e.py", (0, 0), instruction="write hello world")
    assert gen is not None
    assert gen.mode == "generate"
    assert gen.target_lines == (0, 0)
    assert gen.instruction == "write hello world"


def test_cursor_beyond_end_is_clamped() -> None:
    src = "def f():\n    return 1"
    result = run(src, "python", "c.py", (50, 80))
    assert result is not None and result.target_lines == (0, 2)
    assert result.target_text == src  # no newline at EOF: none added
    result = run(src, "python", "c.py", (-3, -1))
    assert result is not None and result.target_lines == (0, 2)
    sel = run(src, "python", "c.py", (1, 0), (99, 0), instruction="x")
    assert sel is not None and sel.target_lines == (1, 2)


def test_comment_at_last_line_without_newline_generates_after_it() -> None:
    src = "x = 1\n# write a helper"
    result = run(src, "python", "c.py", (1, 5))
    assert result is not None
    assert result.mode == "generate"
    assert result.target_lines == (2, 2)


def test_long_banner_comment_is_not_an_instruction() -> None:
    src = "".join(f"# license line {i}\n" for i in range(600)) + "import os\n\ndef f():\n    pass\n"
    assert run(src, "python", "l.py", (300, 0)) is None
    result = run(src, "python", "l.py", (602, 0))
    assert result is not None and result.target_lines == (602, 604)
    assert result.instruction is None


def test_syntax_errors_do_not_break_extraction() -> None:
    src = "def f(:\n    # sc: fix this\n    return (\n\nclass\n"
    for row in range(6):
        run(src, "python", "s.py", (row, 0))
    result = run(src, "python", "s.py", (1, 0))
    assert result is not None and result.instruction == "fix this"


def test_lines_argument_matches_text() -> None:
    lang = LANGS[0]
    row = row_of(lang.src, lang.plain)
    spec = language_for("python", "m.py")
    assert spec is not None
    tree = parse(spec, lang.src.encode())
    a = extract(lang.src, tree, spec, (row, 0), (row, 0))
    b = extract(lang.src, tree, spec, (row, 0), (row, 0), lines=lang.src.split("\n"))
    c = find_instruction_fast(lang.src, tree, spec, (row, 0))
    assert a == b
    assert c is not None and a is not None
    assert c.target_lines == a.target_lines and c.context == ""


def _big_python(n_lines: int) -> str:
    parts = ["import os", "import sys", "from typing import Any", ""]
    i = 0
    while len(parts) < n_lines:
        i += 1
        if i % 5 == 0:
            parts += [f"class C{i}(Base):", f'    """Doc {i}."""', ""]
            for m in range(3):
                parts += [
                    "    # sc: make it faster" if m == 1 else "    # plain comment",
                    "    @decorator",
                    f"    def m{m}(self, x: int) -> int:",
                    "        if x > 0:",
                    "            for y in range(x):",
                    "                x += y",
                    "        return x",
                    "",
                ]
        else:
            parts += [
                f"def f{i}(a, b):",
                "    total = a + b",
                "    while total > 0:",
                "        total -= 1",
                "    return total",
                "",
                "",
            ]
    return "\n".join(parts[:n_lines]) + "\n"


def test_big_file_random_positions() -> None:
    text = _big_python(5000)
    spec = language_for("python", "big.py")
    assert spec is not None
    tree = parse(spec, text.encode())
    rng = random.Random(7)
    timings: list[float] = []
    found = 0
    for _ in range(200):
        pos = (rng.randrange(5000), rng.randrange(40))
        t0 = time.perf_counter()
        result = extract(text, tree, spec, pos, pos)
        timings.append((time.perf_counter() - t0) * 1000)
        if result is not None:
            found += 1
            start, end = result.target_lines
            assert 0 <= start <= end <= 5001
    assert found > 150
    timings.sort()
    print(
        f"\nextract() on 5,000 lines: p50 {statistics.median(timings):.3f} ms, "
        f"p99 {timings[197]:.3f} ms"
    )


# --------------------------------------------------------------------------- comments


@pytest.mark.parametrize(
    ("text", "markers", "expected"),
    [
        ("# hello", ("#",), "hello"),
        ("## banner ##", ("#",), "banner ##"),
        ("/// doc line", ("//",), "doc line"),
        ("//! inner doc", ("//",), "inner doc"),
        ("-- lua", ("--",), "lua"),
        ("--- ldoc", ("--",), "ldoc"),
        ("# one\n# two\n#\n# three", ("#",), "one\ntwo\n\nthree"),
        ("/* a */", (), "a"),
        ("/**\n * Doc.\n *\n * More.\n */", (), "Doc.\n\nMore."),
        ("/*! keep */", (), "keep"),
    ],
)
def test_strip_comment_markers(text: str, markers: tuple[str, ...], expected: str) -> None:
    assert strip_comment_markers(text, markers, (("/*", "*/"),)) == expected


def test_strip_block_markers_lua_and_ruby() -> None:
    lua = (("--[[", "]]"), ("--[=[", "]=]"))
    assert strip_comment_markers("--[[\nsc: x\n--]]", ("--",), lua) == "sc: x"
    assert strip_comment_markers("--[=[ y ]=]", ("--",), lua) == "y"
    ruby = (("=begin", "=end"),)
    assert strip_comment_markers("=begin\nsc: z\n=end", ("#",), ruby) == "sc: z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# starcoder: add logging", "add logging"),
        ("# StarCoder:   add logging  ", "add logging"),
        ("// SC: x", "x"),
        ("# TODO: handle empty input", "handle empty input"),
        ("# FIXME: off by one", "off by one"),
        ("# @starcoder rewrite it", "rewrite it"),
        ("# @starcoder: rewrite it", "rewrite it"),
        ("# @starcoderx rewrite it", None),
        ("# just a comment", None),
        ("# not sc: here", None),
        ("# sc:", ""),
        ("/*\n * sc: first\n * second\n */", "first\nsecond"),
        ("# intro\n# sc: do it\n# more", "do it\nmore"),
    ],
)
def test_instruction_from_comment(text: str, expected: str | None) -> None:
    assert instruction_from_comment(text) == expected


def test_instruction_from_comment_without_prefix_requirement() -> None:
    text = "# Write a quicksort function"
    assert instruction_from_comment(text) is None
    assert instruction_from_comment(text, require_prefix=False) == "Write a quicksort function"
    assert instruction_from_comment("#", require_prefix=False) is None
    assert match_prefix("TODO handle", DEFAULT_PREFIXES) is None


# --------------------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("language_id", "path", "expected"),
    [
        ("python", "x", "python"),
        ("javascriptreact", "a.jsx", "javascript"),
        ("typescriptreact", "a.tsx", "tsx"),
        ("shellscript", "a", "bash"),
        ("sh", "a", "bash"),
        ("csharp", "a", "csharp"),
        (None, "file:///a/b/Main.java", "java"),
        (None, "/tmp/x.TS", "typescript"),
        (None, "untitled:foo.tsx", "tsx"),
        ("plaintext", "file:///a/b.rs", "rust"),
        (None, "C:\\src\\m.hpp", "cpp"),
        (None, "file:///p/Rakefile", "ruby"),
        (None, "file:///p/a.php?x=1", "php"),
    ],
)
def test_language_for(language_id: str | None, path: str, expected: str) -> None:
    spec = language_for(language_id, path)
    assert spec is not None and spec.id == expected


def test_language_for_unknown() -> None:
    assert language_for(None, "notes.xyz") is None
    assert language_for("plaintext", "README") is None
    assert language_for(None, "") is None


def test_specs_are_consistent() -> None:
    fences = {spec.id: spec.fence for spec in LANGUAGES}
    assert fences["typescript"] == "ts" and fences["tsx"] == "tsx" and fences["lua"] == "lua"
    for spec in LANGUAGES:
        assert isinstance(spec, LanguageSpec)
        assert spec.line_comments and spec.comment_node_types
        hash(spec)  # frozen and hashable


@pytest.mark.parametrize("spec", LANGUAGES, ids=lambda s: s.id)
def test_parsers_load_offline_and_are_cached(spec: LanguageSpec) -> None:
    assert get_parser(spec) is get_parser(spec)
    tree = parse(spec, b"")
    assert tree.root_node is not None


def test_incremental_parse_passes_old_tree() -> None:
    spec = language_for("python", "a.py")
    assert spec is not None
    old_src = b"def f():\n    return 1\n"
    tree = parse(spec, old_src)
    new_src = b"def f():\n    return 12\n"
    tree.edit(
        start_byte=20,
        old_end_byte=20,
        new_end_byte=21,
        start_point=(1, 11),
        old_end_point=(1, 11),
        new_end_point=(1, 12),
    )
    new_tree = parse(spec, new_src, tree)
    assert new_tree.root_node.text == new_src
    assert not new_tree.root_node.has_error


def test_importing_languages_does_not_import_tree_sitter() -> None:
    code = (
        "import sys, lsp_server.extraction, lsp_server.extraction.languages;"
        "bad = [m for m in sys.modules if m.startswith('tree_sitter')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
