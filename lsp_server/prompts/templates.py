"""Every prompt string the server sends, as data, in one place.

Models are sensitive to their exact training format, so these strings are copied from
the model cards (and pinned by tests/unit/test_prompts.py); the builders in
`lsp_server.prompts.build` only fill them in. Placeholders use `str.format` syntax, so a
literal brace in a template must be doubled.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- families ---------------------------------------------------------------------------

STARCODER2_INSTRUCT = "starcoder2-instruct"
GPTEACHER = "gpteacher"
TECH_ASSISTANT = "tech-assistant"
CHAT_TEMPLATE = "chat-template"
FAMILIES = (STARCODER2_INSTRUCT, GPTEACHER, TECH_ASSISTANT, CHAT_TEMPLATE)

ENDOFTEXT = "<|endoftext|>"
# The stop that ends a code answer whose fence the response prefix opened.
CLOSING_FENCE_STOP = "\n```"

# bigcode/starcoder2-15b-instruct-v0.1: its tokenizer's chat template renders exactly
# this (BOS is <|endoftext|>); the model card then appends a response prefix.
STARCODER2_INSTRUCT_SYSTEM = (
    "You are an exceptionally intelligent coding assistant that consistently delivers "
    "accurate and reliable responses to user instructions."
)
STARCODER2_INSTRUCT_TEMPLATE = (
    ENDOFTEXT + STARCODER2_INSTRUCT_SYSTEM + "\n\n### Instruction\n{instruction}\n\n### Response\n"
)
# The model card stops on the "###" token. We stop on the section headers instead, so a
# `### comment` in code or a `### Heading` in an explanation does not cut the answer.
STARCODER2_INSTRUCT_STOPS = ("### Instruction", "### Response", ENDOFTEXT)

# GeorgiaTechResearchInstitute/starcoder-gpteacher-code-instruct (Alpaca format).
GPTEACHER_INPUT_TEMPLATE = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
GPTEACHER_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"
)
GPTEACHER_STOPS = ("### Instruction", "### Input", "### Response", ENDOFTEXT)

# Base StarCoder / StarCoder2: a compact version of bigcode's Tech Assistant prompt
# (the original is ~1,000 words and a dozen dialogues; this keeps its opening paragraph
# and one example exchange, which is enough to set the dialogue format at a fraction of
# the prompt tokens). No braces allowed here except placeholders.
TECH_ASSISTANT_PREAMBLE = (
    "Below are a series of dialogues between various people and an AI technical "
    "assistant. The assistant tries to be helpful, polite, honest, sophisticated, "
    "emotionally aware, and humble-but-knowledgeable. The assistant is happy to help with "
    "code questions, and will do its best to understand exactly what is needed. It also "
    "tries to avoid giving false or misleading information, and it caveats when it isn't "
    "entirely sure about the right answer. That said, the assistant is practical and "
    "really does its best, and doesn't let caution get too much in the way of being "
    "useful.\n\n"
    "-----\n\n"
    "Human: Write a function that takes two lists and returns a list that has alternating "
    "elements from each input list.\n\n"
    "Assistant: Sure. Here is a function that does that.\n\n"
    "```python\n"
    "def alternating(list1, list2):\n"
    "    results = []\n"
    "    for i in range(len(list1)):\n"
    "        results.append(list1[i])\n"
    "        results.append(list2[i])\n"
    "    return results\n"
    "```\n\n"
)
TECH_ASSISTANT_TEMPLATE = TECH_ASSISTANT_PREAMBLE + "-----\n\nHuman: {instruction}\n\nAssistant: "
# "\n-----" rather than "-----": a `# -----` separator comment must not end the answer.
TECH_ASSISTANT_STOPS = ("\n\nHuman:", "\n-----", ENDOFTEXT)


@dataclass(frozen=True)
class FamilyFormat:
    """How one family wraps an instruction and where its answer starts."""

    # Response prefix for code answers (opens a fence) and for prose answers.
    code_prefix: str
    text_prefix: str
    stops: tuple[str, ...]


FORMATS: dict[str, FamilyFormat] = {
    STARCODER2_INSTRUCT: FamilyFormat("```{fence}\n", "", STARCODER2_INSTRUCT_STOPS),
    GPTEACHER: FamilyFormat("\n```{fence}\n", "\n", GPTEACHER_STOPS),
    TECH_ASSISTANT: FamilyFormat("```{fence}\n", "", TECH_ASSISTANT_STOPS),
    # Stops of a chat template are the model's EOS token, added by the builder.
    CHAT_TEMPLATE: FamilyFormat("```{fence}\n", "", ()),
}

# ---- instruction wording ---------------------------------------------------------------

# Reference code (imports, enclosing class header) shown before the code itself.
CONTEXT_SECTION = "Surrounding code for reference:\n```{fence}\n{context}\n```\n\n"

EDIT_INSTRUCTION = (
    "{user_instruction}\n\n{context_section}"
    "Here is the {language} code to change{context_note}:\n```{fence}\n{code}\n```\n\n"
    "Respond with the complete rewritten code in a single ```{fence} block, and nothing else."
)
EDIT_CONTEXT_NOTE = " (it belongs in the surrounding code above)"

# gpteacher: the code goes into "### Input", as in its training data.
GPTEACHER_EDIT_INSTRUCTION = (
    "{user_instruction}\n\n{context_section}"
    "Rewrite the {language} code given as input{context_note}. "
    "Respond with the complete rewritten code in a single ```{fence} block, and nothing else."
)

GENERATE_INSTRUCTION = (
    "{user_instruction}\n\n{context_section}"
    "Write it in {language}{context_note}. "
    "Respond with the code only, in a single ```{fence} block."
)
GENERATE_CONTEXT_NOTE = ", to fit the surrounding code above"

EXPLAIN_INSTRUCTION = (
    "Explain what the following {language} code does, concisely, in Markdown.\n"
    "```{fence}\n{code}\n```"
)
# When the user asked something specific about the code.
EXPLAIN_QUESTION_INSTRUCTION = (
    "{user_instruction}\n\nAnswer concisely, in Markdown. The {language} code:\n"
    "```{fence}\n{code}\n```"
)
GPTEACHER_EXPLAIN_INSTRUCTION = (
    "Explain what the {language} code given as input does, concisely, in Markdown."
)
GPTEACHER_EXPLAIN_QUESTION_INSTRUCTION = (
    "{user_instruction}\n\nAnswer concisely, in Markdown, about the {language} code given as input."
)

# A quick fix: the instruction built from a diagnostic another tool reported (compiler,
# linter, type checker), with the line it points at, so the model sees the problem itself.
FIX_DIAGNOSTIC_INSTRUCTION = "Fix this problem{origin}: {message}{where}"
FIX_DIAGNOSTIC_ORIGIN = " reported by {source}"
FIX_DIAGNOSTIC_CODE = " [{code}]"
FIX_DIAGNOSTIC_WHERE = " (on the line `{line}`)"
FIX_DIAGNOSTIC_TITLE = 'fix "{message}"'

# ---- fill-in-the-middle ------------------------------------------------------------------

FIM_PREFIX = "<fim_prefix>"
FIM_SUFFIX = "<fim_suffix>"
FIM_MIDDLE = "<fim_middle>"
REPO_NAME = "<repo_name>"
FILE_SEP = "<file_sep>"
# Prefix-suffix-middle (PSM) and suffix-prefix-middle (SPM); StarCoder2 trained on both.
FIM_TEMPLATE = FIM_PREFIX + "{prefix}" + FIM_SUFFIX + "{suffix}" + FIM_MIDDLE
FIM_SPM_TEMPLATE = FIM_PREFIX + FIM_SUFFIX + "{suffix}" + FIM_MIDDLE + "{prefix}"
# StarCoder2's repository-level form: other files first, the current file last. bigcode's
# training code applies FIM to each `<file_sep>` fragment, so the current file's path is
# part of the FIM prefix: `<file_sep><fim_prefix>path\nPREFIX<fim_suffix>...`.
REPO_HEADER_TEMPLATE = REPO_NAME + "{repo}"
REPO_FILE_TEMPLATE = FILE_SEP + "{path}\n{content}"
REPO_FIM_FILE_TEMPLATE = FILE_SEP + "{fim}"
REPO_FIM_PATH_TEMPLATE = "{path}\n"
FIM_STOPS = (ENDOFTEXT, FILE_SEP, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)
