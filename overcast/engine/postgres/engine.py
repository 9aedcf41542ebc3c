"""The PostgreSQL engine: any number of processes on any number of machines share one database.

A pool of connections (psycopg_pool) runs transactions at READ COMMITTED; receivers take
messages with ``FOR UPDATE SKIP LOCKED``; long polls wait on ``LISTEN/NOTIFY`` (one listening
connection per engine hands wake-ups to the threads waiting in this process); schema migrations
run on open under an advisory lock, so workers starting together do not race.

Before changing: ``atomic(fn)`` may run ``fn`` more than once — after a deadlock, a
serialization failure, a lost race on a unique key, a connection that broke before the commit
was sent (a server restart), or when an op sent only with the commit turns out to have failed
(see ``_base``: most one-op transactions take one round trip that way) — so ``fn`` must do
nothing but its work on ``tx``. A connection lost *while* committing is not retried (the
transaction may have been applied): the caller gets ``EngineUnavailable`` and at-least-once
delivery does the rest.

Wake-ups cost nothing when nobody waits. An engine that watches a queue first registers as a
waiter on it (``queue_waiters``), and a transaction that changed a queue ends with
``overcast_notify_waiters`` (in the migrations), which sends a NOTIFY only if the queue has a
waiter — a NOTIFY is not free: a transaction holding one takes a cluster-wide lock through its
commit, so a busy queue whose consumers never wait should send none. An advisory lock makes it
race-free (the function's comment says how); the waiters in this process are woken at once.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from overcast.clock import Clock, SystemClock
from overcast.engine import display_url
from overcast.engine.postgres._base import QUERIES, Replay, TxBase
from overcast.engine.postgres.blob import BlobOps
from overcast.engine.postgres.kv import KvOps
from overcast.engine.postgres.lease import LeaseOps
from overcast.engine.postgres.log import LogOps
from overcast.engine.postgres.queue import QueueOps
from overcast.engine.queries import load_migrations
from overcast.errors import ConfigError, EngineError, EngineUnavailable

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

log = logging.getLogger("overcast.engine.postgres")

MIGRATIONS = "overcast.engine.postgres.migrations"
SCHEMA_VERSION = len(load_migrations(MIGRATIONS))
MIGRATION_LOCK = 0x6F7663617374  # "ovcast": the advisory lock key that serializes migrations
TABLES = ("queues", "messages", "dedup", "queue_waiters", "log_records", "log_heads", "log_checkpoints", "kv",
          "blobs", "leases")

# URL query options Overcast reads itself; every other option goes to libpq as it is
OPTIONS = {"pool_size", "pool_timeout", "durability"}
DURABILITY = {"full": "on", "normal": "off"}  # engine durability -> synchronous_commit

# SQLSTATEs after which the whole transaction is run again: serialization failure, deadlock,
# and a unique key taken by a concurrent transaction (a re-run sees the winner's row, as the
# loser of the race would have on a single writer)
RETRYABLE = {"40001", "40P01", "23505"}
MAX_CONFLICT_ATTEMPTS = 12
RECONNECT_WINDOW = 20.0  # seconds a transaction keeps trying to reach a server that went away
_LISTEN_POLL = 0.5  # seconds the listener waits between checks for shutdown
WAITER_TTL = 60.0  # seconds a waiter registration lasts (server time); renewed at half of it


class PostgresTx(QueueOps, LogOps, KvOps, BlobOps, LeaseOps):
    """Every primitive operation, on one PostgreSQL transaction."""


def parse_url(url: str) -> tuple[str, dict[str, str], str]:
    """Split an engine URL into (libpq conninfo, Overcast's own options, URL safe to show)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"engine URL {url!r} is not a postgresql:// URL")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in OPTIONS}
    theirs = [(k, v) for k, v in query if k not in OPTIONS]
    libpq_url = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(theirs), ""))
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"engine URL {display_url(url)}: {_first_line(exc)}") from None
    params.setdefault("connect_timeout", "10")
    params.setdefault("application_name", "overcast")
    if "durability" in ours and ours["durability"] not in DURABILITY:
        raise ConfigError(f"engine URL {display_url(url)}: durability must be 'normal' or 'full'")
    return make_conninfo("", **params), ours, display_url(url)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text.removeprefix("connection failed: ") or type(exc).__name__


def _unavailable(exc: psycopg.Error, where: str) -> EngineUnavailable:
    """One line that says what went wrong when connecting, and what to do."""
    reason = _first_line(exc)
    lower = reason.lower()
    if "password authentication failed" in lower or "no password supplied" in lower:
        hint = "check the user and password in the engine URL"
    elif "does not exist" in lower and "database" in lower:
        hint = "create the database (createdb) or fix its name in the engine URL"
    elif "timeout" in lower:
        hint = "is the server running and reachable at that host and port?"
    else:
        hint = ""
    return EngineUnavailable(f"cannot connect to PostgreSQL at {where}: {reason}" + (f" ({hint})" if hint else ""))


class _Watch:
    def __init__(self, engine: PostgresEngine, queue: str) -> None:
        self._engine = engine
        self._queue = queue
        engine._ensure_listening()  # listening before registering: no notification falls between
        engine._register_waiter(queue)  # registered before the caller looks: see the module doc
        with engine._cond:
            self._mark = engine._mark(queue)

    def wait(self, timeout: float) -> None:
        engine = self._engine
        deadline = time.monotonic() + timeout
        with engine._cond:
            while True:
                if engine._closed or engine._mark(self._queue) != self._mark:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if not engine._listening:
                    # no LISTEN connection right now (the server restarts?): poll instead
                    engine._cond.wait(min(remaining, 0.25))
                    return
                engine._cond.wait(remaining)


class PostgresEngine:
    """An ``Engine`` on a PostgreSQL database (``postgresql://user:pass@host:port/db``).

    URL options: ``pool_size`` (connections per engine, default 10), ``pool_timeout`` (seconds
    to wait for a free connection, default 10), ``durability`` (``full``: synchronous_commit on;
    ``normal``: off; default: the server's setting); any other option goes to libpq
    (``sslmode``, ``options=-csearch_path=NAME`` to keep Overcast in its own schema, ...).
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock | None = None,
        durability: str | None = None,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self._conninfo, options, self.display_url = parse_url(url)
        durability = durability or options.get("durability")
        if durability is not None and durability not in DURABILITY:
            raise ConfigError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.durability = durability
        try:
            pool_size = int(options.get("pool_size", "10"))
            self._pool_timeout = float(options.get("pool_timeout", "10"))
        except ValueError:
            raise ConfigError(f"engine URL {self.display_url}: pool_size and pool_timeout are numbers") from None
        self._closed = False
        self._local = threading.local()
        self._cond = threading.Condition()
        self._generation: defaultdict[str, int] = defaultdict(int)
        self._clock_generation = 0
        self._epoch = 0  # bumped whenever notifications may have been missed
        self._listening = False
        self._listener: threading.Thread | None = None
        self._listener_ready = threading.Event()
        self._stop = threading.Event()
        self._waiter_id = uuid.uuid4().hex
        self._registered: dict[str, float] = {}  # queue -> when (monotonic) to register again
        conn = self._connect()
        try:
            if migrate:
                self._migrate(conn)
            schema = conn.execute("SELECT current_schema()").fetchone()
        finally:
            conn.close()
        if schema is None or schema[0] is None:
            raise ConfigError(f"engine URL {self.display_url}: its search_path names no existing schema")
        self.schema: str = schema[0]
        # one channel per schema, so that several Overcast databases in one server stay apart
        self.channel = "overcast" if self.schema == "public" else f"overcast:{self.schema}"[:63]
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            configure=self._configure,
            check=_check_idle,
            timeout=self._pool_timeout,
            open=False,
            name="overcast",
        )
        self._pool.open(wait=False)
        self.clock.subscribe(self._on_clock)
        self.commits = 0  # write transactions committed (for tests and benchmarks)

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> Connection:
        try:
            return psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise _unavailable(exc, self.display_url) from None

    def _configure(self, conn: Connection) -> None:
        if self.durability is not None:
            conn.execute(sql.SQL("SET synchronous_commit = {}").format(sql.SQL(DURABILITY[self.durability])))

    # -- schema --------------------------------------------------------------------------------

    def _migrate(self, conn: Connection, target: int | None = None) -> tuple[int, int]:
        migrations = load_migrations(MIGRATIONS)
        target = SCHEMA_VERSION if target is None else min(target, SCHEMA_VERSION)
        try:
            # a session lock (not a transaction's): two workers starting together take turns
            conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
            try:
                with conn.transaction():
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS overcast_schema ("
                        "version integer PRIMARY KEY, applied_at double precision NOT NULL)"
                    )
                    row = conn.execute("SELECT coalesce(max(version), 0) FROM overcast_schema").fetchone()
                    current = int(row[0]) if row else 0
                    if current > SCHEMA_VERSION:
                        raise EngineError(
                            f"database {self.display_url} has schema version {current}, newer than this "
                            f"Overcast understands ({SCHEMA_VERSION}); upgrade overcast"
                        )
                    for version, _name, script in migrations:
                        if current < version <= target:
                            conn.execute(script.encode())
                            conn.execute(
                                "INSERT INTO overcast_schema (version, applied_at) VALUES (%s, %s)",
                                [version, time.time()],
                            )
                    return current, max(current, target)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
        except psycopg.Error as exc:
            raise EngineError(f"migrating {self.display_url} failed: {_first_line(exc)}") from None

    def migrate(self, target: int | None = None) -> tuple[int, int]:
        """Apply the migrations the database lacks (up to ``target``); return the schema version
        before and after. Opening the engine does this already unless ``migrate=False``."""
        conn = self._connect()
        try:
            return self._migrate(conn, target)
        finally:
            conn.close()

    def schema_version(self) -> int:
        """The database's schema version (0: no Overcast schema yet)."""
        def version(tx: PostgresTx) -> int:
            conn = tx._conn
            if conn.execute("SELECT to_regclass('overcast_schema')").fetchone() == (None,):
                return 0
            row = conn.execute("SELECT coalesce(max(version), 0) FROM overcast_schema").fetchone()
            return int(row[0]) if row else 0

        return self.read(version)

    def status(self) -> dict[str, Any]:
        """What ``overcast engine status`` shows: schema version, table sizes, queue backlogs."""
        def gather(tx: PostgresTx) -> dict[str, Any]:
            conn = tx._conn
            tables = []
            for name in ("overcast_schema", *TABLES):
                if conn.execute("SELECT to_regclass(%s)", [name]).fetchone() == (None,):
                    continue
                rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))).fetchone()
                size = conn.execute("SELECT pg_total_relation_size(to_regclass(%s))", [name]).fetchone()
                tables.append({"table": name, "rows": rows[0] if rows else 0, "bytes": size[0] if size else None})
            queues = []
            if any(t["table"] == "queues" for t in tables):
                queues = [
                    {"queue": q, "messages": n, "oldest_sent_at": oldest}
                    for q, n, oldest in conn.execute(
                        "SELECT q.name, count(m.seq), min(m.sent_at) FROM queues q "
                        "LEFT JOIN messages m ON m.queue = q.name GROUP BY q.name ORDER BY q.name"
                    ).fetchall()
                ]
            return {"tables": tables, "queues": queues}

        found = self.read(gather)
        return {
            "engine": "postgresql",
            "url": self.display_url,
            "schema": self.schema,
            "schema_version": self.schema_version(),
            "code_schema_version": SCHEMA_VERSION,
            "now": self.clock.now(),
            **found,
        }

    # -- transactions --------------------------------------------------------------------------

    def atomic(self, fn: Callable[[PostgresTx], T]) -> T:
        if getattr(self._local, "in_atomic", False):
            raise EngineError("engine.atomic() called inside another atomic(); pass the tx instead")
        result, touched = self._run(fn, writable=True)
        self.commits += 1
        if touched:  # waiters in this process at once; the others were notified at commit
            with self._cond:
                for queue in touched:
                    self._generation[queue] += 1
                self._cond.notify_all()
        return result

    def read(self, fn: Callable[[PostgresTx], T]) -> T:
        return self._run(fn, writable=False)[0]

    def _run(self, fn: Callable[[PostgresTx], T], *, writable: bool) -> tuple[T, set[str]]:
        conflicts = 0
        reconnect_deadline: float | None = None
        strict = False
        while True:
            if self._closed:
                raise EngineError("the engine is closed")
            try:
                conn = self._pool.getconn()
            except PoolTimeout:
                raise EngineUnavailable(
                    f"no connection to PostgreSQL at {self.display_url} within {self._pool_timeout:g}s"
                ) from None
            except PoolClosed:
                raise EngineError("the engine is closed") from None
            tx: PostgresTx | None = None
            outer = getattr(self._local, "in_atomic", False)  # a read() may run inside an atomic()
            try:
                tx = PostgresTx(conn, self.clock, writable=writable, channel=self.channel, strict=strict)
                self._local.in_atomic = writable or outer
                try:
                    result = fn(tx)
                except BaseException:
                    with contextlib.suppress(psycopg.Error):
                        tx.finish(commit=False)
                    raise
                finally:
                    self._local.in_atomic = outer
                tx.finish(commit=True, notify=self._notify_waiters if tx.touched - tx.notified else None)
                return result, tx.touched
            except Replay:
                _rollback(conn)
                strict = True  # once more, every op on the spot (see _base)
                continue
            except psycopg.Error as exc:
                _rollback(conn)
                if conn.broken or (isinstance(exc, psycopg.OperationalError) and conn.closed):
                    if writable and tx is not None and tx.committing:
                        raise EngineUnavailable(
                            f"the connection to PostgreSQL at {self.display_url} was lost while "
                            "committing; the transaction may or may not have been applied"
                        ) from None
                    now = time.monotonic()
                    reconnect_deadline = reconnect_deadline or now + RECONNECT_WINDOW
                    if now > reconnect_deadline:
                        raise EngineUnavailable(
                            f"lost the connection to PostgreSQL at {self.display_url}: {_first_line(exc)}"
                        ) from None
                    log.info("connection to PostgreSQL lost (%s); retrying", _first_line(exc))
                    continue  # the broken connection leaves the pool; the next is fresh or broken too
                if exc.sqlstate in RETRYABLE and conflicts < MAX_CONFLICT_ATTEMPTS:
                    conflicts += 1
                    time.sleep(random.uniform(0, min(0.2, 0.002 * 2**conflicts)))
                    continue
                if exc.sqlstate == "25006":
                    raise EngineError(f"a write inside engine.read(): {_first_line(exc)}") from None
                raise EngineError(f"PostgreSQL: {_first_line(exc)}") from None
            except BaseException:
                _rollback(conn)
                raise
            finally:
                self._pool.putconn(conn)

    def _notify_waiters(self, tx: TxBase) -> None:
        """The last statement of a transaction that changed queues: wake their waiters, if
        they have any (``overcast_notify_waiters`` in the migrations says why it is race-free)."""
        queues = sorted(tx.touched - tx.notified)
        if queues:
            tx._connection.execute(QUERIES["notify_waiters"], {"channel": self.channel, "queues": queues})

    # -- wake-ups ------------------------------------------------------------------------------

    def _mark(self, queue: str) -> tuple[int, int, int]:
        return self._generation[queue], self._clock_generation, self._epoch

    def _on_clock(self) -> None:
        with self._cond:
            self._clock_generation += 1
            self._cond.notify_all()

    def _register_waiter(self, queue: str) -> None:
        """Make senders notify this engine about ``queue`` (done before the caller looks)."""
        if self._registered.get(queue, 0.0) > time.monotonic():
            return
        try:
            with self._pool.connection(timeout=self._pool_timeout) as conn, conn.pipeline():
                # one implicit transaction: the lock is held until the registration commits
                conn.execute(QUERIES["waiters_lock"], {"queue": queue})
                conn.execute(QUERIES["waiter_register"],
                             {"queue": queue, "waiter": self._waiter_id, "ttl": WAITER_TTL})
        except (psycopg.Error, PoolTimeout, PoolClosed) as exc:
            # the wait still ends at its timeout (or sooner, when not listening)
            log.info("could not register as a waiter on %r: %s", queue, _first_line(exc))
            return
        self._registered[queue] = time.monotonic() + WAITER_TTL / 2

    def _ensure_listening(self) -> None:
        if self._listener is None:
            with self._cond:
                if self._listener is None and not self._closed:
                    self._listener = threading.Thread(target=self._listen_loop, name="overcast-listen", daemon=True)
                    self._listener.start()
        # the first watch must not miss a send made after it: wait until LISTEN is in place
        self._listener_ready.wait(5.0)

    def _listen_loop(self) -> None:
        backoff = 0.05
        while not self._closed:
            conn: Connection | None = None
            try:
                conn = psycopg.connect(self._conninfo, autocommit=True)
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                with self._cond:
                    self._listening = True
                    self._epoch += 1  # anything may have changed while nobody listened
                    self._cond.notify_all()
                self._listener_ready.set()
                backoff = 0.05
                while not self._closed:
                    for note in conn.notifies(timeout=_LISTEN_POLL):
                        with self._cond:
                            self._generation[note.payload] += 1
                            self._cond.notify_all()
            except psycopg.Error as exc:
                if not self._closed:
                    log.info("LISTEN connection lost (%s); reconnecting", _first_line(exc))
            finally:
                with self._cond:
                    self._listening = False
                    self._cond.notify_all()
                if conn is not None:
                    conn.close()
            self._listener_ready.set()  # not listening, but nobody should wait for it now
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 1.0)

    def watch(self, queue: str) -> _Watch:
        return _Watch(self, queue)

    def close(self) -> None:
        if self._closed:
            return
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        # the listener notices within _LISTEN_POLL and closes its own connection: not waited for
        self._stop.set()
        if self._registered:
            with contextlib.suppress(psycopg.Error, PoolTimeout, PoolClosed), \
                    self._pool.connection(timeout=1.0) as conn:
                conn.execute(QUERIES["waiter_unregister"], {"waiter": self._waiter_id})
        self._pool.close(timeout=5.0)

    def __repr__(self) -> str:
        return f"PostgresEngine({self.display_url!r})"


def _check_idle(conn: Connection) -> None:
    """The pool's check of a connection it hands out, without a round trip: an idle connection
    has nothing to read unless the server is closing it (a restart sends a FATAL message, then
    EOF), so a readable one is dropped. Without this, a statement sent with its commit on a dead
    connection could not be told from one lost while committing, and would not be retried."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    fd = conn.fileno()
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        readable = bool(poller.poll(0))
    else:  # pragma: no cover - Windows
        readable = bool(select.select([fd], [], [], 0)[0])
    if readable:
        conn.close()  # so that the pool discards it (and opens another) rather than keep it
        raise psycopg.OperationalError("the server closed the connection while it was idle")


def _rollback(conn: Connection) -> None:
    if conn.broken or conn.closed:
        return
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")
