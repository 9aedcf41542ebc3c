"""What every SQLite primitive module shares: the transaction's connection and its queries."""

from __future__ import annotations

import sqlite3
from typing import Any

from overcast.clock import Clock
from overcast.engine.queries import load_queries

QUERIES = load_queries("overcast.engine.sqlite")


class TxBase:
    """One transaction on one connection; primitive mixins add the operations."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock
        self._now: float | None = None
        self.touched: set[str] = set()  # queues whose waiters must wake after commit

    def now(self) -> float:
        # One reading per transaction: every rule in it sees the same instant.
        if self._now is None:
            self._now = self._clock.now()
        return self._now

    def _exec(self, _query: str, /, **params: Any) -> sqlite3.Cursor:
        return self._conn.execute(QUERIES[_query], params)

    def _one(self, _query: str, /, **params: Any) -> Any:
        return self._conn.execute(QUERIES[_query], params).fetchone()

    def _all(self, _query: str, /, **params: Any) -> list[Any]:
        return self._conn.execute(QUERIES[_query], params).fetchall()
