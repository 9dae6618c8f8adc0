"""starcoder-lsp: instruction-driven code edits from the StarCoder family over LSP."""

__version__ = "0.1.0"
