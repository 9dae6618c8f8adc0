"""What a server's `/v1/models` says about the model we will talk to, and which of our
presets (and so which prompt family) its name refers to."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from model.base import ModelInfo
from model.errors import BackendUnavailableError
from model.openai_backend.http_client import excerpt
from model.presets import PRESETS, Preset

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 8192


def match_preset(model: str) -> Preset | None:
    """The preset a served model name refers to: its preset name, its hub id, or a GGUF
    file name of it ("…/starcoder2-15b-instruct-v0.1-Q4_K_M.gguf"). Longest name wins,
    so "starcoder2-15b-instruct-v0.1" is not taken for "starcoder2-15b"."""
    name = model.strip().lower().rstrip("/")
    base = name.rsplit("/", 1)[-1].removesuffix(".gguf")
    for preset in sorted(PRESETS.values(), key=lambda p: -len(p.name)):
        repo = preset.hf_repo.lower()
        if name in (preset.name, repo) or base == repo.rsplit("/", 1)[-1]:
            return preset
        if base == preset.name or base.startswith(preset.name + "-"):
            # A quantisation suffix, e.g. -Q4_K_M; not another model ("-instruct").
            rest = base[len(preset.name) + 1 :]
            if not rest or rest.startswith(("q", "f16", "bf16", "f32", "iq")):
                return preset
    return None


@dataclass(frozen=True)
class ServedModel:
    info: ModelInfo
    # The server's flavour where the listing tells it: "vllm" | "llama.cpp" | "".
    server_kind: str


def describe_served_model(
    listing: Any, *, base_url: str, model: str, prompt_family: str | None,
    context_length: int,
) -> ServedModel:
    """The model to use (`model`, else the first one listed) and its facts.

    The prompt family is known when given or when the name matches a preset: then our
    exact prompt goes to /v1/completions; otherwise the server's chat endpoint applies
    the model's own template (ModelInfo.uses_chat_api).
    """
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        raise BackendUnavailableError(
            f"{base_url}/v1/models did not list models ({excerpt(str(listing))}); "
            "is this an OpenAI-compatible server?"
        )
    entries = [e for e in entries if isinstance(e, dict) and e.get("id")]
    if not model:
        if not entries:
            raise BackendUnavailableError(f"the server at {base_url} serves no model")
        model = str(entries[0]["id"])
    entry = next((e for e in entries if e["id"] == model), None)
    if entry is None and entries:
        log.warning("the server does not list model %r (it serves %s); sending it anyway",
                    model, ", ".join(str(e["id"]) for e in entries))
    entry = entry or {}  # an unlisted name: no facts about it
    owner = str(entry.get("owned_by", "")).lower()
    meta: dict[str, Any] = entry["meta"] if isinstance(entry.get("meta"), dict) else {}
    server_kind = ""
    if owner == "vllm" or "max_model_len" in entry:
        server_kind = "vllm"
    elif owner == "llamacpp" or meta:
        server_kind = "llama.cpp"
    preset = match_preset(model)
    served_ctx = next(
        (int(v) for v in (entry.get("max_model_len"), meta.get("n_ctx_train"),
                          entry.get("context_length"), entry.get("max_context_length"))
         if isinstance(v, int) and v > 0),
        0,
    )
    context = (context_length or served_ctx
               or (preset.context_length if preset else 0) or DEFAULT_CONTEXT)
    family = prompt_family or (preset.prompt_family if preset else None)
    info = ModelInfo(
        name=model,
        context_length=context,
        prompt_family=family,
        chat_template=None,
        bos_token="<|endoftext|>" if family else "",
        eos_token="<|endoftext|>",
        supports_fim=bool(family) and preset is not None,
        uses_chat_api=family is None,
    )
    return ServedModel(info, server_kind)
