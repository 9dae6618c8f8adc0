"""The multi-turn chat prompts, as data (filled in by `lsp_server.prompts.chat`).

Each family gets a conversation in the shape it was trained on, with every earlier turn:
StarCoder2-Instruct its own chat template (a `### Instruction` / `### Response` pair per
turn, each response closed by `<|endoftext|>`), starcoder-gpteacher Alpaca sections
with the code as `### Input`, base StarCoder models our tech-assistant dialogue. Pinned
by tests/unit/test_chat_prompts.py. Nothing here goes through `str.format` with user text
as the template: placeholders are filled with `.format(**values)` on these strings only.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsp_server.prompts.templates import (
    ENDOFTEXT,
    GPTEACHER,
    GPTEACHER_STOPS,
    STARCODER2_INSTRUCT,
    STARCODER2_INSTRUCT_STOPS,
    STARCODER2_INSTRUCT_SYSTEM,
    TECH_ASSISTANT,
    TECH_ASSISTANT_STOPS,
)

# ---- context chips ---------------------------------------------------------------------------

# One attached file or selection: its path, then its code fenced (in the first instruction;
# for gpteacher in `### Input`).
CONTEXT_BLOCK = "{path}{where}:\n```{fence}\n{code}\n```"
CONTEXT_LINES = " (lines {first}-{last})"
CONTEXT_LINE = " (line {first})"
CONTEXT_SEPARATOR = "\n\n"
# The first kept user turn with the context above the question.
QUESTION_WITH_CONTEXT = "{context}\n\n{question}"


@dataclass(frozen=True)
class ChatFormat:
    """How one family writes a conversation.

    The prompt is `head` (or `head_with_input` when gpteacher has context), then per
    earlier turn `user` / `assistant`, then the last `user` and `answer`; `answer` is the
    response prefix the model continues. `user_input` holds the context for families that
    keep it apart from the question (Alpaca's `### Input`); empty: the context goes into
    the first instruction itself.
    """

    head: str
    user: str
    assistant: str
    answer: str
    stops: tuple[str, ...]
    head_with_input: str = ""
    user_input: str = ""


# bigcode/starcoder2-15b-instruct-v0.1's chat template, rendered for several turns:
# BOS + system + ("### Instruction\n" + q + "\n\n" | "### Response\n" + a + EOS + "\n\n")*
# + "### Response\n".
STARCODER2_INSTRUCT_CHAT = ChatFormat(
    head=ENDOFTEXT + STARCODER2_INSTRUCT_SYSTEM + "\n\n",
    user="### Instruction\n{content}\n\n",
    assistant="### Response\n{content}" + ENDOFTEXT + "\n\n",
    answer="### Response\n",
    stops=STARCODER2_INSTRUCT_STOPS,
)

# GeorgiaTechResearchInstitute/starcoder-gpteacher-code-instruct: Alpaca. Its training was
# single-turn; earlier turns repeat the sections, the code goes into the first `### Input`.
GPTEACHER_CHAT = ChatFormat(
    head=(
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n"
    ),
    head_with_input=(
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
    ),
    user="### Instruction:\n{content}\n\n",
    user_input="### Input:\n{context}\n\n",
    assistant="### Response:\n{content}\n\n",
    answer="### Response:\n",
    stops=GPTEACHER_STOPS,
)

# Base StarCoder / StarCoder2: our own dialogue prompt in the style of bigcode's Tech
# Assistant prompt (a preamble, example dialogues separated by "-----", turns as "Human:"
# and "Assistant:"). The example shows a file given as context and a follow-up question,
# so the model sees both before the real conversation starts.
TECH_ASSISTANT_CHAT_PREAMBLE = (
    "Below is a conversation between a programmer and StarCoder, an AI assistant that "
    "knows code in many languages. The programmer may show code from their project, each "
    "file introduced by its path. StarCoder answers the question asked about that code, "
    "accurately and to the point, in Markdown, with code in fenced blocks. It says so "
    "when it is not sure, and it never makes up what the code does.\n\n"
    "-----\n\n"
    "Human: utils/text.py (lines 1-2):\n"
    "```python\n"
    "def slug(title):\n"
    "    return title.lower().replace(' ', '-')\n"
    "```\n\n"
    "What does this return for \"Hello World\"?\n\n"
    "Assistant: It returns `\"hello-world\"`: the title is lowercased, then each space "
    "becomes a hyphen.\n\n"
    "Human: How do I also drop punctuation?\n\n"
    "Assistant: Keep only letters, digits and hyphens after the replacement:\n\n"
    "```python\n"
    "import re\n\n"
    "def slug(title):\n"
    "    text = title.lower().replace(' ', '-')\n"
    "    return re.sub(r'[^a-z0-9-]', '', text)\n"
    "```\n\n"
    "-----\n\n"
)
TECH_ASSISTANT_CHAT = ChatFormat(
    head=TECH_ASSISTANT_CHAT_PREAMBLE,
    user="Human: {content}\n\n",
    assistant="Assistant: {content}\n\n",
    answer="Assistant:",
    stops=TECH_ASSISTANT_STOPS,
)

CHAT_FORMATS: dict[str, ChatFormat] = {
    STARCODER2_INSTRUCT: STARCODER2_INSTRUCT_CHAT,
    GPTEACHER: GPTEACHER_CHAT,
    TECH_ASSISTANT: TECH_ASSISTANT_CHAT,
}
