"""Chat params, attached code and the budget: what fits the window, and what is said
about what did not."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from lsp_server.chat.budget import ChatTooLongError, fit_chat
from lsp_server.chat.context import display_path, resolve_chips
from lsp_server.chat.params import parse_chat, parse_context_request
from lsp_server.documents import DocumentStore
from lsp_server.prompts.chat import ChatTurn, ContextBlock, build_chat_prompt
from lsp_server.protocol import ParamsError
from model.base import ModelInfo

INFO = ModelInfo(name="m", context_length=4096, prompt_family="starcoder2-instruct")
URI = "file:///work/project/src/big.py"
BIG = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(300))


def count(text: str) -> int:
    """A stand-in tokenizer: one token per word (deterministic, easy to reason about)."""
    return len(text.split())


def cost(turns: Sequence[ChatTurn], blocks: Sequence[ContextBlock]) -> int:
    return count(build_chat_prompt(INFO, turns, blocks).text)


def store(text: str = BIG) -> DocumentStore:
    documents = DocumentStore()
    documents.open(URI, "python", 1, text)
    return documents


def chat(*contents: str) -> tuple[ChatTurn, ...]:
    return tuple(ChatTurn("user" if i % 2 == 0 else "assistant", c)
                 for i, c in enumerate(contents))


def refs(*items: dict) -> tuple:
    return parse_context_request({"context": list(items)})


SELECTION = {"uri": URI, "range": {"start": {"line": 450, "character": 0},
                                   "end": {"line": 452, "character": 0}}}


# ---- params ---------------------------------------------------------------------------------


def test_params_parse_messages_and_context() -> None:
    args = parse_chat({"messages": [{"role": "user", "content": "hi"}],
                       "context": [{"uri": URI}, SELECTION]})
    assert args.turns == (ChatTurn("user", "hi"),)
    assert args.context[0].start is None
    assert args.context[1].start.line == 450 and args.context[1].end.line == 452


@pytest.mark.parametrize(("params", "message"), [
    (None, "object"),
    ({"messages": []}, "non-empty list"),
    ({"messages": "hi"}, "non-empty list"),
    ({"messages": [{"role": "system", "content": "x"}]}, "role"),
    ({"messages": [{"role": "user", "content": 3}]}, "content"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
     "last message"),
    ({"messages": [{"role": "user", "content": "  "}]}, "last message"),
    ({"messages": [{"role": "user", "content": "q"}], "context": {"uri": URI}}, "list"),
    ({"messages": [{"role": "user", "content": "q"}], "context": [{"uri": ""}]}, "uri"),
    ({"messages": [{"role": "user", "content": "q"}],
      "context": [{"uri": URI, "range": {"start": {"line": "a", "character": 0}}}]}, "line"),
])
def test_bad_params_say_what_was_expected(params: object, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        parse_chat(params)


# ---- attached code -----------------------------------------------------------------------


def test_chips_come_from_open_documents_only() -> None:
    chips, missing = resolve_chips(refs({"uri": URI}, SELECTION, {"uri": "file:///etc/passwd"}),
                                   store(), ["file:///work/project"])
    assert missing == ["file:///etc/passwd"]  # never read from disk
    whole, selection = chips
    assert whole.path == "src/big.py" and whole.fence == "python"
    assert "\n".join(whole.lines) == BIG[:-1]  # its last line is blank
    # A selection of whole lines ends at the start of the next line, which is left out.
    assert selection.lines == tuple(BIG.split("\n")[450:452])
    assert selection.block().first_line == 451 and selection.block().last_line == 452
    # The file is trimmed around the selection attached from it.
    assert whole.focus == (450, 451)


def test_display_paths() -> None:
    assert display_path("file:///w/a%20b/c.py", ["file:///w"]) == "a b/c.py"
    assert display_path("file:///elsewhere/c.py", ["file:///w"]) == "/elsewhere/c.py"
    assert display_path("untitled:Untitled-1", []) == "Untitled-1"


# ---- budget -----------------------------------------------------------------------------------


def test_everything_fits_nothing_dropped() -> None:
    turns = chat("What does f1 do?", "It adds one.", "And f2?")
    chips, _ = resolve_chips(refs(SELECTION), store(), [])
    fitted = fit_chat(turns, chips, cost, count, 4000)
    assert fitted.turns == turns and fitted.dropped == []
    assert fitted.prompt_tokens == cost(turns, fitted.blocks) <= 4000
    assert fitted.chip_tokens[0] > 0


def test_earliest_turns_are_dropped_first_a_question_with_its_answer() -> None:
    long = " ".join(["word"] * 300)
    turns = chat(f"first {long}", f"answer one {long}", f"second {long}", "answer two",
                 "the new question")
    limit = cost(turns[2:], ()) + 5
    fitted = fit_chat(turns, [], cost, count, limit)
    assert fitted.turns == turns[2:]
    assert fitted.dropped == [{"kind": "message", "index": 0, "role": "user"},
                              {"kind": "message", "index": 1, "role": "assistant"}]
    assert fitted.prompt_tokens <= limit


def test_a_big_file_is_trimmed_around_the_selection() -> None:
    chips, _ = resolve_chips(refs({"uri": URI}, SELECTION), store(), [])
    turns = chat("Why does f150 add 150?")
    limit = 600
    fitted = fit_chat(turns, chips, cost, count, limit)
    assert fitted.prompt_tokens <= limit
    trimmed = [d for d in fitted.dropped if d.get("reason") == "trimmed"]
    assert len(trimmed) == 1 and trimmed[0]["uri"] == URI
    first, last = trimmed[0]["lines"]["first"], trimmed[0]["lines"]["last"]
    assert first <= 451 <= 452 <= last  # the window holds the selection
    assert (last - first) < BIG.count("\n") // 2
    block = fitted.blocks[0]
    assert (block.first_line, block.last_line) == (first, last)
    assert "def f150(x):" in block.code
    # The selection itself is whole.
    assert fitted.blocks[1].code == "\n".join(BIG.split("\n")[450:452])


def test_the_code_keeps_at_least_half_the_window_the_history_gives_way() -> None:
    chips, _ = resolve_chips(refs({"uri": URI}), store(), [])
    long = " ".join(["word"] * 400)
    turns = chat(f"old {long}", f"old answer {long}", "new question")
    limit = 1500
    fitted = fit_chat(turns, chips, cost, count, limit)
    assert fitted.prompt_tokens <= limit
    assert [d["index"] for d in fitted.dropped if d["kind"] == "message"] == [0, 1]
    assert fitted.chip_tokens[0] >= limit // 2 - 50


def test_code_is_left_out_when_nothing_else_fits() -> None:
    chips, _ = resolve_chips(refs(SELECTION), store(), [])
    question = " ".join(["word"] * 200)
    limit = cost(chat(question), ()) + 3  # room for the question only
    fitted = fit_chat(chat(question), chips, cost, count, limit)
    assert fitted.blocks == ()
    assert fitted.dropped == [{"kind": "context", "uri": URI, "reason": "dropped"}]
    assert fitted.prompt_tokens <= limit


def test_a_question_too_long_for_the_window_is_refused() -> None:
    with pytest.raises(ChatTooLongError, match="shorten the question"):
        fit_chat(chat(" ".join(["word"] * 500)), [], cost, count, 100)
