"""Fixtures of the training tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def home(tmp_path, cache_dir):
    """The environment of a command run with its own data folder and the shared cache
    (where the base model, converted once, is kept)."""
    return {"MODELARENA_DATA_DIR": str(tmp_path / "data"), "MODELARENA_CACHE_DIR": str(cache_dir)}
