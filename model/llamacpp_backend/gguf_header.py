"""GGUF header check: catch wrong or truncated files with a useful message before
llama.cpp sees them (it would only say "failed to load model")."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

from model.errors import ModelFileError, ModelNotFoundError

# Why not gguf-py's GGUFReader (the `gguf` package)? It parses every array item into
# numpy views: 41.6 s for Gemma 3 270M's 262k-token vocabulary (this reader: 0.1 s), plus
# 0.5 s to import, and it is not a dependency of llama-cpp-python. The type sizes below
# are taken from it.

GGUF_MAGIC = b"GGUF"
# ggml type id -> (elements per block, bytes per block); from gguf-py's GGML_QUANT_SIZES.
_GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
    8: (32, 34), 9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144),
    13: (256, 176), 14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74),
    18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
    40: (64, 36), 41: (128, 18),
}  # fmt: skip
# GGUF metadata value types with a fixed size: type id -> struct format.
_SCALAR_FORMATS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9
_LENGTH = struct.Struct("<Q")


class _GGUFCorrupt(Exception):
    """Internal: the header does not parse."""


class _HeaderReader:
    def __init__(self, data: mmap.mmap | bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise _GGUFCorrupt("header ends early")
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if self.pos + length > len(self.data):
            raise _GGUFCorrupt("header ends early")
        raw = bytes(self.data[self.pos : self.pos + length])
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        """Step over `count` strings (a vocabulary: 262k of them for Gemma 3) in a tight
        loop; reading each as a value took a second for that file."""
        data, pos, end = self.data, self.pos, len(self.data)
        length_at = _LENGTH.unpack_from
        for _ in range(count):
            if pos + 8 > end:
                raise _GGUFCorrupt("header ends early")
            pos += 8 + length_at(data, pos)[0]
        if pos > end:
            raise _GGUFCorrupt("header ends early")
        self.pos = pos

    def value(self, vtype: int) -> Any:
        if vtype in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, count = self.unpack("<I"), self.unpack("<Q")
            if item_type in _SCALAR_FORMATS:  # skip fixed-size arrays without reading
                self.pos += count * struct.calcsize(_SCALAR_FORMATS[item_type])
                if self.pos > len(self.data):
                    raise _GGUFCorrupt("header ends early")
            elif item_type == _STRING:
                self.skip_strings(count)
            else:
                for _ in range(count):
                    self.value(item_type)
            return None  # arrays (token lists) are not needed here
        raise _GGUFCorrupt(f"unknown metadata type {vtype}")


def read_gguf_header(path: Path) -> dict[str, Any]:
    """Validate a GGUF file's header and size; return its scalar metadata.

    Raises ModelNotFoundError / ModelFileError with the path and a fix in the message.
    """
    if not path.exists():
        raise ModelNotFoundError(
            f"Model file not found: {path}. Point --model at a local .gguf file "
            "(or use a model preset name to download one)."
        )
    if not path.is_file():
        raise ModelFileError(f"{path} is not a regular file; --model must name a .gguf file.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(64)
        if head.startswith(b"version https://git-lfs"):
            raise ModelFileError(
                f"{path} is a Git LFS pointer, not the model itself; download the real "
                "file (git lfs pull, or the hub's download link)."
            )
        if not head.startswith(GGUF_MAGIC):
            raise ModelFileError(
                f"{path} is not a GGUF model file (it does not start with 'GGUF'). The "
                "llama.cpp backend needs a .gguf file; convert safetensors models with "
                "llama.cpp's convert_hf_to_gguf.py or use the transformers backend."
            )
        if size < 24:
            raise ModelFileError(f"{path} is truncated ({size} bytes); download it again.")
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _parse_header(path, data, size)
    finally:
        data.close()


def _parse_header(path: Path, data: mmap.mmap, size: int) -> dict[str, Any]:
    reader = _HeaderReader(data)
    reader.pos = 4
    try:
        version = reader.unpack("<I")
        if version not in (2, 3):
            raise ModelFileError(
                f"{path} uses GGUF version {version}, which this backend does not support."
            )
        n_tensors, n_kv = reader.unpack("<Q"), reader.unpack("<Q")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise _GGUFCorrupt("implausible tensor/metadata counts")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = reader.string()
            metadata[key] = reader.value(reader.unpack("<I"))
        data_end = 0
        for _ in range(n_tensors):
            reader.string()
            n_dims = reader.unpack("<I")
            if n_dims > 8:
                raise _GGUFCorrupt("implausible tensor rank")
            elements = 1
            for _ in range(n_dims):
                elements *= reader.unpack("<Q")
            ggml_type, offset = reader.unpack("<I"), reader.unpack("<Q")
            block, block_bytes = _GGML_TYPE_SIZES.get(ggml_type, (1, 0))
            data_end = max(data_end, offset + elements // block * block_bytes)
    except _GGUFCorrupt as err:
        raise ModelFileError(f"{path} is truncated or corrupt ({err}); download it again.") from err
    alignment = metadata.get("general.alignment") or 32
    data_start = (reader.pos + alignment - 1) // alignment * alignment
    expected = data_start + data_end
    if size < expected:
        raise ModelFileError(
            f"{path} is truncated: it has {size:,} bytes but its header describes "
            f"{expected:,}. The download was probably interrupted; download it again."
        )
    return metadata




TOKENS_KEY = "tokenizer.ggml.tokens"


def gguf_tokens_present(path: Path, wanted: tuple[str, ...]) -> set[str]:
    """Which of `wanted` are tokens of the file's vocabulary (e.g. the fill-in-the-middle
    tokens), without loading the model. Call after read_gguf_header validated the file."""
    targets = {w.encode("utf-8") for w in wanted}
    lengths = {len(t) for t in targets}
    found: set[bytes] = set()
    with path.open("rb") as handle:
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        reader = _HeaderReader(data)
        reader.pos = 16  # magic, version, tensor count
        try:
            for _ in range(reader.unpack("<Q")):
                key, vtype = reader.string(), reader.unpack("<I")
                if key != TOKENS_KEY or vtype != _ARRAY:
                    reader.value(vtype)
                    continue
                item_type, count = reader.unpack("<I"), reader.unpack("<Q")
                if item_type != _STRING:
                    break
                for _ in range(count):
                    length = reader.unpack("<Q")
                    if length in lengths:
                        found.add(bytes(data[reader.pos : reader.pos + length]))
                    reader.pos += length
                break
        except _GGUFCorrupt as err:
            raise ModelFileError(
                f"{path} is truncated or corrupt ({err}); download it again.") from err
    finally:
        data.close()
    return {t.decode("utf-8") for t in found & targets}
