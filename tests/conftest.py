"""Shared test fixtures: where the real market data lives, and skips when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("LT_SHARED_DATA", REPO.parent / "shared" / "data"))
SOL_CANDLES = SHARED_DATA / "sol_usdt_perp_1m_20250504_20250603.csv.gz"
BTC_RECORDING = SHARED_DATA / "btcusdt_perp_ws_20240808.gz"
LIGHTER_FIXTURES = SHARED_DATA / "lighter"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (tests read ../shared/data; set LT_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def sol_candles_path() -> Path:
    return _require(SOL_CANDLES)


@pytest.fixture(scope="session")
def btc_recording_path() -> Path:
    return _require(BTC_RECORDING)


@pytest.fixture(scope="session")
def lighter_fixtures_dir() -> Path:
    return _require(LIGHTER_FIXTURES)
