"""Typed settings with defaults, merged from CLI flags, initializationOptions and
workspace/configuration (section `starcoder`).

A bad value never stops the server: it is reported as a warning and the default (or the
previous value) is kept, so a typo in an editor's config cannot break editing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

BACKENDS = ("auto", "llama.cpp", "transformers", "openai")
# "on": speculative edits where the backend verified at load that they give plain
# decoding's exact output; "always": also where its engine rounds wide passes differently
# (faster on such devices, but a near tie between two tokens may be decided the other way).
SPECULATIVE = ("on", "off", "always")


@dataclass
class Settings:
    # Model and backend (need a restart of the model when changed).
    model: str = "starcoder2-15b-instruct-v0.1"
    backend: str = "auto"
    endpoint: str = ""
    api_key: str = ""
    endpoint_model: str = ""
    completion_model: str = ""
    n_ctx: int = 0  # 0: the model's own context length (capped for memory)
    n_gpu_layers: int = -1  # llama.cpp: -1 offload all when a GPU build is present
    n_threads: int = 0  # 0: let the engine decide
    models_dir: str = ""
    fast_decode: bool = True  # transformers: static cache + torch.compile on CUDA
    # Generation (applied live).
    max_tokens: int = 1024
    temperature: float = 0.0
    speculative: str = "on"  # see SPECULATIVE; true/false mean "on"/"off"
    context_tokens: int = 512  # budget for imports / class header context
    request_timeout_s: float = 120.0
    queue_size: int = 4
    # Inline completion (applied live).
    inline_completion: bool = True
    completion_max_tokens: int = 128
    completion_debounce_ms: int = 120
    completion_time_budget_ms: int = 2000
    # Behaviour.
    instruction_prefixes: list[str] = field(
        default_factory=lambda: ["starcoder:", "sc:", "TODO:", "FIXME:", "@starcoder"]
    )
    load_on_start: bool = False

    @property
    def drafting(self) -> bool:
        return self.speculative != "off"

    @property
    def exact_drafts(self) -> bool:
        return self.speculative != "always"

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if data.get("api_key"):
            data["api_key"] = "***"
        return data


# Keys whose change only takes effect after the model is reloaded.
RESTART_KEYS = frozenset(
    {"model", "backend", "endpoint", "endpoint_model", "completion_model", "n_ctx",
     "n_gpu_layers", "n_threads", "models_dir", "fast_decode"}
)

_ALIASES = {
    # camelCase (VS Code style) to snake_case.
    "maxTokens": "max_tokens",
    "apiKey": "api_key",
    "endpointModel": "endpoint_model",
    "completionModel": "completion_model",
    "nCtx": "n_ctx",
    "nGpuLayers": "n_gpu_layers",
    "nThreads": "n_threads",
    "modelsDir": "models_dir",
    "fastDecode": "fast_decode",
    "contextTokens": "context_tokens",
    "requestTimeout": "request_timeout_s",
    "queueSize": "queue_size",
    "inlineCompletion": "inline_completion",
    "completionMaxTokens": "completion_max_tokens",
    "completionDebounceMs": "completion_debounce_ms",
    "completionTimeBudgetMs": "completion_time_budget_ms",
    "instructionPrefixes": "instruction_prefixes",
    "loadOnStart": "load_on_start",
}

_CAMEL = {name: key for key, name in _ALIASES.items()}


def camel_name(field: str) -> str:
    """The documented (camelCase) name of a Settings field: `max_tokens` -> `maxTokens`."""
    return _CAMEL.get(field, field)


_LIMITS: dict[str, tuple[float, float]] = {
    "max_tokens": (1, 32768),
    "temperature": (0.0, 2.0),
    "context_tokens": (0, 32768),
    "request_timeout_s": (1.0, 3600.0),
    "queue_size": (1, 1024),
    "n_ctx": (0, 1 << 20),
    "n_gpu_layers": (-1, 100000),
    "n_threads": (0, 1024),
    "completion_max_tokens": (1, 4096),
    "completion_debounce_ms": (0, 5000),
    "completion_time_budget_ms": (50, 60000),
}


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"completion": {"model": x}}` and `{"server": {...}}` style nesting to flat keys."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key[0].upper()}{key[1:]}" if prefix else key
        if isinstance(value, Mapping) and key not in ("instruction_prefixes",):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Return the value converted to the field's type, or raise ValueError."""
    if name == "speculative":
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str):
            word = {"true": "on", "false": "off"}.get(value.lower(), value.lower())
            if word in SPECULATIVE:
                return word
        raise ValueError("expected true, false or \"always\"")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("expected true or false")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected an integer")
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
        if number is None:
            raise ValueError("expected an integer")
        value = number
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected a number")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError("expected a string")
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        value = list(value)
    if name in _LIMITS:
        low, high = _LIMITS[name]
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
    if name == "backend" and value not in BACKENDS:
        raise ValueError(f"must be one of {', '.join(BACKENDS)}")
    return value


def merge(base: Settings, raw: Mapping[str, Any] | None) -> tuple[Settings, list[str]]:
    """Apply `raw` over `base`. Returns the new settings and one warning per bad value."""
    if not raw:
        return base, []
    if not isinstance(raw, Mapping):
        return base, [f"starcoder settings must be an object, got {type(raw).__name__}"]
    known = {f.name: f for f in fields(Settings)}
    updates: dict[str, Any] = {}
    warnings: list[str] = []
    flat = _flatten(raw)
    for key, value in flat.items():
        name = _ALIASES.get(key, key)
        if name.startswith("server") or name in ("trace",):
            continue  # client-side settings (server path, interpreter, tracing)
        if name not in known:
            warnings.append(f"unknown setting starcoder.{key} ignored")
            continue
        if value is None:
            continue
        current = getattr(base, name)
        try:
            updates[name] = _coerce(name, value, current)
        except (ValueError, TypeError) as err:
            if name == "api_key":  # never echo a secret, even a malformed one
                value, current = "***", "***" if current else ""
            warnings.append(
                f"starcoder.{key}: bad value {value!r} ({err}); keeping {current!r}"
            )
    return dataclasses.replace(base, **updates), warnings


def restart_needed(old: Settings, new: Settings) -> list[str]:
    """Names of changed settings that only take effect after reloading the model.

    `speculative` between off and on/"always" changes how the engine is set up (llama.cpp:
    its plain fastest set-up vs the one under which drafts are exact), so it reloads;
    between "on" and "always" it only changes which requests draft, live."""
    changed = {k for k in RESTART_KEYS if getattr(old, k) != getattr(new, k)}
    if old.drafting != new.drafting:
        changed.add("speculative")
    return sorted(changed)
