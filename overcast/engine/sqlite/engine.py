"""The SQLite engine: one database file in WAL mode, one writer with group commit, readers on
their own connections, in-process wake-ups for long polls.

Before changing: every write goes through ``atomic``. A caller that finds no commit in progress
leads: it takes every transaction queued meanwhile and commits them together, each inside its
own savepoint, so many concurrent senders share one commit (and, with ``durability="full"``, one
fsync) while a failing transaction rolls back alone. Several processes may open the same file;
SQLite's own locking (``BEGIN IMMEDIATE`` with a busy timeout) orders their writers, and
``PRAGMA data_version`` tells a waiting long poll that another process wrote.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from overcast.clock import Clock, SystemClock
from overcast.engine.queries import load_migrations
from overcast.engine.sqlite.blob import BlobOps
from overcast.engine.sqlite.kv import KvOps
from overcast.engine.sqlite.lease import LeaseOps
from overcast.engine.sqlite.log import LogOps
from overcast.engine.sqlite.queue import QueueOps
from overcast.errors import ConfigError, EngineError, EngineUnavailable

T = TypeVar("T")

SCHEMA_VERSION = len(load_migrations("overcast.engine.sqlite.migrations"))
DURABILITY = {"normal": "NORMAL", "full": "FULL"}
_POLL = 0.025  # seconds between checks for writes made by other processes while a poll waits


class SQLiteTx(QueueOps, LogOps, KvOps, BlobOps, LeaseOps):
    """Every primitive operation, on one SQLite transaction."""


@dataclass
class _Slot:
    fn: Callable[[SQLiteTx], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    touched: set[str] = field(default_factory=set)


class _Watch:
    """Waits for a send to one queue: woken by this engine's commits that touch the queue (each
    queue has its own condition, so a commit wakes only its queue's waiters), by the clock, and
    — checked every ``_POLL`` — by commits of other processes."""

    def __init__(self, engine: SQLiteEngine, queue: str) -> None:
        self._engine = engine
        self._queue = queue
        with engine._wake_lock:
            cond = engine._conditions.get(queue)
            if cond is None:
                cond = engine._conditions[queue] = threading.Condition(engine._wake_lock)
            self._cond = cond
            self._mark = (engine._generation[queue], engine._clock_generation)
        self._data_version = engine._data_version()

    def _changed(self) -> bool:
        engine = self._engine
        return (engine._generation[self._queue], engine._clock_generation) != self._mark

    def wait(self, timeout: float) -> None:
        engine = self._engine
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with engine._wake_lock:
                if self._changed():
                    return
                self._cond.wait(min(remaining, _POLL))
                if self._changed():
                    return
            if engine._closed or engine._data_version() != self._data_version:
                return


class SQLiteEngine:
    """An ``Engine`` on one SQLite database file."""

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        durability: str = "normal",
        busy_timeout: float = 30.0,
        migrate: bool = True,
    ) -> None:
        if durability not in DURABILITY:
            raise ConfigError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.clock: Clock = clock or SystemClock()
        self.durability = durability
        self._busy_timeout = busy_timeout
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise EngineUnavailable(f"cannot open SQLite database {self.path}: {exc}") from None
        if migrate:
            self._migrate()
        self._commit_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._wake_lock = threading.Lock()
        self._conditions: dict[str, threading.Condition] = {}  # per queue, on _wake_lock
        self._generation: defaultdict[str, int] = defaultdict(int)
        self._clock_generation = 0
        self.clock.subscribe(self._on_clock)
        self.commits = 0  # number of write transactions committed (for tests and benchmarks)

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={DURABILITY[self.durability]}")
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.reader = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _data_version(self) -> int:
        """Changes when another connection commits. Asked of the writer, which never counts its
        own commits: this engine's writes wake waiters through ``_notify``, not this."""
        if self._closed:
            return -1
        try:
            with self._commit_lock:
                return int(self._writer.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return -1

    def _migrate(self, target: int | None = None) -> tuple[int, int]:
        conn = self._writer
        target = SCHEMA_VERSION if target is None else min(target, SCHEMA_VERSION)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS overcast_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM overcast_schema").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise EngineError(
                    f"database {self.path} has schema version {current}, newer than this "
                    f"Overcast understands ({SCHEMA_VERSION}); upgrade overcast"
                )
            for version, _name, sql in load_migrations("overcast.engine.sqlite.migrations"):
                if current < version <= target:
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute("INSERT INTO overcast_schema (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return current, max(current, target)

    def migrate(self, target: int | None = None) -> tuple[int, int]:
        """Apply the migrations the database lacks (up to ``target``); return the schema version
        before and after. Opening the engine does this already unless ``migrate=False``."""
        with self._commit_lock:
            return self._migrate(target)

    def schema_version(self) -> int:
        """The database's schema version (0: no Overcast schema yet)."""
        conn = self._reader()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'overcast_schema'").fetchone() is None:
            return 0
        row = conn.execute("SELECT max(version) FROM overcast_schema").fetchone()
        return int(row[0] or 0)

    def status(self) -> dict[str, Any]:
        """What ``overcast engine status`` shows: schema version, table sizes, queue backlogs."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            sizes: dict[str, int] = {}
            with contextlib.suppress(sqlite3.Error):  # dbstat is an optional part of SQLite
                sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
            tables = [
                {"table": name, "rows": conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0],
                 "bytes": sizes.get(name)}
                for name in names
            ]
            queues = []
            if "queues" in names:
                queues = [
                    {"queue": q, "messages": n, "oldest_sent_at": oldest}
                    for q, n, oldest in conn.execute(
                        "SELECT q.name, count(m.seq), min(m.sent_at) FROM queues q "
                        "LEFT JOIN messages m ON m.queue = q.name GROUP BY q.name ORDER BY q.name")
                ]
        finally:
            conn.execute("COMMIT")
        return {
            "engine": "sqlite",
            "url": self.url,
            "file_bytes": self.path.stat().st_size if self.path.exists() else 0,
            "schema_version": self.schema_version(),
            "code_schema_version": SCHEMA_VERSION,
            "now": self.clock.now(),
            "tables": tables,
            "queues": queues,
        }

    # -- transactions --------------------------------------------------------------------------

    def atomic(self, fn: Callable[[SQLiteTx], T]) -> T:
        if getattr(self._local, "in_atomic", False):
            raise EngineError("engine.atomic() called inside another atomic(); pass the tx instead")
        if self._closed:
            raise EngineError("the engine is closed")
        slot = _Slot(fn)
        with self._pending_lock:
            self._pending.append(slot)
        with self._commit_lock:
            if not slot.done:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._local.in_atomic = True
                try:
                    self._commit(batch)
                finally:
                    self._local.in_atomic = False
        if slot.error is not None:
            raise slot.error
        result: T = slot.result
        return result

    def _commit(self, batch: list[_Slot]) -> None:
        conn = self._writer
        touched: set[str] = set()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for slot in batch:
                slot.error = EngineUnavailable(f"cannot start a write transaction: {exc}")
                slot.done = True
            return
        single = len(batch) == 1
        try:
            for slot in batch:
                tx = SQLiteTx(conn, self.clock)
                if single:
                    try:
                        slot.result = slot.fn(tx)
                        slot.touched = tx.touched
                    except BaseException as exc:
                        slot.error = exc
                    continue
                conn.execute("SAVEPOINT slot")
                try:
                    slot.result = slot.fn(tx)
                    conn.execute("RELEASE slot")
                    slot.touched = tx.touched
                except BaseException as exc:
                    conn.execute("ROLLBACK TO slot")
                    conn.execute("RELEASE slot")
                    slot.error = exc
            if single and batch[0].error is not None:
                conn.execute("ROLLBACK")
            else:
                conn.execute("COMMIT")
                self.commits += 1
                for slot in batch:
                    touched |= slot.touched
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for slot in batch:
                if slot.error is None:
                    slot.error = EngineError(f"SQLite write failed: {exc}")
        finally:
            for slot in batch:
                slot.done = True
        if touched:
            self._notify(touched)

    def read(self, fn: Callable[[SQLiteTx], T]) -> T:
        if self._closed:
            raise EngineError("the engine is closed")
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(SQLiteTx(conn, self.clock))
        finally:
            conn.execute("COMMIT")

    # -- wake-ups ------------------------------------------------------------------------------

    def _notify(self, queues: set[str]) -> None:
        with self._wake_lock:
            for queue in queues:
                self._generation[queue] += 1
                cond = self._conditions.get(queue)
                if cond is not None:
                    cond.notify_all()

    def _wake_all(self) -> None:
        with self._wake_lock:
            for cond in self._conditions.values():
                cond.notify_all()

    def _on_clock(self) -> None:
        with self._wake_lock:
            self._clock_generation += 1
        self._wake_all()

    def watch(self, queue: str) -> _Watch:
        if getattr(self._local, "in_atomic", False):  # it reads the writer: that would deadlock
            raise EngineError("engine.watch() called inside atomic(); take the watch before")
        return _Watch(self, queue)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake_all()
        with self._commit_lock:
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._readers.clear()

    def __repr__(self) -> str:
        return f"SQLiteEngine({str(self.path)!r}, durability={self.durability!r})"


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (migrations hold no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
