"""What every PostgreSQL primitive module shares: the transaction's connection and its queries.

Before changing: a ``Tx`` runs at READ COMMITTED on one pooled connection, and every operation
must be safe against other transactions running at the same time (other threads, other worker
processes, other machines) — unlike SQLite, nothing here is serialized by a single writer. An
operation either locks what it decides on (``FOR UPDATE``, an advisory lock) or is one upsert.

Statements go out in libpq pipeline mode, where everything up to a Sync is one transaction:
a transaction of one statement (most are) costs that statement and the Sync — no BEGIN, no
COMMIT. A second statement is preceded by a BEGIN, which turns the transaction so far into an
explicit block (PostgreSQL allows this), so that it can end with COMMIT or ROLLBACK; a failed
one-statement transaction is undone with BEGIN + ROLLBACK (a bare ROLLBACK would work too,
with a warning in the server log). ``_execute`` is the only way to send a statement.

And the first statement of a write transaction may be held back (``_blind``): an op whose
result only tells whether it did what its caller assumes (a send, a delete, a visibility
change) returns at once as if it did. If nothing follows, the statement goes out with the
commit — the whole transaction in one round trip. If its count says it did not (no such queue,
a stale receipt), the engine runs the transaction again with nothing held back (``Replay``), so
the op raises where it should: this relies on ``atomic``'s rule that ``fn`` may run again.

A receive, whose rows its caller needs at once, cannot wait for the commit; as the first
statement it commits on its own, in its one round trip (``_commit_ahead``), so that it never
holds the messages' row locks across a round trip to this process (another worker's delete of a
message it skipped would wait for that). It leaves a statement that takes it back: if ``fn``
then sends another statement, or fails, the receive is taken back (``Replay`` again).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from psycopg.pq import TransactionStatus

from overcast.clock import Clock
from overcast.engine.queries import load_queries

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]
    Cursor = psycopg.Cursor[tuple[Any, ...]]

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def to_psycopg(sql: str) -> str:
    """``:name`` parameters (as in every engine's queries.sql) to psycopg's ``%(name)s``.

    The result is our own SQL, from the package's files: as trusted as a literal string."""
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


QUERIES: dict[str, str] = {
    name: to_psycopg(sql) for name, sql in load_queries("overcast.engine.postgres").items()
}


class Replay(BaseException):  # noqa: N818 - a signal to the engine, not an error
    """A held-back statement did not do what its op assumed: run the transaction again, with
    nothing held back. (A BaseException, so that an ``except Exception`` in ``fn`` lets it by.)"""


class TxBase:
    """One transaction on one connection; primitive mixins add the operations."""

    def __init__(
        self, conn: Connection, clock: Clock, *, writable: bool, channel: str, strict: bool = False
    ) -> None:
        self._connection = conn
        self._channel = channel  # where this schema's wake-ups are notified
        self._clock = clock
        self._writable = writable
        self._pipeline: contextlib.ExitStack | None = None  # open from the first statement on
        self._statements = 0
        self._explicit = False  # a BEGIN was sent: the transaction ends with COMMIT or ROLLBACK
        self._strict = strict or not writable  # hold nothing back
        self._held: tuple[str, dict[str, Any]] | None = None  # the held-back first statement
        self._held_cursor: Cursor | None = None  # ... once sent, until its count is checked
        self._undo: tuple[str, dict[str, Any]] | None = None  # takes back what committed ahead
        # from the moment the COMMIT (or the Sync that commits) may have reached the server, a
        # lost connection leaves the outcome unknown: the engine must not run it again
        self.committing = False
        self._now: float | None = None
        self.touched: set[str] = set()  # queues whose waiters must wake after commit
        self.notified: set[str] = set()  # touched queues whose waiters a statement already notified
        self._locked: set[tuple[str, str, str]] = set()  # kv keys locked by this transaction

    def now(self) -> float:
        # One reading per transaction: every rule in it sees the same instant.
        if self._now is None:
            self._now = self._clock.now()
        return self._now

    # -- statements ----------------------------------------------------------------------------

    @property
    def _conn(self) -> Connection:
        """The connection, for one statement not in queries.sql (as ``_execute`` would send)."""
        self._next_statement()
        return self._connection

    def _next_statement(self) -> None:
        conn = self._connection
        self._not_ahead()
        if self._pipeline is None:
            self._pipeline = contextlib.ExitStack()
            self._pipeline.enter_context(conn.pipeline())
            if not self._writable:  # a read sees one snapshot and cannot write
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                self._explicit = True
            if self._held is not None:  # it goes first, in the same round trip as this one
                sql, params = self._held
                self._held = None
                self._held_cursor = conn.execute(sql, params)
                self._statements = 1
        if self._statements and not self._explicit:
            conn.execute("BEGIN")  # the implicit transaction so far becomes an explicit block
            self._explicit = True
        self._statements += 1

    def _execute(self, sql: str, params: dict[str, Any]) -> Cursor:
        """Send a statement; its result (and any error) arrives when a fetch needs it."""
        self._next_statement()
        cursor = self._connection.execute(sql, params)
        if self._held_cursor is not None:
            held, self._held_cursor = self._held_cursor, None
            if not _counted(held):
                raise Replay
        return cursor

    def _exec(self, _query: str, /, **params: Any) -> None:
        """A statement whose result nobody reads (an error still fails the transaction)."""
        self._execute(QUERIES[_query], params)

    def _one(self, _query: str, /, **params: Any) -> Any:
        return self._execute(QUERIES[_query], params).fetchone()

    def _all(self, _query: str, /, **params: Any) -> list[Any]:
        return self._execute(QUERIES[_query], params).fetchall()

    def _count(self, _query: str, /, **params: Any) -> int:
        """Run a query of the form ``WITH done AS (... RETURNING 1) SELECT count(*) FROM done``."""
        return _counted(self._execute(QUERIES[_query], params))

    def _blind(self, _query: str, /, **params: Any) -> int | None:
        """``_count`` for an op whose count only says whether it did what its caller assumes:
        None when the statement is held back (carry on as if it did; see the module doc)."""
        if self._strict or self._statements or self._held is not None:
            return self._count(_query, **params)
        self._not_ahead()
        self._held = (QUERIES[_query], params)
        return None

    def _may_commit_ahead(self) -> bool:
        """Whether the next statement may be a transaction of its own (see the module doc)."""
        return not (self._strict or self._statements or self._held or self._undo or self._pipeline)

    def _commit_ahead(self, _query: str, /, undo: str, **params: Any) -> list[Any]:
        """Run the first statement as a transaction of its own, committed in the same round
        trip, and return its rows. The query ``undo`` takes it back, with the parameters the
        caller puts in ``self._undo[1]`` (none: nothing to take back)."""
        self.committing = True  # in autocommit, the statement's Sync commits it
        rows = self._connection.execute(QUERIES[_query], params).fetchall()
        self.committing = False
        self._undo = (QUERIES[undo], {})  # the caller fills in what to put back
        return rows

    def _not_ahead(self) -> None:
        """Before anything follows a statement committed ahead: take it back, run again."""
        if self._undo is not None:
            self._take_back()
            raise Replay

    def _take_back(self) -> None:
        undo, self._undo = self._undo, None
        if undo is not None and undo[1]:
            self._connection.execute(*undo)  # a transaction of its own

    # -- the end -------------------------------------------------------------------------------

    @property
    def begun(self) -> bool:
        """Whether any statement was sent (a transaction that sent none has nothing to end)."""
        return self._pipeline is not None

    def finish(self, *, commit: bool, notify: Callable[[TxBase], None] | None = None) -> None:
        """End the transaction: commit (after ``notify``'s statements, if given) or roll back,
        and wait for the server to confirm (a COMMIT waits for its WAL to be flushed)."""
        conn = self._connection
        if self._undo is not None:
            if commit:
                self._undo = None  # what committed ahead stays: it was the whole transaction
            else:
                self._take_back()
        held, self._held = self._held, None
        if held is not None and commit:  # the only statement: it goes out with the commit
            self.committing = True  # the Sync that follows it commits
            if notify is None:  # one statement in autocommit: exactly that, and cheaper
                cursor = conn.execute(*held)
            else:
                with conn.pipeline():
                    cursor = conn.execute(*held)
                    notify(self)
            if not _counted(cursor):
                raise Replay  # what it did (nothing) is committed; the run again will raise
            return
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is None:
            return
        failed = conn.info.transaction_status == TransactionStatus.INERROR
        if commit and not failed:
            if notify is not None:
                notify(self)
            self.committing = True  # a COMMIT runs as it arrives; an implicit one at the Sync
            if self._explicit:
                conn.execute("COMMIT")
        elif not failed and not conn.broken:
            if not self._explicit:
                conn.execute("BEGIN")
            conn.execute("ROLLBACK")
        pipeline.close()  # Sync: the implicit transaction commits, or the block has ended


def _counted(cursor: Cursor) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0
