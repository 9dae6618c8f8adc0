"""Hardening suite: the figures every test records, printed at the end of the run.

Sizes: HYPOTHESIS_PROFILE=long selects the documented longer run (harness.FUZZ and the
round counts; see tests/hardening/SUMMARY.md); the default fits the CI time budget. The
settings are applied per test, so other suites' hypothesis settings are untouched.
Figures are printed under "hardening figures" and written to
$STARCODER_HARDENING_REPORT (JSON) when set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hardening.harness import FIGURES


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never touch the Hugging Face hub (nor anything off this machine)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("hardening figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")
    target = os.environ.get("STARCODER_HARDENING_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(FIGURES, handle, indent=2, sort_keys=True)
