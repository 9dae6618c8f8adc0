"""Command line: run the server (stdio, TCP or WebSocket), or run the edit pipeline on a
file for scripts and a quick try, list and download models, check the set-up (doctor).

Only argparse and logging are imported up front; the server, tree-sitter and any model
engine load after the arguments are parsed, so `--help` and start-up stay fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2087

# CLI flag -> settings key, for flags that map onto settings.
SETTING_FLAGS = {
    "model": "model", "backend": "backend", "endpoint": "endpoint",
    "endpoint_model": "endpoint_model", "completion_model": "completion_model",
    "max_tokens": "max_tokens", "n_ctx": "n_ctx", "n_gpu_layers": "n_gpu_layers",
    "n_threads": "n_threads", "models_dir": "models_dir", "load_on_start": "load_on_start",
    "temperature": "temperature", "queue_size": "queue_size",
}


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", help="GGUF path, Hugging Face model id/folder (transformers) "
                       "or preset name (see `starcoder-lsp models`); default "
                       "starcoder2-15b-instruct-v0.1")
    group.add_argument("--backend", choices=["auto", "llama.cpp", "transformers", "openai"],
                       help="inference backend (default auto)")
    group.add_argument("--endpoint", help="OpenAI-compatible server URL (vLLM, TGI, llama.cpp)")
    group.add_argument("--endpoint-model", help="model name to send to the endpoint")
    group.add_argument("--completion-model", help="model for inline completion (FIM)")
    group.add_argument("--max-tokens", type=int, help="longest answer in tokens")
    group.add_argument("--temperature", type=float, help="0 = greedy (default)")
    group.add_argument("--n-ctx", type=int, help="context size; 0 = the model's (llama.cpp, "
                       "transformers) or the server's (openai)")
    group.add_argument("--n-gpu-layers", type=int, help="llama.cpp layers on the GPU (-1 all)")
    group.add_argument("--n-threads", type=int, help="llama.cpp CPU threads (0 = auto)")
    group.add_argument("--models-dir", help="where downloaded models are kept")
    group.add_argument("--queue-size", type=int, help="requests allowed to wait for the model")
    group.add_argument("--load-on-start", action="store_true", default=None,
                       help="load the model right after initialize instead of on first use")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starcoder-lsp",
        description="Language server for instruction-driven code edits with StarCoder models.",
    )
    from lsp_server import __version__

    parser.add_argument("--version", action="version", version=f"starcoder-lsp {__version__}")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="serve over stdio (default)")
    transport.add_argument("--tcp", action="store_true", help="serve over TCP")
    transport.add_argument("--ws", action="store_true", help="serve over WebSocket")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address for --tcp/--ws (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port for --tcp/--ws (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--ws-token",
                        help="secret a --ws client must send (?token=... or Authorization: "
                        "Bearer ...); required when --host is not a loopback address; "
                        "prefer the STARCODER_WS_TOKEN environment variable (a flag shows "
                        "in the process list)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv includes every LSP message)")
    parser.add_argument("--log-file", help="write logs to this file instead of stderr")
    _add_model_flags(parser)

    sub = parser.add_subparsers(dest="command")
    edit = sub.add_parser("edit", help="edit a file from the command line; prints a diff")
    edit.add_argument("file")
    edit.add_argument("--line", type=int, required=True,
                      help="1-based line of the instruction comment or inside the target")
    edit.add_argument("--end-line", type=int, help="1-based last line of a selection")
    task = edit.add_mutually_exclusive_group()
    task.add_argument("--instruction", help="instruction (default: from the comment)")
    task.add_argument("--fix", metavar="MESSAGE",
                      help="fix this problem reported at --line (a compiler's, linter's or "
                      "type checker's message); the enclosing statement or function is edited")
    task.add_argument("--explain", action="store_true", help="print an explanation instead")
    edit.add_argument("--write", action="store_true", help="write the result to the file")
    _add_model_flags(edit)
    models = sub.add_parser("models", help="list model presets and which are downloaded")
    models.add_argument("--json", action="store_true", help="as JSON (for editors)")
    download = sub.add_parser("download", help="download a preset's GGUF file")
    download.add_argument("name", help="preset name, optionally NAME:QUANT (e.g. :Q8_0)")
    download.add_argument("--models-dir", help="where to put it")
    doctor = sub.add_parser("doctor", help="check the set-up (Python, backends, model, "
                            "prompts, FIM, endpoint, memory); exit status 1 if a check fails")
    _add_model_flags(doctor)
    doctor.add_argument("--format", choices=["text", "markdown", "json"], default="text",
                        help="report format (default text)")
    return parser


def setup_logging(verbose: int, log_file: str | None) -> None:
    """Logs go to stderr or a file, never stdout (stdout is the LSP channel)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler: logging.Handler = (logging.FileHandler(log_file, encoding="utf-8") if log_file
                                else logging.StreamHandler(sys.stderr))
    from lsp_server.redact import RedactingFormatter

    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pygls logs every message at INFO; only show that with -vv.
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given explicitly on the command line (None = not given)."""
    overrides: dict[str, Any] = {}
    for flag, key in SETTING_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    api_key = os.environ.get("STARCODER_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if api_key:
        from lsp_server.redact import remember

        remember(api_key)
        overrides["api_key"] = api_key
    return overrides


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.log_file)
    if args.command == "models":
        from lsp_server.commands_cli import list_models

        return list_models(as_json=args.json)
    if args.command == "download":
        from lsp_server.commands_cli import download

        return download(args.name, args.models_dir)
    if args.command == "doctor":
        from lsp_server.commands_cli import doctor

        return doctor(args.format, cli_overrides(args))
    if args.command == "edit":
        from lsp_server.commands_cli import edit_file

        return edit_file(args, cli_overrides(args))
    return serve(args)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: may resolve to anything


class ServeError(Exception):
    """A refusal to start, with the fix in the message."""


def ws_token(args: argparse.Namespace) -> str | None:
    """The WebSocket token (flag, then STARCODER_WS_TOKEN); refuse to serve other machines
    without one: an open port would let anyone drive the model on the user's files."""
    token = args.ws_token or os.environ.get("STARCODER_WS_TOKEN") or None
    if token is not None:
        from lsp_server.redact import remember

        remember(token)
    if token is not None and len(token) < 16:
        raise ServeError("the WebSocket token must be at least 16 characters "
                         "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
    if token is None and not is_loopback(args.host):
        raise ServeError(
            f"refusing to serve WebSocket on {args.host} without a token: anyone who can "
            "reach that address could use the server. Set STARCODER_WS_TOKEN (or "
            "--ws-token) to a secret of 16+ characters, or use --host 127.0.0.1.")
    return token


def serve(args: argparse.Namespace) -> int:
    from lsp_server import transport

    try:
        token = ws_token(args) if args.ws else None
    except ServeError as err:
        print(f"starcoder-lsp: {err}", file=sys.stderr)
        return 2
    if args.tcp and not is_loopback(args.host):
        logging.getLogger(__name__).warning(
            "serving TCP on %s: plain LSP over TCP has no authentication; anyone who can "
            "reach this address can use the server (prefer --ws with a token)", args.host)

    from lsp_server.server import create_server

    server = create_server(cli_overrides=cli_overrides(args))
    if args.tcp:
        return transport.serve_tcp(server, args.host, args.port)
    if args.ws:
        return transport.serve_ws(server, args.host, args.port, token)
    return transport.serve_stdio(server)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
