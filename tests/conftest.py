"""Fixtures shared by every layer: engines (one parametrized fixture for all engines), clocks.

``engine`` and ``engine_url`` are parametrized over every engine, so a test that takes either
runs once per engine. PostgreSQL is a real server this session starts itself (from the machine's
binaries, as the ``postgres`` user when we are root) on the first test that needs it; each test
then gets a fresh schema in it, which takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.clock import ManualClock
from overcast.engine import open_engine
from overcast.engine.base import Engine
from overcast.testing.postgres import PostgresServer

ENGINES = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (fsync off: its data is thrown away)."""
    server = PostgresServer(fsync=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / name}.db"
    if kind == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.fresh_schema_url()
    raise ValueError(kind)


@pytest.fixture(params=ENGINES)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty database of each engine kind."""
    return _url(request.param, request, tmp_path, "overcast")


@pytest.fixture
def another_engine_url(request: pytest.FixtureRequest, engine_url: str, tmp_path: Path) -> str:
    """A second fresh database of the same kind as ``engine_url``."""
    kind = "sqlite" if engine_url.startswith("sqlite:") else "postgres"
    return _url(kind, request, tmp_path, "another")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Engine]:
    """A fresh engine of each kind, driven by a manual clock."""
    eng = open_engine(_url(request.param, request, tmp_path, "engine"), clock=clock)
    yield eng
    eng.close()
