"""Known models: where to get them and how to prompt them.

Data only. A preset name can be given wherever a model path can (`--model`), and the
server downloads the right file on first use.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GgufFile:
    repo: str
    filename: str
    size_gb: float


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    hf_repo: str  # transformers (bf16) weights
    prompt_family: str  # see lsp_server/prompts/templates.py
    context_length: int
    gguf: dict[str, GgufFile]  # quantisation -> file; first is the default
    kind: str = "instruct"  # "instruct" (edits) or "base" (fill-in-the-middle)
    params_b: float = 0.0

    @property
    def default_gguf(self) -> GgufFile | None:
        return next(iter(self.gguf.values()), None)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="starcoder2-15b-instruct-v0.1",
            description="StarCoder2-15B-Instruct-v0.1: the edit model (default)",
            hf_repo="bigcode/starcoder2-15b-instruct-v0.1",
            prompt_family="starcoder2-instruct",
            context_length=16384,
            params_b=16.0,
            gguf={
                "Q4_K_M": GgufFile(
                    "bartowski/starcoder2-15b-instruct-v0.1-GGUF",
                    "starcoder2-15b-instruct-v0.1-Q4_K_M.gguf",
                    9.86,
                ),
                "Q8_0": GgufFile(
                    "bartowski/starcoder2-15b-instruct-v0.1-GGUF",
                    "starcoder2-15b-instruct-v0.1-Q8_0.gguf",
                    16.97,
                ),
            },
        ),
        Preset(
            name="starcoder2-3b",
            description="StarCoder2-3B base: fast fill-in-the-middle completion",
            hf_repo="bigcode/starcoder2-3b",
            prompt_family="tech-assistant",
            context_length=16384,
            kind="base",
            params_b=3.0,
            gguf={
                "Q4_K_M": GgufFile(
                    "second-state/StarCoder2-3B-GGUF", "starcoder2-3b-Q4_K_M.gguf", 1.85
                ),
                "Q8_0": GgufFile(
                    "second-state/StarCoder2-3B-GGUF", "starcoder2-3b-Q8_0.gguf", 3.22
                ),
            },
        ),
        Preset(
            name="starcoder2-7b",
            description="StarCoder2-7B base: fill-in-the-middle completion",
            hf_repo="bigcode/starcoder2-7b",
            prompt_family="tech-assistant",
            context_length=16384,
            kind="base",
            params_b=7.2,
            gguf={
                "Q4_K_M": GgufFile(
                    "second-state/StarCoder2-7B-GGUF", "starcoder2-7b-Q4_K_M.gguf", 4.4
                ),
                "Q8_0": GgufFile(
                    "second-state/StarCoder2-7B-GGUF", "starcoder2-7b-Q8_0.gguf", 7.6
                ),
            },
        ),
        Preset(
            name="starcoder2-15b",
            description="StarCoder2-15B base: best fill-in-the-middle quality",
            hf_repo="bigcode/starcoder2-15b",
            prompt_family="tech-assistant",
            context_length=16384,
            kind="base",
            params_b=16.0,
            gguf={
                "Q4_K_M": GgufFile(
                    "second-state/StarCoder2-15B-GGUF", "starcoder2-15b-Q4_K_M.gguf", 9.9
                ),
                "Q8_0": GgufFile(
                    "second-state/StarCoder2-15B-GGUF", "starcoder2-15b-Q8_0.gguf", 17.0
                ),
            },
        ),
        Preset(
            name="starcoder-gpteacher-code-instruct",
            description="StarCoder 15B tuned on GPTeacher codegen (Alpaca prompts); "
            "transformers or a server only (no GGUF published)",
            hf_repo="GeorgiaTechResearchInstitute/starcoder-gpteacher-code-instruct",
            prompt_family="gpteacher",
            context_length=8192,
            params_b=15.5,
            gguf={},
        ),
    )
}

DEFAULT_EDIT_PRESET = "starcoder2-15b-instruct-v0.1"


def default_completion_preset(memory_gb: float) -> str:
    """The base model whose Q4 GGUF leaves room for the edit model on this machine."""
    if memory_gb >= 48:
        return "starcoder2-15b"
    if memory_gb >= 24:
        return "starcoder2-7b"
    return "starcoder2-3b"


def find(name: str) -> Preset | None:
    """Preset by name; case-insensitive, and `name:QUANT` picks a quantisation."""
    base = name.split(":", 1)[0].strip().lower()
    return PRESETS.get(base)


def split_quant(name: str) -> tuple[str, str | None]:
    base, _, quant = name.partition(":")
    return base.strip().lower(), (quant.strip().upper() or None)
