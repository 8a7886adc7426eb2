"""Fixtures for the rating tests: FastChat-style battle records and files in every format."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import SHARED_DATA, records, write


@pytest.fixture(scope="session")
def battle_records() -> list[dict]:
    return records()


@pytest.fixture
def battle_files(tmp_path: Path, battle_records: list[dict]) -> dict[str, Path]:
    """The same battles in each supported format."""
    return {
        suffix: write(battle_records, tmp_path / f"battles{suffix}")
        for suffix in (".json", ".jsonl", ".csv", ".parquet")
    }


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
