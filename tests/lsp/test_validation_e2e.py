"""Validation over stdio with the tiny random model (llama.cpp): the fields of the result
and of the progress reports, the `validate` setting, languages without a runner, and the
commands' refusal to apply code that failed its tests. The model writes gibberish, so its
code never passes: the behaviour around failing code is what is asserted here (passing
code: test_validation_openai.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lsprotocol import types

from tests.fixtures.tiny_model import TinyModel
from tests.lsp.test_validation_openai import raw_progress
from tests.lsp_helpers import running_server

pytestmark = pytest.mark.timeout(240)

SOURCE = 'def double(x):\n    """Twice x.\n\n    >>> double(2)\n    4\n    """\n    return x\n'
URI = "file:///tmp/starcoder-validate-tiny/numbers.py"
WHOLE = {"start": {"line": 0, "character": 0}, "end": {"line": 7, "character": 0}}
INIT = {"maxTokens": 24, "validateCandidates": 2}
KEYS = {"passed", "testsPassed", "testsTotal", "candidates", "isolation", "output"}


async def _request(client: Any, params: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    token = f"t-{uuid.uuid4().hex}"
    client.progress_reports.setdefault(token, [])
    raw = raw_progress(client)
    result = await client.protocol.send_request_async(
        "starcoder/edit", {**params, "workDoneToken": token})
    return result, raw.get(token, [])


async def test_validate_true_adds_the_validation_fields(tiny_model: TinyModel) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        result, reports = await _request(client, {
            "uri": URI, "range": WHOLE, "instruction": "make it double", "validate": True})
        validation = result.validation
        assert set(validation._fields) >= KEYS
        assert validation.passed is False  # random weights never pass `double(2) == 4`
        assert validation.status == "failed"
        assert validation.testsTotal >= 1
        assert validation.candidates == 3  # greedy, one sample, one self-repair
        assert validation.label.startswith("FAILING")
        assert "doctest: double(2)" in validation.output
        assert validation.isolation.limits.wallSeconds == 10.0
        assert editor.texts[URI] == SOURCE
        # The edit of the best candidate is still there, for the user to decide.
        assert result.edit is not None and result.text
        lines = [r.get("message") for r in reports if "validation" in r]
        assert "candidate 1/2" in lines and "self-repair" in lines, lines
        assert any(str(m).startswith("candidate 2/2: ") for m in lines), lines
        assert all(set(r["validation"]) >= KEYS for r in reports if "validation" in r)

        # Without "validate" nothing is tested (the setting is off by default).
        plain, _ = await _request(client, {"uri": URI, "range": WHOLE,
                                           "instruction": "make it double"})
        assert not hasattr(plain, "validation")


async def test_the_validate_setting_and_a_language_without_runner(tiny_model: TinyModel
                                                                  ) -> None:
    init = {**INIT, "validate": True}
    async with running_server(tiny_model.gguf_path, init_options=init) as (client, editor):
        editor.open(URI, SOURCE)
        result, _ = await _request(client, {"uri": URI, "range": WHOLE,
                                            "instruction": "make it double"})
        assert result.validation.status == "failed"
        go_uri = "file:///tmp/starcoder-validate-tiny/main.go"
        editor.open(go_uri, "package main\n\nfunc double(x int) int {\n\treturn x\n}\n", "go")
        result, _ = await _request(client, {
            "uri": go_uri, "range": {"start": {"line": 2, "character": 0},
                                     "end": {"line": 5, "character": 0}},
            "instruction": "make it double"})
        validation = result.validation
        assert validation.status == "no-runner" and validation.passed is False
        assert "no test runner for Go" in validation.output
        assert validation.label.startswith("NOT TESTED")
        # "validate": false in the arguments wins over the setting.
        result, _ = await _request(client, {"uri": URI, "range": WHOLE, "validate": False,
                                            "instruction": "make it double"})
        assert not hasattr(result, "validation")


async def test_a_bad_validate_argument_is_a_clear_error(tiny_model: TinyModel) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        editor.open(URI, SOURCE)
        with pytest.raises(Exception, match="`validate` must be true or false"):
            await client.protocol.send_request_async("starcoder/edit", {
                "uri": URI, "range": WHOLE, "instruction": "x", "validate": "yes"})


async def test_the_command_never_applies_failing_code_unasked(tiny_model: TinyModel) -> None:
    async with running_server(tiny_model.gguf_path, init_options=INIT) as (client, editor):
        asked: list[str] = []

        @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
            asked.append(params.message)
            return None  # the user closed the message without choosing

        editor.open(URI, SOURCE)
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="starcoder.generate", arguments=[{
                "uri": URI, "range": WHOLE, "instruction": "make it double",
                "validate": True}]))
        assert result["applied"] is False and result["reason"] == "tests-failed"
        assert result["validation"]["passed"] is False
        assert asked and "Apply this code anyway?" in asked[0]
        assert editor.applied == [] and editor.texts[URI] == SOURCE
