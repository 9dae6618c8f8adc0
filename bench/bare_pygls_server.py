"""The baseline: a pygls server with nothing registered (what 'bare' costs to start)."""

from pygls.lsp.server import LanguageServer

if __name__ == "__main__":
    LanguageServer("bare", "0").start_io()
