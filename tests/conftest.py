"""Fixtures shared by every layer: engines (one parametrized fixture for all engines), clocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.clock import ManualClock
from overcast.engine import open_engine
from overcast.engine.base import Engine

ENGINES = ["sqlite"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'overcast.db'}"
    raise ValueError(kind)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Engine]:
    """A fresh engine of each kind, driven by a manual clock."""
    if request.param == "sqlite":
        eng = open_engine(f"sqlite:///{tmp_path / 'engine.db'}", clock=clock)
    else:  # pragma: no cover - more engines come with their own issue
        raise ValueError(request.param)
    yield eng
    eng.close()
