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


def _base_model(size: str, use: str, params_b: float, q4_gb: float, q8_gb: float) -> Preset:
    """A StarCoder2 base model: fill-in-the-middle, GGUFs from second-state."""
    name = f"starcoder2-{size}"
    repo = f"second-state/StarCoder2-{size.upper()}-GGUF"
    return Preset(
        name=name,
        description=f"StarCoder2-{size.upper()} base: {use}",
        hf_repo=f"bigcode/{name}",
        prompt_family="tech-assistant",
        context_length=16384,
        kind="base",
        params_b=params_b,
        gguf={
            "Q4_K_M": GgufFile(repo, f"{name}-Q4_K_M.gguf", q4_gb),
            "Q8_0": GgufFile(repo, f"{name}-Q8_0.gguf", q8_gb),
        },
    )


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
        _base_model("3b", "fast fill-in-the-middle completion", 3.0, 1.85, 3.22),
        _base_model("7b", "fill-in-the-middle completion", 7.2, 4.4, 7.6),
        _base_model("15b", "best fill-in-the-middle quality", 16.0, 9.9, 17.0),
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
STARCODER2_INSTRUCT = "starcoder2-instruct"


def family_from_chat_template(template: str | None) -> str | None:
    """StarCoder2-Instruct's family for a chat template in its style (a GGUF or tokenizer
    that names no preset); None: prompt with the template itself."""
    if template and "### Instruction" in template and "### Response" in template:
        return STARCODER2_INSTRUCT
    return None


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
