"""The language table loaded from languages.json: the same specs the hand-written table
held (ids, order, spot values, ``extends`` merging), and clear errors for bad data."""

from __future__ import annotations

import json
import os
from dataclasses import fields, replace
from typing import Any

import pytest

from lsp_server.extraction.languages import LANGUAGES, LanguageSpec, language_for, specs_from_data

BY_ID = {spec.id: spec for spec in LANGUAGES}
DATA_FILE = os.path.join(
    os.path.dirname(__file__), "..", "..", "lsp_server", "extraction", "languages.json"
)


def test_every_language_is_loaded_in_priority_order() -> None:
    assert [spec.id for spec in LANGUAGES] == [
        "python",
        "javascript",
        "typescript",
        "tsx",
        "go",
        "rust",
        "java",
        "c",
        "cpp",
        "csharp",
        "ruby",
        "php",
        "bash",
        "lua",
    ]


@pytest.mark.parametrize(
    ("language", "fence", "line_comments", "block_comments", "node_type", "grammar"),
    [
        ("python", "python", ("#",), (), "decorated_definition", "tree_sitter_python.language"),
        (
            "javascript",
            "javascript",
            ("//",),
            (("/*", "*/"),),
            "method_definition",
            "tree_sitter_javascript.language",
        ),
        (
            "typescript",
            "ts",
            ("//",),
            (("/*", "*/"),),
            "interface_declaration",
            "tree_sitter_typescript.language_typescript",
        ),
        (
            "tsx",
            "tsx",
            ("//",),
            (("/*", "*/"),),
            "type_alias_declaration",
            "tree_sitter_typescript.language_tsx",
        ),
        ("go", "go", ("//",), (("/*", "*/"),), "method_declaration", "tree_sitter_go.language"),
        ("rust", "rust", ("//",), (("/*", "*/"),), "impl_item", "tree_sitter_rust.language"),
        (
            "java",
            "java",
            ("//",),
            (("/*", "*/"),),
            "record_declaration",
            "tree_sitter_java.language",
        ),
        ("c", "c", ("//",), (("/*", "*/"),), "struct_specifier", "tree_sitter_c.language"),
        ("cpp", "cpp", ("//",), (("/*", "*/"),), "class_specifier", "tree_sitter_cpp.language"),
        (
            "csharp",
            "csharp",
            ("//",),
            (("/*", "*/"),),
            "delegate_declaration",
            "tree_sitter_c_sharp.language",
        ),
        (
            "ruby",
            "ruby",
            ("#",),
            (("=begin", "=end"),),
            "singleton_method",
            "tree_sitter_ruby.language",
        ),
        (
            "php",
            "php",
            ("//", "#"),
            (("/*", "*/"),),
            "trait_declaration",
            "tree_sitter_php.language_php",
        ),
        ("bash", "bash", ("#",), (), "function_definition", "tree_sitter_bash.language"),
        (
            "lua",
            "lua",
            ("--",),
            (("--[[", "]]"), ("--[=[", "]=]"), ("--[==[", "]==]")),
            "function_declaration",
            "tree_sitter_lua.language",
        ),
    ],
)
def test_spot_values(
    language: str,
    fence: str,
    line_comments: tuple[str, ...],
    block_comments: tuple[tuple[str, str], ...],
    node_type: str,
    grammar: str,
) -> None:
    spec = BY_ID[language]
    assert spec.fence == fence
    assert spec.line_comments == line_comments
    assert spec.block_comments == block_comments
    assert node_type in spec.definition_node_types
    assert f"{spec.grammar_module}.{spec.grammar_function}" == grammar


def test_field_types_match_the_dataclass() -> None:
    for spec in LANGUAGES:
        for field in fields(LanguageSpec):
            value = getattr(spec, field.name)
            if str(field.type) == "frozenset[str]":
                assert type(value) is frozenset, (spec.id, field.name)
            elif str(field.type).startswith("tuple"):
                assert type(value) is tuple, (spec.id, field.name)
        assert all(type(pair) is tuple and len(pair) == 2 for pair in spec.block_comments)


def test_other_spot_values() -> None:
    assert BY_ID["python"].import_node_types == {
        "import_statement",
        "import_from_statement",
        "future_import_statement",
    }
    assert BY_ID["rust"].comment_node_types == {"line_comment", "block_comment"}
    assert BY_ID["rust"].attachment_node_types == {"attribute_item"}
    assert BY_ID["go"].lambda_node_types == {"func_literal"}
    assert BY_ID["c"].import_container_types == {"preproc_ifdef", "preproc_if"}
    assert BY_ID["ruby"].import_node_types == frozenset()
    assert BY_ID["ruby"].filenames == ("rakefile", "gemfile", "guardfile", "podfile", "vagrantfile")
    assert BY_ID["bash"].import_pattern == r"^\s*(?:source|\.)\s+\S"
    assert BY_ID["lua"].import_pattern == r"^\s*(?:local\s+[\w\s,]+=\s*)?require\b"
    assert BY_ID["javascript"].import_pattern == (
        r"^\s*(?:(?:const|let|var)\s+[^=]+=\s*)?require\s*\("
    )
    assert BY_ID["python"].import_pattern is None
    assert BY_ID["cpp"].extensions[:2] == (".cc", ".cpp")
    assert BY_ID["bash"].language_ids == ("shellscript", "bash", "sh")


def test_extends_inherits_and_add_merges_sets() -> None:
    js, ts, tsx = BY_ID["javascript"], BY_ID["typescript"], BY_ID["tsx"]
    # TSX is TypeScript with another grammar function and file types.
    assert tsx == replace(
        ts,
        id="tsx",
        fence="tsx",
        extensions=(".tsx",),
        language_ids=("typescriptreact",),
        grammar_function="language_tsx",
    )
    # TypeScript: JavaScript's sets plus its own kinds; the rest inherited unchanged.
    assert ts.definition_node_types > js.definition_node_types
    assert ts.definition_node_types - js.definition_node_types == {
        "abstract_class_declaration",
        "interface_declaration",
        "type_alias_declaration",
        "enum_declaration",
        "function_signature",
        "method_signature",
        "abstract_method_signature",
        "internal_module",
        "module",
    }
    assert ts.class_node_types == {
        "class_declaration",
        "abstract_class_declaration",
        "interface_declaration",
        "class",
    }
    assert ts.wrapper_node_types == {"export_statement", "ambient_declaration"}
    assert ts.block_node_types == js.block_node_types
    assert ts.binding_node_types == js.binding_node_types
    assert ts.import_pattern == js.import_pattern
    assert ts.grammar_module == "tree_sitter_typescript"
    # C++: C plus its own kinds; body_required_types shared.
    c, cpp = BY_ID["c"], BY_ID["cpp"]
    assert cpp.definition_node_types == c.definition_node_types | {"class_specifier"}
    assert cpp.block_node_types == c.block_node_types | {"for_range_loop", "try_statement"}
    assert cpp.import_node_types == {"preproc_include", "using_declaration"}
    assert cpp.wrapper_node_types == {"template_declaration", "type_definition"}
    assert cpp.body_required_types == c.body_required_types
    assert "class_specifier" in c.body_required_types
    assert cpp.lambda_node_types == {"lambda_expression"} and not c.lambda_node_types
    assert cpp.language_ids == ("cpp", "cuda-cpp")


def test_first_language_claiming_an_extension_wins() -> None:
    assert language_for(None, "x.h").id == "c"  # type: ignore[union-attr]
    assert language_for("cuda-cpp", "x").id == "cpp"  # type: ignore[union-attr]
    assert language_for(None, ".bashrc").id == "bash"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the loader


def _data() -> list[dict[str, Any]]:
    with open(DATA_FILE, encoding="utf-8") as file:
        data: list[dict[str, Any]] = json.load(file)
    return data


def test_loader_rebuilds_the_table_from_the_file() -> None:
    assert specs_from_data(_data()) == LANGUAGES


def _with(language: str, **changes: Any) -> list[dict[str, Any]]:
    data = _data()
    entry = next(e for e in data if e["id"] == language)
    entry.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with("go", fense="go"), r"language 'go': unknown field 'fense'"),
        (_with("go", fence=["go"]), r"language 'go': field 'fence' must be a string,"),
        (
            _with("go", block_node_types="if_statement"),
            r"'block_node_types' must be a list of strings",
        ),
        (
            _with("lua", block_comments=[["--[["]]),
            r"'block_comments' must be a list of \[open, close\]",
        ),
        (_with("tsx", extends="ts"), r"language 'tsx': extends 'ts', which is not an earlier"),
        (_with("python", extends="lua"), r"extends 'lua', which is not an earlier entry"),
        (_with("cpp", add={"fence": ["x"]}), r"language 'cpp': 'add' needs a set field"),
        (_with("cpp", add={"lambda_node_types": ["x"]}), r"'add' needs a set field not also"),
        (_with("cpp", add={"bogus": ["x"]}), r"'add' needs a set field"),
        ([{"fence": "x"}], r"entry 0 has no string 'id'"),
        ([{"id": "x", "fence": "x"}], r"language 'x': .*missing"),
        ([*_data(), {"id": "go", "extends": "go"}], r"language 'go': duplicate id"),
        ({"id": "x"}, r"expected a list"),
    ],
    ids=[
        "unknown-field",
        "string-as-list",
        "list-as-string",
        "bad-pair",
        "extends-unknown",
        "extends-later",
        "add-non-set",
        "add-and-set",
        "add-unknown",
        "no-id",
        "missing-fields",
        "duplicate-id",
        "not-a-list",
    ],
)
def test_malformed_data_raises_a_clear_error(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        specs_from_data(data)
