"""Instruction/target/context extraction from source text and tree-sitter trees."""

from .comments import DEFAULT_PREFIXES, instruction_from_comment, strip_comment_markers
from .extract import Extraction, extract, find_instruction_fast, split_lines
from .languages import LANGUAGES, LanguageSpec, get_parser, language_for, parse

__all__ = [
    "DEFAULT_PREFIXES",
    "LANGUAGES",
    "Extraction",
    "LanguageSpec",
    "extract",
    "find_instruction_fast",
    "get_parser",
    "instruction_from_comment",
    "language_for",
    "parse",
    "split_lines",
    "strip_comment_markers",
]
