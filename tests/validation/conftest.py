"""Validation tests run real processes in the real sandbox (Linux only)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lsp_server.validation import sandbox

if sys.platform != "linux":
    pytest.skip("the validation sandbox is Linux-only", allow_module_level=True)


def processes_of_runs(run_ids: list[str]) -> list[int]:
    """Processes whose environment carries one of these runs' marker values."""
    needles = [f"{sandbox.MARKER}={run_id}".encode() for run_id in run_ids]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(needle in environ for needle in needles):
            found.append(int(entry.name))
    return found


@pytest.fixture
def no_leftovers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fails the test if a process of one of its sandbox runs outlives it (other
    programs' sandboxes running meanwhile do not count)."""
    run_ids: list[str] = []
    real = uuid.uuid4

    def recorded() -> uuid.UUID:
        value = real()
        run_ids.append(value.hex)
        return value

    monkeypatch.setattr(sandbox.uuid, "uuid4", recorded)
    yield run_ids
    left = processes_of_runs(run_ids)
    assert not left, f"processes left behind: {sorted(left)}"
