"""Prompt templates, pinned to the exact strings from the model cards."""

from __future__ import annotations

import pytest

from lsp_server.prompts import (
    BudgetParts,
    PromptTooLongError,
    build_edit_prompt,
    build_explain_prompt,
    build_generate_prompt,
    fim_prompt,
    fit_to_budget,
    resolve_family,
)
from lsp_server.prompts import templates as t
from model.base import ModelInfo

CODE = "def add(a, b):\n    return a + b"

# bigcode/starcoder2-15b-instruct-v0.1, tokenizer_config.json "chat_template".
SC2_CHAT_TEMPLATE = (
    "{{bos_token}}{{'You are an exceptionally intelligent coding assistant that consistently "
    "delivers accurate and reliable responses to user instructions.\\n\\n'}}\n"
    "{%- for message in messages %}\n"
    "    {%- if message['role'] == 'system' %}\n"
    "        {{ raise_exception('System messages are not allowed in this template.') }}\n"
    "    {%- else %}\n"
    "        {%- if message['role'] == 'user' %}\n"
    "{{'### Instruction\\n' + message['content'] + '\\n\\n'}}\n"
    "        {%- else %}\n"
    "{{'### Response\\n' + message['content'] + eos_token + '\\n\\n'}}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{{'### Response\\n'}}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def info(family: str | None = None, **kwargs: object) -> ModelInfo:
    return ModelInfo(name="m", context_length=8192, prompt_family=family, **kwargs)  # type: ignore[arg-type]


SC2 = info("starcoder2-instruct")
GPT = info("gpteacher")
TA = info("tech-assistant")

EDIT_INSTRUCTION_TEXT = (
    "Add type hints.\n\n"
    "Here is the Python code to change:\n"
    "```python\n"
    "def add(a, b):\n"
    "    return a + b\n"
    "```\n\n"
    "Respond with the complete rewritten code in a single ```python block, and nothing else."
)


# ---- families ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (info("gpteacher"), "gpteacher"),
        (info("starcoder2-instruct", chat_template="{{x}}"), "starcoder2-instruct"),
        (info(None, chat_template="{{ messages }}"), "chat-template"),
        (info(None), "tech-assistant"),
        (info("no-such-family"), "tech-assistant"),
        (info("no-such-family", chat_template="{{ messages }}"), "chat-template"),
    ],
)
def test_resolve_family(model: ModelInfo, expected: str) -> None:
    assert resolve_family(model) == expected


def test_starcoder2_instruct_edit_exact() -> None:
    prompt = build_edit_prompt(
        SC2, instruction="  Add type hints.\n", code=CODE, language="Python", fence="python"
    )
    assert prompt.text == (
        "<|endoftext|>You are an exceptionally intelligent coding assistant that consistently "
        "delivers accurate and reliable responses to user instructions.\n\n"
        "### Instruction\n" + EDIT_INSTRUCTION_TEXT + "\n\n### Response\n```python\n"
    )
    assert prompt.response_prefix == "```python\n"
    assert prompt.text.endswith(prompt.response_prefix)
    assert prompt.stop == ("\n```", "### Instruction", "### Response", "<|endoftext|>")
    assert prompt.family == "starcoder2-instruct"
    assert prompt.messages == ({"role": "user", "content": EDIT_INSTRUCTION_TEXT},)


def test_starcoder2_chat_template_renders_the_same_text() -> None:
    """The hard-coded family and the model's own template must agree byte for byte."""
    templated = info(None, chat_template=SC2_CHAT_TEMPLATE, bos_token="<|endoftext|>")
    kwargs = {
        "instruction": "Add type hints.",
        "code": CODE,
        "language": "Python",
        "fence": "python",
    }
    via_template = build_edit_prompt(templated, **kwargs)
    via_family = build_edit_prompt(SC2, **kwargs)
    assert via_template.family == "chat-template"
    assert via_template.text == via_family.text
    assert via_template.stop == ("\n```", "<|endoftext|>")


def test_starcoder2_explain_has_no_fence_prefix() -> None:
    prompt = build_explain_prompt(SC2, code=CODE, language="Python", fence="python")
    assert prompt.response_prefix == ""
    assert prompt.text.endswith(
        "### Instruction\nExplain what the following Python code does, concisely, in Markdown.\n"
        "```python\ndef add(a, b):\n    return a + b\n```\n\n### Response\n"
    )
    assert prompt.stop == ("### Instruction", "### Response", "<|endoftext|>")


def test_explain_with_a_question() -> None:
    prompt = build_explain_prompt(
        SC2, code=CODE, language="Python", fence="python", instruction="Why b?"
    )
    assert prompt.messages[0]["content"] == (
        "Why b?\n\nAnswer concisely, in Markdown. The Python code:\n"
        "```python\ndef add(a, b):\n    return a + b\n```"
    )


def test_gpteacher_edit_puts_code_in_input() -> None:
    prompt = build_edit_prompt(
        GPT, instruction="Add type hints.", code=CODE, language="Python", fence="python"
    )
    assert prompt.text == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nAdd type hints.\n\n"
        "Rewrite the Python code given as input. Respond with the complete rewritten code in a "
        "single ```python block, and nothing else.\n\n"
        "### Input:\ndef add(a, b):\n    return a + b\n\n"
        "### Response:\n```python\n"
    )
    assert prompt.response_prefix == "\n```python\n"
    assert prompt.stop == ("\n```", "### Instruction", "### Input", "### Response", "<|endoftext|>")
    # The chat form is the family-neutral instruction with the code inside.
    assert prompt.messages[0]["content"] == EDIT_INSTRUCTION_TEXT


def test_gpteacher_generate_uses_no_input_variant() -> None:
    prompt = build_generate_prompt(
        GPT, instruction="Write fizzbuzz.", language="Python", fence="python"
    )
    assert prompt.text == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nWrite fizzbuzz.\n\n"
        "Write it in Python. Respond with the code only, in a single ```python block.\n\n"
        "### Response:\n```python\n"
    )


def test_gpteacher_explain() -> None:
    prompt = build_explain_prompt(GPT, code=CODE, language="Python", fence="python")
    assert prompt.text.endswith(
        "### Instruction:\nExplain what the Python code given as input does, concisely, in "
        "Markdown.\n\n### Input:\ndef add(a, b):\n    return a + b\n\n### Response:\n"
    )
    assert prompt.response_prefix == "\n"
    assert "\n```" not in prompt.stop


def test_tech_assistant() -> None:
    prompt = build_generate_prompt(TA, instruction="Write fizzbuzz.", language="Go", fence="go")
    assert prompt.text.startswith(
        "Below are a series of dialogues between various people and an AI technical assistant. "
        "The assistant tries to be helpful, polite, honest, sophisticated, emotionally aware, "
        "and humble-but-knowledgeable."
    )
    assert prompt.text.endswith(
        "-----\n\nHuman: Write fizzbuzz.\n\nWrite it in Go. Respond with the code only, in a "
        "single ```go block.\n\nAssistant: ```go\n"
    )
    assert prompt.text.count("\n\nHuman: ") == 2  # one example exchange, then ours
    assert prompt.stop == ("\n```", "\n\nHuman:", "\n-----", "<|endoftext|>")
    assert len(t.TECH_ASSISTANT_PREAMBLE.split()) < 200  # the compact version


def test_context_section() -> None:
    prompt = build_edit_prompt(
        SC2,
        instruction="Rename x.",
        code="    def f(self):\n        return 1",
        language="Python",
        fence="python",
        context="import os\n\nclass A:",
    )
    assert prompt.messages[0]["content"] == (
        "Rename x.\n\n"
        "Surrounding code for reference:\n```python\nimport os\n\nclass A:\n```\n\n"
        "Here is the Python code to change (it belongs in the surrounding code above):\n"
        "```python\n    def f(self):\n        return 1\n```\n\n"
        "Respond with the complete rewritten code in a single ```python block, and nothing else."
    )
    generated = build_generate_prompt(
        SC2, instruction="Add a method g.", language="Python", fence="python", context="class A:"
    )
    assert "Write it in Python, to fit the surrounding code above." in generated.text


def test_code_is_normalised_and_braces_survive() -> None:
    prompt = build_edit_prompt(
        SC2,
        instruction="Use {braces} literally.",
        code="\r\n\r\nx = {1: 2}\r\ny = 3\r\n\r\n",
        language="Python",
        fence="python",
    )
    assert "Use {braces} literally." in prompt.text
    assert "```python\nx = {1: 2}\ny = 3\n```" in prompt.text
    assert "\r" not in prompt.text


# ---- chat templates ----------------------------------------------------------------------


def test_chatml_template() -> None:
    model = info(None, chat_template=CHATML_TEMPLATE, eos_token="<|im_end|>")
    prompt = build_edit_prompt(
        model, instruction="Add type hints.", code=CODE, language="Python", fence="python"
    )
    assert prompt.text == (
        "<|im_start|>user\n" + EDIT_INSTRUCTION_TEXT + "<|im_end|>\n<|im_start|>assistant\n"
        "```python\n"
    )
    assert prompt.stop == ("\n```", "<|im_end|>")
    explain = build_explain_prompt(model, code=CODE, language="Python", fence="python")
    assert explain.stop == ("<|im_end|>",)
    assert explain.text.endswith("<|im_start|>assistant\n")


def test_template_with_tojson_and_bos() -> None:
    model = info(None, chat_template="{{ bos_token }}{{ messages | tojson }}", bos_token="<s>")
    prompt = build_explain_prompt(model, code="é = 1", language="Python", fence="python")
    assert prompt.family == "chat-template"
    assert prompt.text.startswith('<s>[{"role": "user", "content": "Explain')
    assert "é = 1" in prompt.text  # not escaped to \u00e9


@pytest.mark.parametrize(
    "template",
    [
        "{% for message in messages %}{{ message['content'] }",  # syntax error
        "{{ raise_exception('System messages are not allowed in this template.') }}",
        "{{ messages[0].content.__class__.__mro__ }}",  # sandbox violation
        "<|user|>{{ undefined_helper() }}",  # call of an undefined name
        "just text, the message is dropped",
    ],
)
def test_broken_template_falls_back_to_tech_assistant(template: str) -> None:
    model = info(None, chat_template=template)
    prompt = build_edit_prompt(
        model, instruction="Add type hints.", code=CODE, language="Python", fence="python"
    )
    assert prompt.family == "tech-assistant"
    assert (
        prompt.text
        == build_edit_prompt(
            TA, instruction="Add type hints.", code=CODE, language="Python", fence="python"
        ).text
    )
    assert prompt.stop == ("\n```", "\n\nHuman:", "\n-----", "<|endoftext|>")


# ---- fill in the middle ------------------------------------------------------------------


def test_fim_plain() -> None:
    assert fim_prompt("def f(", "):\n    pass\n") == (
        "<fim_prefix>def f(<fim_suffix>):\n    pass\n<fim_middle>"
    )


def test_fim_repository_form() -> None:
    text = fim_prompt(
        "import util\n\nutil.",
        "\n",
        repo="acme/app",
        path="app/main.py",
        other_files=[("app/util.py", "def helper():\n    pass\n"), ("README.md", "# App\n")],
    )
    assert text == (
        "<repo_name>acme/app"
        "<file_sep>app/util.py\ndef helper():\n    pass\n"
        "<file_sep>README.md\n# App\n"
        "<file_sep><fim_prefix>app/main.py\nimport util\n\nutil.<fim_suffix>\n<fim_middle>"
    )


def test_fim_path_without_repo() -> None:
    expected = "<file_sep><fim_prefix>x.py\na<fim_suffix>b<fim_middle>"
    assert fim_prompt("a", "b", path="x.py") == expected


def test_fim_spm_order() -> None:
    assert fim_prompt("a", "b", order="spm") == "<fim_prefix><fim_suffix>b<fim_middle>a"
    assert fim_prompt("a", "b", path="x.py", order="spm") == (
        "<file_sep><fim_prefix><fim_suffix>b<fim_middle>x.py\na")


def test_fim_stops() -> None:
    assert t.FIM_STOPS == (
        "<|endoftext|>",
        "<file_sep>",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
    )


# ---- budget ------------------------------------------------------------------------------


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def edit_parts(code: str, context: str) -> BudgetParts:
    def render(ctx: str) -> str:
        return build_edit_prompt(
            SC2, instruction="Fix it.", code=code, language="Python", fence="python", context=ctx
        ).text

    return BudgetParts(code=code, context=context, render=render)


CONTEXT = "import os\nimport sys\nimport json\nclass Handler(Base):"


def test_budget_keeps_everything_when_it_fits() -> None:
    parts = edit_parts(CODE, CONTEXT)
    assert fit_to_budget(parts, words, 10_000) == CONTEXT


def test_budget_keeps_the_longest_head_of_context_that_fits() -> None:
    parts = edit_parts(CODE, CONTEXT)
    room = words(parts.render("import os\nimport sys"))
    assert fit_to_budget(parts, words, room) == "import os\nimport sys"
    assert fit_to_budget(parts, words, room + 1) == "import os\nimport sys"
    assert fit_to_budget(parts, words, words(parts.render(""))) == ""


def test_budget_error_when_the_code_alone_does_not_fit() -> None:
    code = "x = 1\n" * 50
    parts = edit_parts(code, CONTEXT)
    with pytest.raises(PromptTooLongError) as caught:
        fit_to_budget(parts, words, 100, context_length=2048)
    assert str(caught.value) == (
        "the selected code is 150 tokens, more than the model's context of 2048 allows; "
        "select less code"
    )
    assert isinstance(caught.value, ValueError)
    with pytest.raises(PromptTooLongError, match="context of 100 allows"):
        fit_to_budget(parts, words, 100)


def test_code_with_fences_of_its_own_is_not_cut_at_the_first_one() -> None:
    """A Markdown document's answer holds inner fences: the closing-fence stop would end it
    at the first of them, so it is left out and the parser finds the outer close."""
    readme = "# Tool\n\n```bash\npip install tool\n```\n"
    prompt = build_edit_prompt(SC2, instruction="add usage", code=readme, language="Markdown",
                               fence="")
    assert "\n```" not in prompt.stop
    assert "### Instruction" in prompt.stop
    plain = build_edit_prompt(SC2, instruction="x", code="x = 1\n", language="Python",
                              fence="python")
    assert plain.stop[0] == "\n```"
