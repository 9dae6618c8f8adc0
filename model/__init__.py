"""Inference backends behind one interface. Never imports lsp_server."""
