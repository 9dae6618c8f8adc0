"""Coverage-guided fuzzing of the code that parses untrusted bytes, with atheris.

Optional (atheris is not a test dependency; hypothesis does the CI fuzzing):

    pip install atheris
    .venv/bin/python tests/hardening/atheris_fuzz.py -atheris_runs=300000

Targets: LSP framing plus JSON-RPC message structuring (`FrameParser`,
`StarcoderProtocol.structure_message`), edit arguments (`EditArgs.parse`), incremental
document changes (`Document.apply_change`) and GGUF headers (`read_gguf_header`). Each
may only fail with its documented error type; anything else is a crash and atheris
stops with the input that caused it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    from lsp_server.documents import DocumentStore
    from lsp_server.protocol import EditArgs, ParamsError
    from lsp_server.server import create_server
    from lsp_server.transport import FrameParser
    from model.errors import ModelError
    from model.llamacpp_backend import read_gguf_header

PROTOCOL = create_server().protocol
GGUF = Path(tempfile.mkdtemp()) / "fuzz.gguf"


def framing(fdp: atheris.FuzzedDataProvider) -> None:
    parser = FrameParser(max_message=4096)
    while fdp.remaining_bytes():
        for frame in parser.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))):
            if isinstance(frame, bytes):
                # Not JSON is fine (dispatch answers a parse error); anything else is not.
                with contextlib.suppress(ValueError, RecursionError):
                    json.loads(frame, object_hook=PROTOCOL.structure_message)


def edit_args(fdp: atheris.FuzzedDataProvider) -> None:
    try:
        raw = json.loads(fdp.ConsumeUnicode(fdp.remaining_bytes()))
    except (ValueError, RecursionError):
        return
    with contextlib.suppress(ParamsError):
        EditArgs.parse(raw)


def documents(fdp: atheris.FuzzedDataProvider) -> None:
    doc = DocumentStore().open("file:///f.py", "python", 1, fdp.ConsumeUnicode(64))
    version = 1
    while fdp.remaining_bytes() > 8:
        version += 1
        rng = ((fdp.ConsumeIntInRange(-3, 40), fdp.ConsumeIntInRange(-3, 200)),
               (fdp.ConsumeIntInRange(-3, 40), fdp.ConsumeIntInRange(-3, 200)))
        encoding = ["utf-16", "utf-8", "utf-32"][fdp.ConsumeIntInRange(0, 2)]
        doc.apply_change(version, rng if fdp.ConsumeBool() else None,
                         fdp.ConsumeUnicode(16), encoding)
        assert doc.line_starts[-1] <= len(doc.text)
    doc.tree  # noqa: B018 - parsing must not raise either


def gguf(fdp: atheris.FuzzedDataProvider) -> None:
    GGUF.write_bytes(b"GGUF" + fdp.ConsumeBytes(fdp.remaining_bytes()))
    with contextlib.suppress(ModelError):
        read_gguf_header(GGUF)


TARGETS = [framing, edit_args, documents, gguf]


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)](fdp)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.disable(logging.CRITICAL)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
