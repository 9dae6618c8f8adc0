"""Text ↔ tokens for a loaded GGUF model.

llama-cpp-python's ``detokenize`` uses a 32-byte buffer per token and silently corrupts
longer pieces (code vocabularies have long whitespace tokens), so pieces are decoded here.
"""

from __future__ import annotations

import ctypes
from typing import Any


class Vocabulary:
    """Tokenizing with special tokens parsed, and each token's exact bytes (cached)."""

    def __init__(self, llm: Any, llama_cpp: Any) -> None:
        self._llm = llm
        self._llama_cpp = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._pieces: dict[int, bytes] = {}

    def tokenize(self, text: str) -> list[int]:
        """Tokens of `text`, parsing special tokens; BOS only if the model wants one."""
        llm = self._llm
        tokens: list[int] = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        bos = llm.token_bos()
        # A prompt rendered from a chat template may already start with the BOS text;
        # then a model that prepends BOS itself (not StarCoder2) would get it twice.
        doubled = len(tokens) >= 2 and tokens[0] == bos and tokens[1] == bos
        if doubled and self._llama_cpp.llama_vocab_get_add_bos(self._vocab):
            tokens = tokens[1:]
        return tokens

    def tokenize_plain(self, text: str) -> list[int]:
        """Tokens of code as the model would write it (no BOS, specials as text)."""
        tokens: list[int] = self._llm.tokenize(text.encode("utf-8"), add_bos=False,
                                               special=False)
        return tokens

    def piece(self, token: int, special: bool = True) -> bytes:
        """The bytes of one token (llama-cpp-python's own helper truncates at 32 bytes)."""
        key = token if special else -token - 1
        cached = self._pieces.get(key)
        if cached is not None:
            return cached
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, special)
            if n >= 0:
                break
            size = -n
        piece = buf.raw[:n]
        self._pieces[key] = piece
        return piece

    def is_end(self, token: int) -> bool:
        """End of generation (EOS, EOT and the like)."""
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def text_of(self, token: int) -> str:
        """A special token's text ("" for none, as llama.cpp reports -1)."""
        return self.piece(token).decode("utf-8", "replace") if token >= 0 else ""
