"""Language table: comment syntax, tree-sitter node kinds and lazily built parsers.

Importing this module must stay cheap (server start-up time is measured), so
``tree_sitter`` and the grammar packages are imported only inside
:func:`get_language` / :func:`get_parser` / :func:`parse`. Grammars come from the
individual ``tree-sitter-<lang>`` wheels, which work offline (never the
language pack, which downloads grammars at run time).

The table itself is data, ``languages.json`` next to this file, read once at
import (a few kB of stdlib ``json``). It is a list, in lookup priority order
(the first language claiming a language id, extension or file name wins). Each
entry names :class:`LanguageSpec` fields (lists for tuples and sets, ``[open,
close]`` pairs for block comments) plus three loader keys:

* ``"extends": "<id>"``: start from an earlier entry's fields (all but ``id``);
  the entry's own fields replace the inherited ones.
* ``"add": {"<set field>": [...]}``: node types added to the inherited set, so
  TSX/TypeScript/JavaScript and C++/C share their sets instead of repeating them.
* ``"notes"``: a comment for readers, ignored.

Unknown fields, wrong value types and bad ``extends`` fail at import with the
language named, rather than leaving a spec silently half built.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

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


_DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "languages.json")
_LOADER_KEYS = frozenset({"extends", "add", "notes"})  # entry keys that are not spec fields


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _pairs(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and _strings(pair) for pair in value
    )


# Per LanguageSpec field type: what the JSON value must be, its check, its conversion.
_Converter = tuple[str, Callable[[Any], bool], Callable[[Any], object]]
_CONVERTERS: dict[str, _Converter] = {
    "str": ("a string", lambda v: isinstance(v, str), str),
    "str | None": ("a string or null", lambda v: v is None or isinstance(v, str), lambda v: v),
    "tuple[str, ...]": ("a list of strings", _strings, tuple),
    "tuple[tuple[str, str], ...]": (
        "a list of [open, close] string pairs",
        _pairs,
        lambda v: tuple(tuple(pair) for pair in v),
    ),
    "frozenset[str]": ("a list of strings", _strings, frozenset),
}
_FIELD_TYPES: dict[str, str] = {field.name: str(field.type) for field in fields(LanguageSpec)}


def _field_value(where: str, name: str, value: object) -> object:
    kind = _FIELD_TYPES.get(name)
    if kind is None:
        known = ", ".join(sorted(set(_FIELD_TYPES) | _LOADER_KEYS))
        raise ValueError(f"{where}: unknown field {name!r} (known: {known})")
    expected, valid, build = _CONVERTERS[kind]
    if not valid(value):
        raise ValueError(f"{where}: field {name!r} must be {expected}, got {value!r}")
    return build(value)


def specs_from_data(
    entries: Sequence[Mapping[str, Any]], source: str = "languages data"
) -> tuple[LanguageSpec, ...]:
    """Build the specs from parsed JSON entries (see the module docstring for the format).

    Raises ``ValueError`` naming the language and the field for malformed data.
    """
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a list of languages")
    resolved: dict[str, dict[str, Any]] = {}
    specs: list[LanguageSpec] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError(f"{source}: entry {index} has no string 'id'")
        where = f"{source}: language {entry['id']!r}"
        if entry["id"] in resolved:
            raise ValueError(f"{where}: duplicate id")
        values: dict[str, Any] = {}
        parent = entry.get("extends")
        if parent is not None:
            if not isinstance(parent, str) or parent not in resolved:
                raise ValueError(f"{where}: extends {parent!r}, which is not an earlier entry")
            values.update(resolved[parent])
        for name, value in entry.items():
            if name not in _LOADER_KEYS:
                values[name] = _field_value(where, name, value)
        added = entry.get("add", {})
        if not isinstance(added, dict):
            raise ValueError(f"{where}: 'add' must map set fields to lists")
        for name, value in added.items():
            if _FIELD_TYPES.get(name) != "frozenset[str]" or name in entry:
                raise ValueError(f"{where}: 'add' needs a set field not also set here: {name!r}")
            extra = _field_value(where, name, value)
            values[name] = values.get(name, frozenset()) | extra
        try:
            spec = LanguageSpec(**values)
        except TypeError as error:
            raise ValueError(f"{where}: {error}") from None
        resolved[spec.id] = values
        specs.append(spec)
    return tuple(specs)


def _load(path: str) -> tuple[LanguageSpec, ...]:
    with open(path, encoding="utf-8") as data:
        return specs_from_data(json.load(data), os.path.basename(path))


LANGUAGES: tuple[LanguageSpec, ...] = _load(_DATA_FILE)

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
