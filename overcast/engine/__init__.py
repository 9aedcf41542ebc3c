"""Storage engines. ``open_engine(url)`` picks one by URL scheme.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (query ``?durability=full``)
opens the embedded SQLite engine; ``postgresql://user:pass@host:port/db`` (or ``postgres://``)
the PostgreSQL engine, whose driver is imported only then (``pip install 'overcast[postgres]'``).
Services receive an ``Engine`` and never know which one.

Both engines also offer the operations of ``Maintained`` (schema version, migrations, status),
which are not part of the ``Engine`` protocol: the CLI's ``overcast engine`` uses them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from overcast.clock import Clock
from overcast.engine.base import (
    ABSENT,
    Blob,
    Engine,
    Item,
    Lease,
    LogRecord,
    NewMessage,
    QueueSpec,
    QueueStats,
    StoredMessage,
    Tx,
    Watch,
)
from overcast.errors import ConfigError

__all__ = [
    "ABSENT",
    "Blob",
    "Engine",
    "Item",
    "Maintained",
    "Lease",
    "LogRecord",
    "NewMessage",
    "QueueSpec",
    "QueueStats",
    "StoredMessage",
    "Tx",
    "Watch",
    "display_url",
    "open_engine",
]


def display_url(url: str) -> str:
    """The engine URL with its password masked, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit((parts.scheme, f"{user.split(':', 1)[0]}:***@{host}", parts.path, parts.query, ""))


@runtime_checkable
class Maintained(Protocol):
    """The optional operations of an engine, for operators rather than services."""

    def schema_version(self) -> int:
        """The schema version of the database (0: none yet)."""
        ...

    def migrate(self, target: int | None = None) -> tuple[int, int]:
        """Apply missing migrations (up to ``target``); return the version before and after."""
        ...

    def status(self) -> dict[str, Any]:
        """Engine kind, URL (password masked), ``schema_version``, ``code_schema_version``,
        ``now``, ``tables`` (``table``, ``rows``, ``bytes``) and ``queues`` (``queue``,
        ``messages``, ``oldest_sent_at``)."""
        ...


def open_engine(
    url: str, *, clock: Clock | None = None, durability: str | None = None, migrate: bool = True
) -> Engine:
    """Open the engine a URL names. ``durability`` overrides the URL's ``?durability=``.

    ``migrate=False`` opens a database without bringing its schema up to date (for
    ``overcast engine status|migrate``); everything else needs the default.
    """
    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "sqlite":
        from overcast.engine.sqlite.engine import SQLiteEngine

        path = parts.path
        if parts.netloc:
            raise ConfigError(
                f"engine URL {url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigError(f"engine URL {url!r} names no database file")
        unknown = set(options) - {"durability"}
        if unknown:
            raise ConfigError(f"engine URL {url!r}: unknown option(s) {', '.join(sorted(unknown))}")
        return SQLiteEngine(
            path, clock=clock, durability=durability or options.get("durability", "normal"), migrate=migrate
        )
    if parts.scheme in ("postgresql", "postgres"):
        from overcast.engine.postgres.engine import PostgresEngine

        return PostgresEngine(url, clock=clock, durability=durability, migrate=migrate)
    raise ConfigError(
        f"engine URL {url!r}: unknown scheme {parts.scheme!r} "
        "(expected sqlite:///PATH or postgresql://user:password@host:port/database)"
    )
