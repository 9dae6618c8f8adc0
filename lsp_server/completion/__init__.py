"""Inline completion. The pure part (no LSP and no model: everything is a function of text
and a tree-sitter tree, so the rules are unit-tested as tables) is re-exported here:
the fill-in-the-middle prompt (fim_window), whether a completion may span several lines
(multiline) and the clean-up of what the model wrote (trimming).

The request side is in its own modules, imported by the LSP feature only: the service
(service: debounce, cancel, model, generation within a time budget), its document
snapshot (snapshot), cancellation state (jobs), stats (stats) and the shaping of an
answer into LSP items (items).
"""

from lsp_server.completion.fim_window import (
    PSM,
    SPM,
    FimBudget,
    FimPrompt,
    build_prompt,
    prefix_window_start,
    select_context,
    stop_strings,
    suffix_window,
)
from lsp_server.completion.multiline import is_multiline_position
from lsp_server.completion.trimming import (
    Cleaned,
    merge_rest_of_line,
    normalize_indent,
    postprocess,
    scope_end_cut,
)

__all__ = [
    "PSM",
    "SPM",
    "Cleaned",
    "FimBudget",
    "FimPrompt",
    "build_prompt",
    "is_multiline_position",
    "merge_rest_of_line",
    "normalize_indent",
    "postprocess",
    "prefix_window_start",
    "scope_end_cut",
    "select_context",
    "stop_strings",
    "suffix_window",
]
