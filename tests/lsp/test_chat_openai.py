"""StarCoder Chat through a real OpenAI-compatible server (llama-cpp-python's, serving the
tiny GGUF), with a recording pass-through in between: each prompt family gets exactly its
prompt for two turns with attached code, on /v1/completions for a known family and as
messages on /v1/chat/completions otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lsp_server.prompts.chat_templates import TECH_ASSISTANT_CHAT_PREAMBLE
from lsp_server.protocol import plain
from tests.fixtures.examples import EDIT_SOURCE
from tests.fixtures.llama_server import LlamaServer
from tests.fixtures.recording_proxy import Recorded, recording_proxy
from tests.lsp_helpers import REPO, running_server

pytestmark = pytest.mark.timeout(180)

URI = (REPO / "chat-e2e" / "geo.py").as_uri()
SELECTION = {"start": {"line": 8, "character": 0}, "end": {"line": 11, "character": 0}}
MESSAGES = [
    {"role": "user", "content": "What does add do?"},
    {"role": "assistant", "content": "It returns `a + b`."},
    {"role": "user", "content": "Add type hints to it."},
]
CONTEXT = ("chat-e2e/geo.py (lines 9-11):\n```python\ndef add(a, b):\n    total = a + b\n"
           "    return total\n```")

SC2_PROMPT = (
    "<|endoftext|>You are an exceptionally intelligent coding assistant that consistently "
    "delivers accurate and reliable responses to user instructions.\n\n"
    "### Instruction\n" + CONTEXT + "\n\nWhat does add do?\n\n"
    "### Response\nIt returns `a + b`.<|endoftext|>\n\n"
    "### Instruction\nAdd type hints to it.\n\n"
    "### Response\n"
)
GPTEACHER_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\nWhat does add do?\n\n"
    "### Input:\n" + CONTEXT + "\n\n"
    "### Response:\nIt returns `a + b`.\n\n"
    "### Instruction:\nAdd type hints to it.\n\n"
    "### Response:\n"
)
TECH_ASSISTANT_PROMPT = (
    TECH_ASSISTANT_CHAT_PREAMBLE
    + "Human: " + CONTEXT + "\n\nWhat does add do?\n\n"
    "Assistant: It returns `a + b`.\n\n"
    "Human: Add type hints to it.\n\n"
    "Assistant:"
)


@pytest.fixture(scope="module")
def proxy(llama_server: LlamaServer) -> Iterator[Recorded]:
    with recording_proxy(llama_server.url) as recorded:
        yield recorded


async def _two_turns(proxy: Recorded, model: str, n_ctx: int) -> dict[str, Any]:
    proxy.requests.clear()
    args = ["--backend", "openai", "--endpoint", f"{proxy.url}/v1", "--n-ctx", str(n_ctx)]
    async with running_server(model, *args, init_options={"maxTokens": 16}) as (client, editor):
        editor.open(URI, EDIT_SOURCE)
        result = plain(await client.protocol.send_request_async("starcoder/chat", {
            "messages": MESSAGES, "context": [{"uri": URI, "range": SELECTION}]}))
    assert result["stats"]["backend"] == "openai"
    assert result["dropped"] == []
    return result


@pytest.mark.parametrize(("model", "family", "prompt", "stops"), [
    ("starcoder2-15b-instruct-v0.1", "starcoder2-instruct", SC2_PROMPT,
     ["### Instruction", "### Response", "<|endoftext|>"]),
    ("starcoder-gpteacher-code-instruct", "gpteacher", GPTEACHER_PROMPT,
     ["### Instruction", "### Input", "### Response", "<|endoftext|>"]),
    ("starcoder2-3b", "tech-assistant", TECH_ASSISTANT_PROMPT,
     ["\n\nHuman:", "\n-----", "<|endoftext|>"]),
])
async def test_a_known_family_gets_its_exact_prompt_on_completions(
        proxy: Recorded, llama_server: LlamaServer, model: str, family: str, prompt: str,
        stops: list[str]) -> None:
    result = await _two_turns(proxy, model, llama_server.n_ctx)
    assert result["family"] == family
    sent = proxy.bodies("/v1/completions")
    assert len(sent) == 1, proxy.requests
    assert sent[0]["prompt"] == prompt
    assert sent[0]["stop"] == stops
    assert sent[0]["model"] == model and sent[0]["stream"] is True
    assert proxy.bodies("/v1/chat/completions") == []


async def test_an_unknown_model_gets_the_messages_on_chat_completions(
        proxy: Recorded, llama_server: LlamaServer) -> None:
    await _two_turns(proxy, "our-team-model", llama_server.n_ctx)
    sent = proxy.bodies("/v1/chat/completions")
    assert len(sent) == 1, proxy.requests
    assert sent[0]["messages"] == [
        {"role": "user", "content": CONTEXT + "\n\nWhat does add do?"},
        {"role": "assistant", "content": "It returns `a + b`."},
        {"role": "user", "content": "Add type hints to it."},
    ]
    assert "stop" not in sent[0]  # the server ends the turn with the model's own template
    assert proxy.bodies("/v1/completions") == []
