"""Raw bytes at a spawned `python -m lsp_server --stdio`: broken framing, bodies that are
not JSON, wrong-typed params for every method we serve, unknown methods, huge messages.

After every message a well-formed request must still be answered (the server is alive
and not wedged), and every request that had an id must get an answer (no client left
waiting). Counted: messages fuzzed, crashes (process gone), hangs (no answer in time).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lsp_server.transport import FrameParser, TooLarge
from tests.hardening.harness import FUZZ, RawServer, add_figure, frame, iter_chunks, tiny_gguf

pytestmark = pytest.mark.timeout(600)

URI = "file:///fuzz/example.py"
SOURCE = "import os\n\n# starcoder: add a docstring\ndef add(a, b):\n    return a + b\n"
ANSWER_TIMEOUT = 15  # a fuzzed request may legitimately run the (tiny) model


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    add_figure("jsonrpc.crashes", 0)  # reported even when nothing went wrong
    add_figure("jsonrpc.hangs", 0)
    log = tmp_path_factory.mktemp("fuzz") / "server.log"
    with RawServer("--model", str(tiny_gguf()), "-v", log_file=log) as raw:
        raw.initialize({"maxTokens": 8})
        raw.open(URI, SOURCE)
        yield raw
        assert raw.alive(), "the server died during the fuzz run"
        assert raw.close() == 0


def _check_alive(raw: RawServer, what: str) -> None:
    """Count a crash or a hang, then fail with what caused it."""
    if raw.proc.poll() is not None:
        add_figure("jsonrpc.crashes", 1)
        pytest.fail(f"the server exited after {what}")
    if not raw.alive(timeout=ANSWER_TIMEOUT):
        add_figure("jsonrpc.hangs", 1)
        pytest.fail(f"the server stopped answering after {what}")


def _send_and_check(raw: RawServer, data: bytes, what: str, msg_id: Any = None) -> None:
    raw.send_bytes(data)
    add_figure("jsonrpc.messages_fuzzed", 1)
    if msg_id is not None and raw.wait_response(msg_id, ANSWER_TIMEOUT) is None:
        add_figure("jsonrpc.hangs", 1)
        pytest.fail(f"request {msg_id!r} got no answer: {what}")
    _check_alive(raw, what)


# ---- framing ------------------------------------------------------------------------------

STATUS = {"jsonrpc": "2.0", "id": "framed", "method": "starcoder/getStatus", "params": {}}
BODY = json.dumps(STATUS).encode()

FRAMING_CASES: list[tuple[str, bytes, Any]] = [
    # (name, bytes, id that must be answered or None)
    ("non-numeric length", b"Content-Length: abc\r\n\r\n{}\r\n", None),
    ("negative length", b"Content-Length: -5\r\n\r\n\r\n", None),
    ("length with sign", b"Content-Length: +12\r\n\r\n\r\n", None),
    ("20-digit length", b"Content-Length: 99999999999999999999\r\n\r\n\r\n", None),
    ("lower-case header", b"content-length: %d\r\n\r\n" % len(BODY) + BODY, "framed"),
    ("bare LF line ends", b"Content-Length: %d\n\n" % len(BODY) + BODY, "framed"),
    ("with Content-Type", b"Content-Length: %d\r\nContent-Type: application/"
     b"vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(BODY) + BODY, "framed"),
    ("headers in other order", b"Content-Type: x\r\nContent-Length: %d\r\n\r\n" % len(BODY)
     + BODY, "framed"),
    ("garbage before header", b"hello\x00world Content-Length: %d\r\n\r\n" % len(BODY) + BODY,
     "framed"),
    ("no headers at all", BODY + b"\r\n", None),
    ("garbage line", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
    ("binary noise", bytes(range(256)) * 4 + b"\r\n", None),
    ("a 20 KB header line", b"X" * 20_000 + b"\r\n", None),
    ("length too short", b"Content-Length: 10\r\n\r\n" + BODY + b"\r\n", None),
    ("length too long (padded)", b"Content-Length: %d\r\n\r\n" % (len(BODY) + 7) + BODY
     + b"       ", None),
    ("length zero", b"Content-Length: 0\r\n\r\n", None),
    ("header without blank line, then a message",
     b"Content-Length: 5\r\n" + frame(STATUS), "framed"),
    ("two headers", b"Content-Length: 3\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
     "framed"),
    ("stray blank lines", b"\r\n\r\n\r\n" + frame(STATUS), "framed"),
    ("invalid UTF-8 body", frame(b'{"jsonrpc":"2.0","id":"u8","method":"starcoder/getStatus",'
                                 b'"params":{"x":"\xff\xfe\xc3("}}'), None),
    ("UTF-16 body", frame(json.dumps(STATUS).encode("utf-16")), None),
    ("BOM before JSON", frame(b"\xef\xbb\xbf" + BODY), None),
    ("truncated JSON", frame(BODY[:-5]), None),
    ("not JSON", frame(b"hello, server"), None),
    ("empty object", frame(b"{}"), None),
    ("JSON array (batch)", frame(b"[" + BODY + b"]"), None),
    ("JSON scalar", frame(b"42"), None),
    ("JSON null", frame(b"null"), None),
    ("NaN literal", frame(b'{"jsonrpc":"2.0","id":"nan","method":"textDocument/codeAction",'
                          b'"params":{"textDocument":{"uri":"' + URI.encode() + b'"},'
                          b'"range":{"start":{"line":NaN,"character":0},'
                          b'"end":{"line":0,"character":Infinity}},'
                          b'"context":{"diagnostics":[]}}}'), "nan"),
    ("deep nesting", frame(b"[" * 200_000 + b"]" * 200_000), None),
    ("deep nesting in params", frame(b'{"jsonrpc":"2.0","id":"deep","method":"starcoder/edit",'
                                     b'"params":' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
     None),
    ("wrong jsonrpc version", frame({"jsonrpc": "1.0", "id": "v1",
                                     "method": "starcoder/getStatus"}), "v1"),
    ("no jsonrpc key", frame({"id": "nokey", "method": "starcoder/getStatus"}), "nokey"),
    ("id is an object", frame({"jsonrpc": "2.0", "id": {"a": 1},
                               "method": "starcoder/getStatus"}), None),
    ("id is a list", frame({"jsonrpc": "2.0", "id": [1], "method": "starcoder/getStatus"}),
     None),
    ("id is a bool", frame({"jsonrpc": "2.0", "id": True, "method": "starcoder/getStatus"}),
     None),
    ("id is null", frame({"jsonrpc": "2.0", "id": None, "method": "starcoder/getStatus"}),
     None),
    ("id is a float", frame({"jsonrpc": "2.0", "id": 1.5, "method": "starcoder/getStatus"}),
     1.5),
    ("method is a number", frame({"jsonrpc": "2.0", "id": "mnum", "method": 7}), "mnum"),
    ("params omitted", frame({"jsonrpc": "2.0", "id": "nop", "method": "starcoder/getStatus"}),
     "nop"),
    ("response to nothing", frame({"jsonrpc": "2.0", "id": 424242, "result": {"x": 1}}), None),
    ("error to nothing", frame({"jsonrpc": "2.0", "id": 424243,
                                "error": {"code": 1, "message": "x"}}), None),
    ("malformed error", frame({"jsonrpc": "2.0", "id": 424244, "error": "boom"}), None),
    ("unknown request", frame({"jsonrpc": "2.0", "id": "unk", "method": "foo/bar",
                               "params": {}}), "unk"),
    ("unknown notification", frame({"jsonrpc": "2.0", "method": "foo/bar", "params": [1]}),
     None),
    ("unknown $/ notification", frame({"jsonrpc": "2.0", "method": "$/somethingNew"}), None),
]


@pytest.mark.parametrize("name,data,msg_id", FRAMING_CASES, ids=[c[0] for c in FRAMING_CASES])
def test_broken_framing_and_bodies(server: RawServer, name: str, data: bytes,
                                   msg_id: Any) -> None:
    _send_and_check(server, data + b"\r\n", name, msg_id)


def test_a_request_with_bad_params_gets_an_error_not_silence(server: RawServer) -> None:
    """pygls drops such requests unanswered; we answer -32602 with the method's name."""
    msg_id = server.request("textDocument/codeAction", {"textDocument": 5})
    reply = server.wait_response(msg_id, 10)
    assert reply is not None and reply["error"]["code"] == -32602
    assert "textDocument/codeAction" in reply["error"]["message"]
    msg_id = server.request("starcoder/getStatus")  # params omitted: valid JSON-RPC
    reply = server.wait_response(msg_id, 10)
    assert reply is not None and "result" in reply


def test_unparsable_body_gets_a_parse_error(server: RawServer) -> None:
    server.send_bytes(frame(b"{not json"))
    reply = server.wait_for(lambda m: m.get("error", {}).get("code") == -32700, 10)
    assert reply is not None and reply["id"] is None


def test_huge_messages(server: RawServer) -> None:
    """Several-MB messages are read and handled (a 5 MB document, a 4 MB string param,
    a 3 MB array); none wedges the connection."""
    big_text = ("x = 1  # padding padding padding padding\n" * 125_000)[:5_000_000]
    server.open("file:///fuzz/big.py", big_text)
    _check_alive(server, "a 5 MB didOpen")
    msg_id = server.request("starcoder/getStatus", {"blob": "a" * 4_000_000})
    _send_and_check(server, b"", "a 4 MB string param", msg_id)
    msg_id = server.request("starcoder/explain", list(range(500_000)))
    _send_and_check(server, b"", "a 3 MB array as params", msg_id)
    server.notify("textDocument/didClose", {"textDocument": {"uri": "file:///fuzz/big.py"}})
    add_figure("jsonrpc.messages_fuzzed", 2)


# ---- params of every method, typed wrong --------------------------------------------------

RANGE = {"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 5}}
EDIT_ARGS = {"uri": URI, "range": RANGE, "instruction": "add a docstring"}
TEMPLATES: dict[str, Any] = {
    "initialize": {"processId": 1, "rootUri": None, "capabilities": {
        "general": {"positionEncodings": ["utf-16"]}}, "initializationOptions": {}},
    "initialized": {},
    "textDocument/didOpen": {"textDocument": {"uri": "file:///fuzz/other.py",
                                              "languageId": "python", "version": 1,
                                              "text": SOURCE}},
    "textDocument/didChange": {"textDocument": {"uri": "file:///fuzz/other.py", "version": 2},
                               "contentChanges": [{"range": RANGE, "text": "pass\n"}]},
    "textDocument/didClose": {"textDocument": {"uri": "file:///fuzz/other.py"}},
    "textDocument/codeAction": {"textDocument": {"uri": URI}, "range": RANGE,
                                "context": {"diagnostics": [], "only": ["refactor"]}},
    "textDocument/inlineCompletion": {"textDocument": {"uri": URI},
                                      "position": {"line": 4, "character": 4},
                                      "context": {"triggerKind": 1}},
    "workspace/executeCommand": {"command": "starcoder.edit", "arguments": [EDIT_ARGS]},
    "workspace/didChangeConfiguration": {"settings": {"starcoder": {"maxTokens": 8}}},
    "starcoder/edit": EDIT_ARGS,
    "starcoder/explain": EDIT_ARGS,
    "starcoder/getStatus": {},
    "starcoder/loadModel": {},
    "$/cancelRequest": {"id": "r1"},
    "window/workDoneProgress/cancel": {"token": "t1"},
}
COMMANDS = ["starcoder.edit", "starcoder.generate", "starcoder.explain", "starcoder.cancel",
            "starcoder.unknown"]
# Settings that would load another model or reach the network are left alone here: the
# fuzz is about the server's input handling, not about loading random models.
SAFE_SETTINGS = ["maxTokens", "temperature", "contextTokens", "queueSize",
                 "instructionPrefixes", "speculative", "inlineCompletion", "loadOnStart",
                 "requestTimeout", "unknownSetting"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_params(draw: st.DrawFn, method: str) -> Any:
    """The method's valid params with a few places replaced, removed or added."""
    params = copy.deepcopy(TEMPLATES[method])
    if method == "workspace/executeCommand":
        params["command"] = draw(st.sampled_from(COMMANDS))
    if method == "workspace/didChangeConfiguration":
        params["settings"]["starcoder"] = {draw(st.sampled_from(SAFE_SETTINGS)): draw(json_values)}
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(params)
        path = draw(st.sampled_from(paths))
        if not path:
            params = draw(json_values)
            continue
        parent = params
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, (dict, list)):
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace" or isinstance(parent, list):
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[draw(st.text(max_size=6))] = draw(json_values)
    return params


@FUZZ
@given(data=st.data())
def test_wrong_typed_params_for_every_method(server: RawServer, data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(sorted(TEMPLATES)))
    params = data.draw(mutated_params(method))
    is_request = data.draw(st.booleans())
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    msg_id = None
    if is_request:
        msg_id = message["id"] = data.draw(st.integers(10**6, 10**9) | st.text(min_size=1,
                                                                               max_size=10))
    try:
        body = json.dumps(message).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return
    add_figure("jsonrpc.inputs_tried", 1)
    _send_and_check(server, frame(body), f"{method} {json.dumps(params)[:300]}", msg_id)
    if method in ("workspace/didChangeConfiguration", "initialize"):
        # Put the limits back: a fuzzed maxTokens of 30,000 would make every later
        # generation take seconds (slow, not hung; that is the load tests' subject).
        server.notify("workspace/didChangeConfiguration",
                      {"settings": {"starcoder": {"maxTokens": 8}}})


@FUZZ
@given(method=st.text(max_size=40), params=json_values, msg_id=st.integers(-5, 10**12))
def test_unknown_methods_and_random_params(server: RawServer, method: str, params: Any,
                                           msg_id: int) -> None:
    if method in ("exit", "shutdown"):
        return
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
    add_figure("jsonrpc.inputs_tried", 1)
    _send_and_check(server, frame(json.dumps(message).encode("utf-8", "surrogatepass")),
                    f"method {method!r}", msg_id)


@FUZZ
@given(noise=st.binary(max_size=300))
def test_random_bytes_then_resync(server: RawServer, noise: bytes) -> None:
    """Any bytes, then a line end: the next well-formed message is understood again.
    (Noise that spells a Content-Length header is the framing cases' job: it would
    rightly swallow the probe as its body.)"""
    assume(b"content-length:" not in noise.lower())
    add_figure("jsonrpc.inputs_tried", 1)
    _send_and_check(server, noise + b"\r\n\r\n", f"noise {noise[:60]!r}")


def test_shutdown_then_requests_are_refused_and_exit_ends_the_process(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with RawServer("--model", str(tiny_gguf())) as raw:
        raw.initialize()
        assert "result" in raw.call("shutdown")
        reply = raw.call("starcoder/getStatus", {})
        assert reply["error"]["code"] == -32600 and "shutting down" in reply["error"]["message"]
        raw.notify("exit")
        assert raw.proc.wait(10) == 0
    add_figure("jsonrpc.messages_fuzzed", 3)


def test_a_lying_content_length_neither_allocates_nor_crashes() -> None:
    """`Content-Length: 10^12` made pygls allocate a terabyte (MemoryError, process
    gone); now the server waits for bytes that never come and exits cleanly on EOF."""
    with RawServer("--model", str(tiny_gguf())) as raw:
        raw.initialize()
        raw.send_bytes(b"Content-Length: 1000000000000\r\n\r\n{")
        assert raw.proc.poll() is None
        rss = _rss(raw.proc.pid)
        assert rss < 1 << 30, f"the server grew to {rss:,} bytes"
        assert raw.close() == 0
    add_figure("jsonrpc.messages_fuzzed", 1)


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


# ---- the framing parser alone ---------------------------------------------------------------

messages = st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=3), max_size=6)


@FUZZ
@given(bodies=messages, sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8))
def test_parser_is_independent_of_how_bytes_arrive(bodies: list[Any], sizes: list[int]) -> None:
    encoded = [json.dumps(b).encode() for b in bodies]
    stream = b"".join(frame(b) for b in encoded)
    parser = FrameParser()
    out: list[Any] = []
    for chunk in iter_chunks(stream, sizes):
        out += parser.feed(chunk)
    assert out == encoded
    add_figure("jsonrpc.inputs_tried", 1)


@FUZZ
@given(noise=st.binary(max_size=200).filter(lambda b: b"ength" not in b.lower()),
       body=st.binary(min_size=1, max_size=100))
def test_parser_resynchronises_after_garbage(noise: bytes, body: bytes) -> None:
    parser = FrameParser()
    out = parser.feed(noise + b"\r\n" + frame(body))
    assert out[-1:] == [body]


def test_parser_skips_a_too_large_body_without_holding_it() -> None:
    parser = FrameParser(max_message=1000)
    out = parser.feed(b"Content-Length: 5000\r\n\r\n")
    for _ in range(5):
        out += parser.feed(b"z" * 1000)
        assert len(parser._buf) <= 1000
    out += parser.feed(frame(b"{}"))
    assert out == [TooLarge(5000), b"{}"]
