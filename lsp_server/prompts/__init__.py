"""Prompt construction for every supported model family (templates live in templates.py)."""

from lsp_server.prompts.budget import BudgetParts, PromptTooLongError, fit_to_budget
from lsp_server.prompts.build import (
    Prompt,
    build_edit_prompt,
    build_explain_prompt,
    build_generate_prompt,
    fim_prompt,
    resolve_family,
)
from lsp_server.prompts.templates import FAMILIES, FIM_STOPS

__all__ = [
    "FAMILIES",
    "FIM_STOPS",
    "BudgetParts",
    "Prompt",
    "PromptTooLongError",
    "build_edit_prompt",
    "build_explain_prompt",
    "build_generate_prompt",
    "fim_prompt",
    "fit_to_budget",
    "resolve_family",
]
