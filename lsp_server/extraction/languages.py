"""Language table: comment syntax, tree-sitter node kinds and lazily built parsers.

Importing this module must stay cheap (server start-up time is measured), so
``tree_sitter`` and the grammar packages are imported only inside
:func:`get_language` / :func:`get_parser` / :func:`parse`. Grammars come from the
individual ``tree-sitter-<lang>`` wheels, which work offline (never the
language pack, which downloads grammars at run time).
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tree_sitter import Language, Parser, Tree

__all__ = [
    "LANGUAGES",
    "LanguageSpec",
    "get_language",
    "get_parser",
    "language_for",
    "parse",
]


@dataclass(frozen=True)
class LanguageSpec:
    """What extraction needs to know about one language.

    Node-type sets name tree-sitter node kinds of that grammar. Types not in the
    brief's minimal list are there for the edge cases extraction handles:

    * ``wrapper_node_types``: nodes that wrap a definition and belong to it
      (Python ``decorated_definition``, JS ``export_statement``, C++
      ``template_declaration``); a target is widened to them.
    * ``attachment_node_types``: *siblings* that precede a definition and belong
      to it (TS decorators in a class body, Rust ``#[attr]`` items).
    * ``lambda_node_types`` / ``binding_node_types``: an anonymous function
      counts as a definition only when bound to a name
      (``const f = () => {}``, ``local f = function() end``), not as a callback.
    * ``body_required_types``: kinds that are definitions only with a body
      (C ``struct P {..}`` yes, ``struct P p;`` no).
    * ``import_pattern``: regex on the first line of a top-level statement for
      languages whose imports are plain calls (Ruby ``require``, Lua, bash
      ``source``, CommonJS ``require``).
    """

    id: str
    fence: str
    line_comments: tuple[str, ...]
    block_comments: tuple[tuple[str, str], ...]
    comment_node_types: frozenset[str]
    definition_node_types: frozenset[str]
    block_node_types: frozenset[str]
    import_node_types: frozenset[str]
    class_node_types: frozenset[str]
    wrapper_node_types: frozenset[str] = frozenset()
    attachment_node_types: frozenset[str] = frozenset()
    lambda_node_types: frozenset[str] = frozenset()
    binding_node_types: frozenset[str] = frozenset()
    body_required_types: frozenset[str] = frozenset()
    import_container_types: frozenset[str] = frozenset()
    import_pattern: str | None = None
    extensions: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()
    language_ids: tuple[str, ...] = ()
    grammar_module: str = ""
    grammar_function: str = "language"


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


_C_BLOCKS = _fs(
    "if_statement", "for_statement", "while_statement", "do_statement", "switch_statement"
)
_JS_DEFS = _fs(
    "function_declaration",
    "generator_function_declaration",
    "class_declaration",
    "method_definition",
)
_JS_BLOCKS = _fs(
    "if_statement",
    "for_statement",
    "for_in_statement",
    "while_statement",
    "do_statement",
    "try_statement",
    "switch_statement",
)
_JS_LAMBDAS = _fs("arrow_function", "function_expression", "function", "generator_function")
_JS_BINDINGS = _fs(
    "variable_declarator",
    "assignment_expression",
    "pair",
    "field_definition",
    "public_field_definition",
)
_JS_IMPORT_RE = r"^\s*(?:(?:const|let|var)\s+[^=]+=\s*)?require\s*\("
_TS_DEFS = _JS_DEFS | _fs(
    "abstract_class_declaration",
    "interface_declaration",
    "type_alias_declaration",
    "enum_declaration",
    "function_signature",
    "method_signature",
    "abstract_method_signature",
    "internal_module",
    "module",
)
_TS_CLASSES = _fs(
    "class_declaration", "abstract_class_declaration", "interface_declaration", "class"
)
_C_DEFS = _fs("function_definition", "struct_specifier", "union_specifier", "enum_specifier")
_C_BODY_REQUIRED = _fs("struct_specifier", "union_specifier", "enum_specifier", "class_specifier")


LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        id="python",
        fence="python",
        line_comments=("#",),
        block_comments=(),  # docstrings are strings, not comments
        comment_node_types=_fs("comment"),
        definition_node_types=_fs(
            "function_definition", "class_definition", "decorated_definition"
        ),
        block_node_types=_fs(
            "if_statement",
            "for_statement",
            "while_statement",
            "try_statement",
            "with_statement",
            "match_statement",
        ),
        import_node_types=_fs(
            "import_statement", "import_from_statement", "future_import_statement"
        ),
        class_node_types=_fs("class_definition"),
        wrapper_node_types=_fs("decorated_definition"),
        extensions=(".py", ".pyi", ".pyw"),
        language_ids=("python",),
        grammar_module="tree_sitter_python",
    ),
    LanguageSpec(
        id="javascript",
        fence="javascript",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_JS_DEFS,
        block_node_types=_JS_BLOCKS,
        import_node_types=_fs("import_statement"),
        class_node_types=_fs("class_declaration", "class"),
        wrapper_node_types=_fs("export_statement"),
        attachment_node_types=_fs("decorator"),
        lambda_node_types=_JS_LAMBDAS,
        binding_node_types=_JS_BINDINGS,
        import_pattern=_JS_IMPORT_RE,
        extensions=(".js", ".mjs", ".cjs", ".jsx"),
        language_ids=("javascript", "javascriptreact"),
        grammar_module="tree_sitter_javascript",
    ),
    LanguageSpec(
        id="typescript",
        fence="ts",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_TS_DEFS,
        block_node_types=_JS_BLOCKS,
        import_node_types=_fs("import_statement"),
        class_node_types=_TS_CLASSES,
        wrapper_node_types=_fs("export_statement", "ambient_declaration"),
        attachment_node_types=_fs("decorator"),
        lambda_node_types=_JS_LAMBDAS,
        binding_node_types=_JS_BINDINGS,
        import_pattern=_JS_IMPORT_RE,
        extensions=(".ts", ".mts", ".cts"),
        language_ids=("typescript",),
        grammar_module="tree_sitter_typescript",
        grammar_function="language_typescript",
    ),
    LanguageSpec(
        id="tsx",
        fence="tsx",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_TS_DEFS,
        block_node_types=_JS_BLOCKS,
        import_node_types=_fs("import_statement"),
        class_node_types=_TS_CLASSES,
        wrapper_node_types=_fs("export_statement", "ambient_declaration"),
        attachment_node_types=_fs("decorator"),
        lambda_node_types=_JS_LAMBDAS,
        binding_node_types=_JS_BINDINGS,
        import_pattern=_JS_IMPORT_RE,
        extensions=(".tsx",),
        language_ids=("typescriptreact",),
        grammar_module="tree_sitter_typescript",
        grammar_function="language_tsx",
    ),
    LanguageSpec(
        id="go",
        fence="go",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_fs("function_declaration", "method_declaration", "type_declaration"),
        block_node_types=_fs(
            "if_statement",
            "for_statement",
            "expression_switch_statement",
            "type_switch_statement",
            "select_statement",
        ),
        import_node_types=_fs("package_clause", "import_declaration"),
        class_node_types=_fs("type_declaration"),
        lambda_node_types=_fs("func_literal"),
        binding_node_types=_fs("short_var_declaration", "var_spec", "assignment_statement"),
        extensions=(".go",),
        language_ids=("go",),
        grammar_module="tree_sitter_go",
    ),
    LanguageSpec(
        id="rust",
        fence="rust",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("line_comment", "block_comment"),
        definition_node_types=_fs(
            "function_item",
            "function_signature_item",
            "impl_item",
            "struct_item",
            "trait_item",
            "enum_item",
            "mod_item",
            "union_item",
            "macro_definition",
        ),
        block_node_types=_fs(
            "if_expression",
            "for_expression",
            "while_expression",
            "loop_expression",
            "match_expression",
        ),
        import_node_types=_fs("use_declaration", "extern_crate_declaration"),
        class_node_types=_fs("impl_item", "trait_item", "mod_item"),
        attachment_node_types=_fs("attribute_item"),
        extensions=(".rs",),
        language_ids=("rust",),
        grammar_module="tree_sitter_rust",
    ),
    LanguageSpec(
        id="java",
        fence="java",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("line_comment", "block_comment"),
        definition_node_types=_fs(
            "method_declaration",
            "constructor_declaration",
            "compact_constructor_declaration",
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "annotation_type_declaration",
        ),
        block_node_types=_fs(
            "if_statement",
            "for_statement",
            "enhanced_for_statement",
            "while_statement",
            "do_statement",
            "try_statement",
            "try_with_resources_statement",
            "switch_expression",
            "synchronized_statement",
        ),
        import_node_types=_fs("package_declaration", "import_declaration"),
        class_node_types=_fs(
            "class_declaration", "interface_declaration", "enum_declaration", "record_declaration"
        ),
        extensions=(".java",),
        language_ids=("java",),
        grammar_module="tree_sitter_java",
    ),
    LanguageSpec(
        id="c",
        fence="c",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_C_DEFS,
        block_node_types=_C_BLOCKS,
        import_node_types=_fs("preproc_include"),
        class_node_types=_fs("struct_specifier", "union_specifier"),
        wrapper_node_types=_fs("type_definition"),
        body_required_types=_C_BODY_REQUIRED,
        import_container_types=_fs("preproc_ifdef", "preproc_if"),
        extensions=(".c", ".h"),
        language_ids=("c",),
        grammar_module="tree_sitter_c",
    ),
    LanguageSpec(
        id="cpp",
        fence="cpp",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_C_DEFS | _fs("class_specifier"),
        block_node_types=_C_BLOCKS | _fs("for_range_loop", "try_statement"),
        import_node_types=_fs("preproc_include", "using_declaration"),
        class_node_types=_fs(
            "class_specifier", "struct_specifier", "union_specifier", "namespace_definition"
        ),
        wrapper_node_types=_fs("template_declaration", "type_definition"),
        lambda_node_types=_fs("lambda_expression"),
        binding_node_types=_fs("init_declarator"),
        body_required_types=_C_BODY_REQUIRED,
        import_container_types=_fs("preproc_ifdef", "preproc_if"),
        extensions=(".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".inl"),
        language_ids=("cpp", "cuda-cpp"),
        grammar_module="tree_sitter_cpp",
    ),
    LanguageSpec(
        id="csharp",
        fence="csharp",
        line_comments=("//",),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_fs(
            "method_declaration",
            "constructor_declaration",
            "destructor_declaration",
            "operator_declaration",
            "conversion_operator_declaration",
            "property_declaration",
            "local_function_statement",
            "class_declaration",
            "struct_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "delegate_declaration",
        ),
        block_node_types=_fs(
            "if_statement",
            "for_statement",
            "foreach_statement",
            "while_statement",
            "do_statement",
            "try_statement",
            "using_statement",
            "switch_statement",
            "lock_statement",
        ),
        import_node_types=_fs("using_directive", "file_scoped_namespace_declaration"),
        class_node_types=_fs(
            "class_declaration",
            "struct_declaration",
            "interface_declaration",
            "record_declaration",
            "enum_declaration",
            "namespace_declaration",
        ),
        extensions=(".cs", ".csx"),
        language_ids=("csharp",),
        grammar_module="tree_sitter_c_sharp",
    ),
    LanguageSpec(
        id="ruby",
        fence="ruby",
        line_comments=("#",),
        block_comments=(("=begin", "=end"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_fs(
            "method", "singleton_method", "class", "module", "singleton_class"
        ),
        block_node_types=_fs("if", "unless", "while", "until", "for", "case", "begin"),
        import_node_types=_fs(),
        class_node_types=_fs("class", "module", "singleton_class"),
        import_pattern=r"^\s*(?:require|require_relative|load)\b",
        extensions=(".rb", ".rake", ".gemspec", ".ru"),
        filenames=("rakefile", "gemfile", "guardfile", "podfile", "vagrantfile"),
        language_ids=("ruby",),
        grammar_module="tree_sitter_ruby",
    ),
    LanguageSpec(
        id="php",
        fence="php",
        line_comments=("//", "#"),
        block_comments=(("/*", "*/"),),
        comment_node_types=_fs("comment"),
        definition_node_types=_fs(
            "function_definition",
            "method_declaration",
            "class_declaration",
            "interface_declaration",
            "trait_declaration",
            "enum_declaration",
        ),
        block_node_types=_fs(
            "if_statement",
            "for_statement",
            "foreach_statement",
            "while_statement",
            "do_statement",
            "try_statement",
            "switch_statement",
        ),
        import_node_types=_fs("namespace_definition", "namespace_use_declaration"),
        class_node_types=_fs(
            "class_declaration", "interface_declaration", "trait_declaration", "enum_declaration"
        ),
        lambda_node_types=_fs("anonymous_function", "anonymous_function_creation_expression"),
        binding_node_types=_fs("assignment_expression"),
        import_pattern=r"^\s*(?:require|require_once|include|include_once)\b",
        extensions=(".php", ".phtml", ".php8"),
        language_ids=("php",),
        grammar_module="tree_sitter_php",
        grammar_function="language_php",  # handles the leading <?php tag
    ),
    LanguageSpec(
        id="bash",
        fence="bash",
        line_comments=("#",),
        block_comments=(),
        comment_node_types=_fs("comment"),
        definition_node_types=_fs("function_definition"),
        block_node_types=_fs(
            "if_statement",
            "for_statement",
            "c_style_for_statement",
            "while_statement",
            "case_statement",
        ),
        import_node_types=_fs(),
        class_node_types=_fs(),
        import_pattern=r"^\s*(?:source|\.)\s+\S",
        extensions=(".sh", ".bash", ".bats"),
        filenames=(".bashrc", ".bash_profile", ".profile"),
        language_ids=("shellscript", "bash", "sh"),
        grammar_module="tree_sitter_bash",
    ),
    LanguageSpec(
        id="lua",
        fence="lua",
        line_comments=("--",),
        block_comments=(("--[[", "]]"), ("--[=[", "]=]"), ("--[==[", "]==]")),
        comment_node_types=_fs("comment"),
        definition_node_types=_fs("function_declaration"),
        block_node_types=_fs(
            "if_statement", "for_statement", "while_statement", "repeat_statement", "do_statement"
        ),
        import_node_types=_fs(),
        class_node_types=_fs(),
        lambda_node_types=_fs("function_definition"),
        binding_node_types=_fs("assignment_statement", "field"),
        import_pattern=r"^\s*(?:local\s+[\w\s,]+=\s*)?require\b",
        extensions=(".lua",),
        language_ids=("lua",),
        grammar_module="tree_sitter_lua",
    ),
)

_BY_ID: dict[str, LanguageSpec] = {}
_BY_EXT: dict[str, LanguageSpec] = {}
_BY_NAME: dict[str, LanguageSpec] = {}
for _spec in LANGUAGES:
    _BY_ID[_spec.id] = _spec
    for _lid in _spec.language_ids:
        _BY_ID.setdefault(_lid, _spec)
    for _ext in _spec.extensions:
        _BY_EXT.setdefault(_ext, _spec)
    for _name in _spec.filenames:
        _BY_NAME.setdefault(_name, _spec)
del _spec, _lid, _ext, _name


def language_for(language_id: str | None, uri_or_path: str) -> LanguageSpec | None:
    """The spec for an LSP ``languageId``, else for the file's extension/name.

    ``None`` means an unknown language: extraction then falls back to lines.
    """
    if language_id:
        spec = _BY_ID.get(language_id.strip().lower())
        if spec is not None:
            return spec
    name = uri_or_path.split("?", 1)[0].split("#", 1)[0].replace("\\", "/").rsplit("/", 1)[-1]
    name = name.lower()
    if not name:
        return None
    if name in _BY_NAME:
        return _BY_NAME[name]
    ext = os.path.splitext(name)[1]
    return _BY_EXT.get(ext) if ext else None


_languages: dict[str, Language] = {}
_languages_lock = threading.Lock()
_parsers = threading.local()  # Parser objects are not thread-safe: one per thread


def get_language(spec: LanguageSpec) -> Language:
    """The tree-sitter ``Language`` for *spec*, loaded on first use."""
    lang = _languages.get(spec.id)
    if lang is None:
        from tree_sitter import Language

        module = importlib.import_module(spec.grammar_module)
        with _languages_lock:
            lang = _languages.setdefault(
                spec.id, Language(getattr(module, spec.grammar_function)())
            )
    return lang


def get_parser(spec: LanguageSpec) -> Parser:
    """A parser for *spec*, cached per language (and per thread)."""
    cache: dict[str, Parser] | None = getattr(_parsers, "cache", None)
    if cache is None:
        cache = {}
        _parsers.cache = cache
    parser = cache.get(spec.id)
    if parser is None:
        from tree_sitter import Parser

        parser = Parser(get_language(spec))
        cache[spec.id] = parser
    return parser


def parse(spec: LanguageSpec, source: bytes, old_tree: Tree | None = None) -> Tree:
    """Parse UTF-8 *source*; pass the edited previous tree for an incremental reparse."""
    parser = get_parser(spec)
    if old_tree is None:
        return parser.parse(source)
    return parser.parse(source, old_tree)
