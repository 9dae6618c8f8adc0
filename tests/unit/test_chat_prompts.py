"""Chat prompts per family, pinned to exact strings: two turns with attached code."""

from __future__ import annotations

import pytest

from lsp_server.prompts import chat_templates as ct
from lsp_server.prompts.chat import (
    ChatTurn,
    ContextBlock,
    build_chat_prompt,
    chat_messages,
    context_text,
)
from model.base import ModelInfo
from tests.unit.test_prompts import CHATML_TEMPLATE, SC2_CHAT_TEMPLATE

TURNS = (
    ChatTurn("user", "What does area do?"),
    ChatTurn("assistant", "It returns the area of a circle: `{pi} r²`."),
    ChatTurn("user", "And how would I test it?"),
)
CODE = "def area(r):\n    return math.pi * r * r"
CONTEXT = (ContextBlock("geo/shapes.py", "python", CODE, 4, 5),)
CONTEXT_TEXT = "geo/shapes.py (lines 4-5):\n```python\n" + CODE + "\n```"


def info(family: str | None = None, **kwargs: object) -> ModelInfo:
    return ModelInfo(name="m", context_length=8192, prompt_family=family, **kwargs)  # type: ignore[arg-type]


def test_context_is_fenced_code_under_its_path() -> None:
    assert context_text(CONTEXT) == CONTEXT_TEXT
    whole = ContextBlock("main.go", "go", "package main\r\n", 0, 0)
    one = ContextBlock("a.py", "python", "x = 1", 7, 7)
    assert context_text([whole, one]) == (
        "main.go:\n```go\npackage main\n```\n\na.py (line 7):\n```python\nx = 1\n```")


def test_starcoder2_instruct_two_turns_exactly_as_its_chat_template() -> None:
    prompt = build_chat_prompt(info("starcoder2-instruct"), TURNS, CONTEXT)
    assert prompt.text == (
        "<|endoftext|>You are an exceptionally intelligent coding assistant that consistently "
        "delivers accurate and reliable responses to user instructions.\n\n"
        "### Instruction\n" + CONTEXT_TEXT + "\n\nWhat does area do?\n\n"
        "### Response\nIt returns the area of a circle: `{pi} r²`.<|endoftext|>\n\n"
        "### Instruction\nAnd how would I test it?\n\n"
        "### Response\n"
    )
    assert prompt.family == "starcoder2-instruct"
    assert prompt.response_prefix == ""
    assert prompt.stop == ("### Instruction", "### Response", "<|endoftext|>")
    # The model's own template (tokenizer_config.json) renders the same conversation
    # identically: our prompt is what it was trained on.
    own = info(None, chat_template=SC2_CHAT_TEMPLATE, bos_token="<|endoftext|>")
    rendered = build_chat_prompt(own, TURNS, CONTEXT)
    assert rendered.family == "chat-template"
    assert rendered.text == prompt.text


def test_gpteacher_two_turns_alpaca_with_the_code_as_input() -> None:
    prompt = build_chat_prompt(info("gpteacher"), TURNS, CONTEXT)
    assert prompt.text == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nWhat does area do?\n\n"
        "### Input:\n" + CONTEXT_TEXT + "\n\n"
        "### Response:\nIt returns the area of a circle: `{pi} r²`.\n\n"
        "### Instruction:\nAnd how would I test it?\n\n"
        "### Response:\n"
    )
    assert "### Input" in prompt.stop
    no_context = build_chat_prompt(info("gpteacher"), TURNS[-1:])
    assert no_context.text == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nAnd how would I test it?\n\n### Response:\n")


def test_base_models_get_the_tech_assistant_dialogue() -> None:
    prompt = build_chat_prompt(info("tech-assistant"), TURNS, CONTEXT)
    assert prompt.text == (
        ct.TECH_ASSISTANT_CHAT_PREAMBLE
        + "Human: " + CONTEXT_TEXT + "\n\nWhat does area do?\n\n"
        "Assistant: It returns the area of a circle: `{pi} r²`.\n\n"
        "Human: And how would I test it?\n\n"
        "Assistant:"
    )
    assert prompt.stop == ("\n\nHuman:", "\n-----", "<|endoftext|>")
    # Its example dialogue shows the format it is about to read: a path, fenced code, a
    # question and a follow-up.
    assert ct.TECH_ASSISTANT_CHAT_PREAMBLE.endswith("```\n\n-----\n\n")
    assert ct.TECH_ASSISTANT_CHAT_PREAMBLE.count("Human:") == 2


def test_other_ggufs_get_their_own_template_with_every_turn() -> None:
    prompt = build_chat_prompt(info(None, chat_template=CHATML_TEMPLATE, eos_token="<|im_end|>"),
                               TURNS, CONTEXT)
    assert prompt.family == "chat-template"
    assert prompt.text == (
        "<|im_start|>user\n" + CONTEXT_TEXT + "\n\nWhat does area do?<|im_end|>\n"
        "<|im_start|>assistant\nIt returns the area of a circle: `{pi} r²`.<|im_end|>\n"
        "<|im_start|>user\nAnd how would I test it?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert prompt.stop == ("<|im_end|>",)


def test_a_broken_template_falls_back_to_the_dialogue_prompt() -> None:
    prompt = build_chat_prompt(info(None, chat_template="{% if %}"), TURNS)
    assert prompt.family == "tech-assistant"
    assert prompt.text.endswith("Human: And how would I test it?\n\nAssistant:")


def test_chat_messages_carry_the_context_in_the_first_question() -> None:
    messages = chat_messages(TURNS, CONTEXT)
    assert messages == (
        {"role": "user", "content": CONTEXT_TEXT + "\n\nWhat does area do?"},
        {"role": "assistant", "content": TURNS[1].content},
        {"role": "user", "content": TURNS[2].content},
    )
    # The prompt carries the same messages (what an OpenAI chat endpoint is sent).
    assert build_chat_prompt(info(), TURNS, CONTEXT).messages == messages
    # Context goes to the first *user* turn even when the history starts with an answer.
    assert chat_messages(TURNS[1:], CONTEXT)[1]["content"].startswith(CONTEXT_TEXT)


def test_the_last_turn_must_be_the_question() -> None:
    with pytest.raises(ValueError, match="last turn"):
        build_chat_prompt(info("starcoder2-instruct"), TURNS[:2])
    with pytest.raises(ValueError):
        build_chat_prompt(info("starcoder2-instruct"), ())
