"""Checks of how the model is prompted: the family detected and the exact edit prompt
(built by the server's own prompt builder), and fill-in-the-middle for inline completion."""

from __future__ import annotations

from lsp_server.doctor.model_checks import ModelFile, gguf_file_check
from lsp_server.doctor.report import FAIL, OK, SKIP, WARN, Check
from lsp_server.prompts import build_edit_prompt, resolve_family
from lsp_server.prompts import templates as t
from model.base import ModelInfo
from model.presets import find

FIM_TOKENS = (t.FIM_PREFIX, t.FIM_SUFFIX, t.FIM_MIDDLE)
FIM_FIX = (
    'set completionModel (`--completion-model`) to "auto" (a StarCoder2 base model sized for '
    'this machine, downloaded on first completion) or to a base preset such as '
    '"starcoder2-3b", or turn inlineCompletion off'
)
INSTRUCTION = "<your instruction>"
CODE = "<the selected code>"


def _family_source(info: ModelInfo, family: str) -> str:
    if info.uses_chat_api:
        return "unknown to us: the server applies the model's own chat template"
    if info.prompt_family == family:
        return "known model" if not info.chat_template else "from its chat template"
    if family == t.CHAT_TEMPLATE:
        return "the model's own chat template"
    return "no chat template: the generic Tech Assistant prompt"


def prompt_check(info: ModelInfo) -> Check:
    """The family and the exact text an edit request sends (placeholders in <…>)."""
    family = resolve_family(info)
    prompt = build_edit_prompt(info, instruction=INSTRUCTION, code=CODE, language="python",
                               fence="python")
    if info.uses_chat_api:
        block = f"[user message to /v1/chat/completions]\n{prompt.messages[0]['content']}"
        family = "chat"
    else:
        stops = ", ".join(repr(s) for s in prompt.stop)
        block = f"{prompt.text}\n[the answer continues here; stops: {stops}]"
    detail = f"{family} ({_family_source(info, family)}); an edit is sent as:"
    if family == t.TECH_ASSISTANT and not info.prompt_family:
        return Check("prompt", WARN, detail, "an instruct model with a chat template answers "
                     "edits better (the default starcoder2-15b-instruct-v0.1)", block)
    return Check("prompt", OK, detail, block=block)


def completion_checks(*, inline: bool, model: str, completion_model: str, models_dir: str,
                      info: ModelInfo | None, served: bool) -> list[Check]:
    """FIM tokens in the model that completes, and whether that model is a base model
    (`completionModel`; empty: the edit model completes)."""
    if not inline:
        return [Check("FIM tokens", SKIP, "inline completion is off (inlineCompletion)")]
    from lsp_server.completion.model_choice import resolve_completion_model

    name = resolve_completion_model(completion_model) if completion_model else ""
    if not name or name == model:
        return _edit_model_completes(model, info)
    preset = find(name)
    if preset is not None:
        if not preset.gguf and not served:
            return [Check("FIM tokens", FAIL, f"{name} has no GGUF file",
                          f"{FIM_FIX}; or run it on a server (endpoint)")]
        fim = Check("FIM tokens", OK, f"{name} is a StarCoder model with "
                    f"{', '.join(FIM_TOKENS)}") if preset.kind == "base" else Check(
            "FIM tokens", WARN, f"{name} is not a base model; its FIM may be weak", FIM_FIX)
        base = (Check("completion model", OK, f"{name} is a base model (completionModel)")
                if preset.kind == "base" else
                Check("completion model", WARN, f"{name} is an instruct model", FIM_FIX))
        checks = [fim, base]
        if not served:
            _model, file_check = gguf_file_check(name, models_dir, "completion model file")
            checks.append(file_check)
        return checks
    if served:
        return [Check("FIM tokens", SKIP, f"{name} on the server: not checked")]
    model_file, file_check = gguf_file_check(name, models_dir, "completion model file")
    if not model_file.valid:
        return [file_check]
    return [file_check, *_gguf_fim_checks(model_file)]


def _gguf_fim_checks(model_file: ModelFile) -> list[Check]:
    from model.llamacpp_backend.gguf_header import gguf_tokens_present

    assert model_file.path is not None
    present = gguf_tokens_present(model_file.path, FIM_TOKENS)
    missing = [tok for tok in FIM_TOKENS if tok not in present]
    name = model_file.path.name
    fim = (Check("FIM tokens", OK, f"{name} has {', '.join(FIM_TOKENS)}") if not missing else
           Check("FIM tokens", FAIL, f"{name} has no {', '.join(missing)}: inline completion "
                 "gives nothing with it", FIM_FIX))
    if model_file.header.get("tokenizer.chat_template"):
        base = Check("completion model", WARN, f"{name} has a chat template: an instruct or "
                     "chat model, not a base model", FIM_FIX)
    else:
        base = Check("completion model", OK, f"{name} is a base model (no chat template)")
    return [fim, base]


def _edit_model_completes(model: str, info: ModelInfo | None) -> list[Check]:
    if info is None:
        return [Check("FIM tokens", SKIP, "not checked: the model did not load")]
    if not info.supports_fim:
        return [Check("FIM tokens", FAIL, f"{info.name} (the edit model, which completes as "
                      "completionModel is empty) has no fill-in-the-middle tokens: inline "
                      "completion gives nothing", FIM_FIX)]
    preset = find(model)
    kind = preset.kind if preset else ("instruct" if info.chat_template else "base")
    checks = [Check("FIM tokens", OK, f"{info.name} has {', '.join(FIM_TOKENS)}")]
    if kind == "base":
        checks.append(Check("completion model", OK, f"{info.name} is a base model"))
    else:
        checks.append(Check("completion model", OK, f"completionModel is empty: the edit "
                            f"model ({kind}) completes; \"auto\" would use a StarCoder2 base "
                            "model, which fills in the middle better (a download)"))
    return checks
