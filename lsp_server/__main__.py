"""`python -m lsp_server` runs the same CLI as the `starcoder-lsp` script."""

from lsp_server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
