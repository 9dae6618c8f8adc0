"""From a model's answer to minimal, rebasable text edits (code-point positions)."""

from lsp_server.edits.diff import (
    TextEditSpec,
    apply_edits,
    detect_eol,
    drop_repeated_signature,
    replacement_edits,
)
from lsp_server.edits.rebase import Change, rebase
from lsp_server.edits.reindent import detect_indent_unit, reindent
from lsp_server.edits.response import explain_markdown, extract_code

__all__ = [
    "Change",
    "TextEditSpec",
    "apply_edits",
    "detect_eol",
    "detect_indent_unit",
    "drop_repeated_signature",
    "explain_markdown",
    "extract_code",
    "rebase",
    "reindent",
    "replacement_edits",
]
