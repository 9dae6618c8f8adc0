"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.tiny_model import TinyModel, build_tiny_model

REPO_ROOT = Path(__file__).resolve().parent.parent

# ---- tiny model (session) -------------------------------------------------------------
# A real, random-initialised StarCoder2 (GGUF + Hugging Face folder) built locally and
# cached, so backend tests never download anything. Cache folder: $STARCODER_TEST_CACHE,
# else <repo>/.cache/test-models.


def tiny_model_cache_dir() -> Path:
    """Where built test models are cached (shared by pytest, shell scripts, editors)."""
    env = os.environ.get("STARCODER_TEST_CACHE")
    return Path(env) if env else REPO_ROOT / ".cache" / "test-models"


@pytest.fixture(scope="session")
def tiny_model() -> TinyModel:
    """Paths of the tiny StarCoder2 model (built on first use, then reused)."""
    return build_tiny_model(tiny_model_cache_dir())


# ---- end tiny model -------------------------------------------------------------------
