"""Validation end to end through a real OpenAI-compatible server with known answers (the
canned server, tests/fixtures/canned_openai_server.py), a real LSP client and the real
sandbox: the greedy answer fails its doctest, a sampled one passes, and the passing one
is what the server proposes, every run. Hostile answers (a loop, a fork bomb, 10 GB,
100 MB of output) are contained, reported, and the server keeps serving.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.fixtures.canned_openai_server import (
    DEMO_SCRIPT,
    DEMO_SOURCE,
    CannedServer,
    demo_answer,
    run_canned_server,
)
from tests.lsp_helpers import progress_messages, running_server

pytestmark = [pytest.mark.timeout(240)]

URI = "file:///tmp/starcoder-validate/calc.py"
WHOLE = {"start": {"line": 0, "character": 0}, "end": {"line": 6, "character": 0}}


def _server(canned: CannedServer, **init: Any) -> Any:
    return running_server(canned.model, "--backend", "openai", "--endpoint",
                          f"{canned.url}/v1", init_options={"maxTokens": 256, **init})


def raw_progress(client: Any) -> dict[Any, list[dict[str, Any]]]:
    """The `$/progress` values as sent (the client's own list keeps only the fields of
    lsprotocol's report type, not `validation`)."""
    raw: dict[Any, list[dict[str, Any]]] = {}
    features = client.protocol.fm._features
    original = features[types.PROGRESS]

    def record(params: Any) -> Any:
        raw.setdefault(params.token, []).append(params.value)
        return original(params)

    features[types.PROGRESS] = record
    return raw


async def _edit(client: Any, **extra: Any) -> Any:
    token = f"v-{uuid.uuid4().hex}"
    client.progress_reports.setdefault(token, [])
    raw = raw_progress(client)
    result = await client.protocol.send_request_async("starcoder/edit", {
        "uri": URI, "range": WHOLE, "instruction": "implement add", "validate": True,
        "workDoneToken": token, **extra})
    assert progress_messages(client, token)
    return result, raw.get(token, [])


async def test_the_sampled_candidate_that_passes_is_proposed_every_run(tmp_path: Path) -> None:
    with run_canned_server(DEMO_SCRIPT, tmp_path) as canned:
        async with _server(canned) as (client, editor):
            editor.open(URI, DEMO_SOURCE)
            for _run in range(3):
                result, reports = await _edit(client)
                validation = result.validation
                assert validation.passed is True, validation.output
                assert validation.status == "passed"
                assert (validation.testsPassed, validation.testsTotal) == (4, 4)
                assert validation.candidates == 3  # greedy, sample 1 (fails), sample 2
                assert validation.chosen == "sample 3"
                assert validation.label == ("4/4 tests pass: 1 doctest from your docstring, "
                                            "3 tests written by the model")
                assert "return a + b" in result.text and "a - b" not in result.text
                assert validation.isolation.network.startswith(("none", "partly", "NOT"))
                assert "PASS doctest: add(2, 3)" in validation.output
                assert editor.texts[URI] == DEMO_SOURCE  # starcoder/edit never applies
                # Progress: the same fields while it ran, with "candidate i/5: x/4" lines.
                messages = [r.get("message") for r in reports]
                assert "candidate 1/5: 0/4 tests pass" in messages, messages
                assert "candidate 3/5: 4/4 tests pass" in messages, messages
                fields = [r["validation"] for r in reports if "validation" in r]
                keys = {"passed", "testsPassed", "testsTotal", "candidates", "isolation",
                        "output"}
                assert fields and all(keys <= set(f) for f in fields)
                last = next(f for f in reversed(fields) if f["candidates"] == 3)
                assert (last["testsPassed"], last["testsTotal"]) == (4, 4)
            # The prompt was evaluated by the server for the greedy answer and the tests,
            # then sampled with seeds 1 and 2 (temperature 0.7), never more.
            sampled = [r for r in canned.requests() if r["temperature"] > 0]
            assert {r["seed"] for r in sampled} == {1, 2}
            assert all(r["temperature"] == 0.7 for r in sampled)


async def test_when_nothing_passes_the_best_is_marked_failing_and_not_applied(
        tmp_path: Path) -> None:
    script = {"rules": [
        {"contains": "Write 4 short", "answers": ["assert add(1, 1) == 2\n```"]},
        {"contains": "fails its tests", "answers": [demo_answer("return a - b - 0")]},
        {"contains": "Here is the Python code", "answers": [demo_answer("return a - b")]},
    ]}
    with run_canned_server(script, tmp_path) as canned:
        async with _server(canned, validateCandidates=2) as (client, editor):
            asked: list[str] = []
            answer = {"title": "Discard"}

            @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
            def ask(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
                asked.append(params.message)
                return types.MessageActionItem(title=answer["title"])

            editor.open(URI, DEMO_SOURCE)
            result, _ = await _edit(client)
            validation = result.validation
            assert validation.passed is False and validation.status == "failed"
            assert validation.label.startswith("FAILING: 0/2 tests pass")
            assert validation.candidates == 3  # greedy, one sample, one self-repair
            assert "FAIL doctest: add(2, 3)" in validation.output
            assert "Expected:\n        5\n    Got:\n        -1" in validation.output
            # The command asks before applying failing code: Discard keeps the file.
            command = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="starcoder.edit", arguments=[{
                        "uri": URI, "range": WHOLE, "instruction": "implement add",
                        "validate": True}]))
            assert command["applied"] is False and command["reason"] == "tests-failed"
            assert asked and "FAILING" in asked[0]
            assert editor.texts[URI] == DEMO_SOURCE and editor.applied == []
            answer["title"] = "Apply anyway"
            command = await client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="starcoder.edit", arguments=[{
                        "uri": URI, "range": WHOLE, "instruction": "implement add",
                        "validate": True}]))
            assert command["applied"] is True
            assert "return a - b" in editor.texts[URI]


HOSTILE = {
    "loops forever": "import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                     "    while True:\n        pass",
    "forks repeatedly": "import os\n    while True:\n        try:\n            os.fork()\n"
                        "        except OSError:\n            pass",
    "allocates 10 GB": "data = bytearray(10 * 2**30)\n    return a + b",
    "writes 100 MB to stdout": "import sys\n    for _ in range(100):\n"
                               "        sys.__stdout__.write('x' * 2**20)\n    return a + b",
}


@pytest.mark.parametrize("behaviour", list(HOSTILE))
async def test_a_hostile_candidate_is_contained_and_the_server_keeps_serving(
        behaviour: str, tmp_path: Path) -> None:
    script = {"rules": [
        {"contains": "Write 4 short", "answers": ["assert add(1, 1) == 2\n```"]},
        {"contains": "Here is the Python code", "answers": [demo_answer(HOSTILE[behaviour])]},
        {"contains": "fails its tests", "answers": [demo_answer(HOSTILE[behaviour])]},
    ]}
    with run_canned_server(script, tmp_path) as canned:
        async with _server(canned, validateCandidates=1) as (client, editor):
            editor.open(URI, DEMO_SOURCE)
            result, _ = await _edit(client)
            validation = result.validation
            assert validation.passed is False
            assert validation.label.startswith("FAILING")
            output = validation.output
            assert any(word in output for word in (
                "stopped after", "time limit", "MemoryError", "more output than the cap",
                "Resource temporarily unavailable")), output
            assert len(output) < 20_000
            # Still serving: a status request and a second edit both answer.
            status = await client.protocol.send_request_async("starcoder/getStatus", {})
            assert status.state in ("ready", "idle")
            again, _ = await _edit(client)
            assert again.validation.status == "failed"
