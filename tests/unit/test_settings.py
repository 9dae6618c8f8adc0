"""Settings: typed, with defaults; bad values warn and keep the previous value."""

from __future__ import annotations

import pytest

from lsp_server.settings import Settings, merge, restart_needed


def test_defaults() -> None:
    s = Settings()
    assert s.model == "starcoder2-15b-instruct-v0.1"
    assert s.backend == "auto"
    assert s.temperature == 0.0


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        ({"maxTokens": 64}, "max_tokens", 64),
        ({"max_tokens": "128"}, "max_tokens", 128),
        ({"temperature": 0.5}, "temperature", 0.5),
        ({"backend": "openai"}, "backend", "openai"),
        ({"inlineCompletion": False}, "inline_completion", False),
        ({"loadOnStart": "true"}, "load_on_start", True),
        ({"instructionPrefixes": ["ai:"]}, "instruction_prefixes", ["ai:"]),
        ({"completion": {"model": "starcoder2-3b"}}, "completion_model", "starcoder2-3b"),
        ({"speculative": False}, "speculative", "off"),
        ({"speculative": True}, "speculative", "on"),
        ({"speculative": "always"}, "speculative", "always"),
        ({"speculative": "FALSE"}, "speculative", "off"),
        ({"validate": True}, "validate", True),
        ({"validateCandidates": 10}, "validate_candidates", 10),
        ({"validatePython": "/usr/bin/python3"}, "validate_python", "/usr/bin/python3"),
        ({"validateProjectTests": "true"}, "validate_project_tests", True),
    ],
)
def test_values_are_coerced(raw: dict, field: str, expected: object) -> None:
    settings, warnings = merge(Settings(), raw)
    assert warnings == []
    assert getattr(settings, field) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"maxTokens": "lots"},
        {"maxTokens": -5},
        {"maxTokens": 1.5},
        {"temperature": "hot"},
        {"temperature": 9},
        {"backend": "gpt"},
        {"model": 42},
        {"instructionPrefixes": "ai:"},
        {"loadOnStart": 3},
        {"maxTokens": True},
        {"speculative": "sometimes"},
        {"speculative": 1},
        {"validate": "maybe"},
        {"validateCandidates": 0},
        {"validateCandidates": 21},
        {"validatePython": 3},
    ],
)
def test_bad_values_warn_and_keep_default(raw: dict) -> None:
    settings, warnings = merge(Settings(), raw)
    assert settings == Settings()
    assert len(warnings) == 1
    key = next(iter(raw))
    assert key in warnings[0] and "keeping" in warnings[0]


def test_validation_defaults_and_live_application() -> None:
    """Off by default; 5 candidates; the interpreter chosen by the client or the server;
    none of them reloads the model."""
    s = Settings()
    assert (s.validate, s.validate_candidates, s.validate_python,
            s.validate_project_tests) == (False, 5, "", False)
    new, _ = merge(s, {"validate": True, "validateCandidates": 3, "validatePython": "py"})
    assert restart_needed(s, new) == []


def test_speculative_modes() -> None:
    """Drafting on by default, exact only; "always" also accepts inexact drafts."""
    assert (Settings().drafting, Settings().exact_drafts) == (True, True)
    always = merge(Settings(), {"speculative": "always"})[0]
    assert (always.drafting, always.exact_drafts) == (True, False)
    off = merge(Settings(), {"speculative": False})[0]
    assert off.drafting is False


def test_unknown_and_non_object_settings() -> None:
    settings, warnings = merge(Settings(), {"nonsense": 1})
    assert settings == Settings() and "unknown setting" in warnings[0]
    settings, warnings = merge(Settings(), ["not", "an", "object"])  # type: ignore[arg-type]
    assert settings == Settings() and "must be an object" in warnings[0]


def test_client_side_keys_are_ignored_silently() -> None:
    _, warnings = merge(Settings(), {"server": {"path": "/x", "python": "py"}, "trace": {}})
    assert warnings == []


def test_restart_needed_only_for_model_keys() -> None:
    old = Settings()
    new, _ = merge(old, {"maxTokens": 10, "model": "/m.gguf"})
    assert restart_needed(old, new) == ["model"]


def test_api_key_is_masked() -> None:
    settings, _ = merge(Settings(), {"apiKey": "sk-secret"})
    assert settings.api_key == "sk-secret"
    assert "sk-secret" not in repr(settings.as_dict())
