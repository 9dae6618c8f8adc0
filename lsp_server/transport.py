"""stdio, TCP and WebSocket transports with hardened JSON-RPC framing.

Why not pygls' own `start_io` / `start_tcp` / `start_ws`:

* its reader allocates the claimed Content-Length up front, so one bogus header
  (`Content-Length: 1000000000000`) kills the process with MemoryError;
* it reads stdin on the shared worker pool, so a burst of queued generations can delay
  reading `$/cancelRequest`, and its non-daemon reader thread can keep the process alive
  after `exit`;
* a body that is not JSON gets no answer (the client waits forever for its request);
* its WebSocket server accepts 1 MiB messages at most (a large didOpen drops the
  connection) and cannot check a token on connect.

Framing is a sans-IO parser (`FrameParser`) fed with whatever bytes arrive, so every
transport shares it and it can be fuzzed directly. Messages are handed to the pygls
protocol unchanged; `StarcoderProtocol` answers malformed requests with JSON-RPC errors.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from lsp_server.server import StarcoderProtocol, StarcoderServer

log = logging.getLogger(__name__)

# Largest message accepted. A 20M-character document (documents.MAX_DOCUMENT_CHARS) as
# JSON fits; anything larger is skipped without being held in memory.
MAX_MESSAGE_BYTES = 256 * 2**20
# A header line longer than this is garbage (real headers are ~40 bytes).
MAX_HEADER_LINE = 8192
READ_CHUNK = 2**16
CONTENT_LENGTH = b"content-length:"


@dataclass(frozen=True)
class TooLarge:
    """A message whose Content-Length exceeded MAX_MESSAGE_BYTES; its body was skipped."""

    size: int


Frame = bytes | TooLarge


class FrameParser:
    """Splits a byte stream into LSP message bodies (`Content-Length` framing).

    Tolerant where it costs nothing (header case, `\\n` line ends, garbage before a
    header) so a confused client resynchronises on its next message; never buffers more
    than the bytes that actually arrived, and at most MAX_MESSAGE_BYTES of one body.
    """

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES,
                 max_header_line: int = MAX_HEADER_LINE) -> None:
        self.max_message = max_message
        self.max_header_line = max_header_line
        self._buf = bytearray()
        self._length: int | None = None  # from the last Content-Length header
        self._need = -1  # body bytes expected; -1: reading headers
        self._skip = 0  # bytes of a too-large body still to discard
        self._skipped = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return the complete frames they finish (possibly none)."""
        self._buf += data
        frames: list[Frame] = []
        buf = self._buf
        while True:
            if self._skip:
                n = min(self._skip, len(buf))
                del buf[:n]
                self._skip -= n
                if self._skip:
                    break
                frames.append(TooLarge(self._skipped))
                continue
            if self._need >= 0:
                if len(buf) < self._need:
                    break
                frames.append(bytes(buf[: self._need]))
                del buf[: self._need]
                self._need = -1
                continue
            newline = buf.find(b"\n")
            if newline < 0:
                if len(buf) > self.max_header_line:
                    # No header is this long: drop the garbage but keep a tail in case a
                    # "Content-Length:" straddles this chunk and the next.
                    del buf[: len(buf) - len(CONTENT_LENGTH) - 24]
                break
            line = bytes(buf[: newline + 1])
            del buf[: newline + 1]
            self._header_line(line)
        return frames

    def _header_line(self, line: bytes) -> None:
        if not line.strip():  # end of headers
            if self._length is None:
                return  # a stray blank line
            length, self._length = self._length, None
            if length > self.max_message:
                self._skip = self._skipped = length
            else:
                self._need = length
            return
        at = line.lower().rfind(CONTENT_LENGTH)
        if at < 0:
            return  # Content-Type or garbage: ignored
        value = line[at + len(CONTENT_LENGTH):].strip()
        if value.isdigit() and len(value) <= 18:
            self._length = int(value)
        else:
            log.warning("ignoring a bad Content-Length header: %r", line[:80])
            self._length = None


# ---- dispatch ---------------------------------------------------------------------------


def dispatch(server: StarcoderServer, frame: Frame | str) -> None:
    """Parse one message and hand it to the protocol; answer what cannot be parsed."""
    from pygls.exceptions import JsonRpcParseError

    protocol = cast("StarcoderProtocol", server.protocol)
    if isinstance(frame, TooLarge):
        log.error("ignored a %d-byte message (limit %d bytes)", frame.size, MAX_MESSAGE_BYTES)
        server.report_bad_message(
            f"ignored a message of {frame.size:,} bytes (the limit is "
            f"{MAX_MESSAGE_BYTES:,}); if it was a request, it will get no answer")
        return
    try:
        message = json.loads(frame, object_hook=protocol.structure_message)
    except Exception as err:  # not JSON, not UTF-8, or nested too deeply
        # Only its size: the body may hold secrets (an apiKey in initializationOptions).
        log.warning("unparsable %d-byte message: %s", len(frame), str(err)[:200])
        protocol.send_error(None, JsonRpcParseError(f"Parse error: {str(err)[:200]}"))
        server.report_bad_message(f"ignored a message that is not JSON ({err})")
        return
    try:
        protocol.handle_message(message)
    except Exception:  # handlers report their own errors; this is a last resort
        log.exception("failed to handle a message")


# ---- stdio ------------------------------------------------------------------------------


def serve_stdio(server: StarcoderServer, stdin: BinaryIO | None = None,
                stdout: BinaryIO | None = None) -> int:
    """Serve one client over stdin/stdout until it closes stdin or sends `exit`."""
    import sys

    from pygls.io_ import StdoutWriter

    reader_stream = stdin or sys.stdin.buffer
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        threading.Thread(target=_pump, args=(reader_stream, loop, queue),
                         name="lsp-stdin", daemon=True).start()
        parser = FrameParser()
        while True:
            chunk = await queue.get()
            if not chunk:
                log.info("the client closed stdin")
                return
            for frame in parser.feed(chunk):
                dispatch(server, frame)

    return _run(server, main)


def _pump(stream: BinaryIO, loop: asyncio.AbstractEventLoop,
          queue: asyncio.Queue[bytes]) -> None:
    """Reader thread (daemon: never keeps the process alive). b"" marks the end.

    Reads the raw file descriptor when there is one: a daemon thread blocked inside a
    BufferedReader holds its lock, and interpreter shutdown then aborts the process."""
    import os

    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        fd = -1
    read: Callable[[int], bytes] = (
        (lambda n: os.read(fd, n)) if fd >= 0 else getattr(stream, "read1", stream.read))
    while True:
        try:
            chunk = read(READ_CHUNK)
        except (OSError, ValueError):
            chunk = b""
        try:
            # Blocks while the queue is full: back-pressure on a client that floods us.
            asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()
        except Exception:  # the loop is gone
            return
        if not chunk:
            return


def _run(server: StarcoderServer, main: Callable[[], Any]) -> int:
    """Run the transport's loop; afterwards stop every job so the process can exit."""
    code = 0
    try:
        asyncio.run(main())
    except BrokenPipeError:
        log.error("the connection to the client is lost; shutting down")
    except KeyboardInterrupt:
        pass
    except SystemExit as done:  # the `exit` notification
        code = done.code if isinstance(done.code, int) else 0
    finally:
        stop_server(server)
    return code


def stop_server(server: StarcoderServer) -> None:
    """Cancel running generations, drop queued work, release the model."""
    server.cancel_all()
    pool = server._thread_pool
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    server.shutdown()  # waits for the workers, which stop at their next token
    server.models.close()


# ---- TCP --------------------------------------------------------------------------------


def serve_tcp(server: StarcoderServer, host: str, port: int) -> int:
    """Serve the first client that connects; the process ends when it disconnects."""

    async def main() -> None:
        done = asyncio.Event()
        listener: asyncio.Server | None = None

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if done.is_set() or server.connected:
                writer.close()  # one editor per server process
                return
            server.connected = True
            if listener is not None:
                listener.close()  # stop accepting: nobody else may take over the session
            server.protocol.set_writer(writer)  # type: ignore[arg-type]  # write() is sync
            parser = FrameParser()
            try:
                while chunk := await reader.read(READ_CHUNK):
                    for frame in parser.feed(chunk):
                        dispatch(server, frame)
            except (ConnectionError, OSError) as err:
                log.info("TCP connection lost: %s", err)
            finally:
                done.set()

        listener = await asyncio.start_server(connection, host, port)
        log.info("serving on %s", ", ".join(str(s.getsockname()) for s in listener.sockets))
        await done.wait()

    return _run(server, main)


# ---- WebSocket ----------------------------------------------------------------------------


def token_from_request(path: str, headers: Any) -> str | None:
    """The client's token: `?token=` in the URL or an `Authorization: Bearer` header."""
    auth = headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return str(value.strip())
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison (no timing oracle on the token)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def serve_ws(server: StarcoderServer, host: str, port: int, token: str | None = None) -> int:
    """Serve one WebSocket client; with `token`, the handshake must carry it."""
    from pygls.io_ import WebSocketWriter
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed
    from websockets.http11 import Request, Response

    def check(connection: ServerConnection, request: Request) -> Response | None:
        if token is not None and not token_matches(
                token_from_request(request.path, request.headers), token):
            log.warning("refused a WebSocket client without the right token from %s",
                        connection.remote_address)
            return connection.respond(
                HTTPStatus.UNAUTHORIZED,
                "starcoder-lsp: a valid token is required (?token=... or "
                "Authorization: Bearer ...)\n")
        if server.connected:
            return connection.respond(HTTPStatus.CONFLICT, "another client is connected\n")
        return None

    async def main() -> None:
        done = asyncio.Event()

        async def connection(websocket: ServerConnection) -> None:
            if server.connected:
                await websocket.close()
                return
            server.connected = True
            server.protocol.set_writer(WebSocketWriter(websocket), include_headers=False)
            try:
                async for message in websocket:
                    dispatch(server, message if isinstance(message, bytes)
                             else message.encode("utf-8", "surrogatepass"))
            except ConnectionClosed:
                pass
            finally:
                done.set()

        async with serve(connection, host, port, process_request=check,
                         max_size=MAX_MESSAGE_BYTES) as listener:
            log.info("serving on %s",
                     ", ".join(str(s.getsockname()) for s in listener.sockets))
            await done.wait()

    return _run(server, main)
