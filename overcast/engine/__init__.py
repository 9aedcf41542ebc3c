"""Storage engines. ``open_engine(url)`` picks one by URL scheme.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (query ``?durability=full``)
opens the embedded SQLite engine. Services receive an ``Engine`` and never know which one.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

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
    "Lease",
    "LogRecord",
    "NewMessage",
    "QueueSpec",
    "QueueStats",
    "StoredMessage",
    "Tx",
    "Watch",
    "open_engine",
]


def open_engine(url: str, *, clock: Clock | None = None, durability: str | None = None) -> Engine:
    """Open the engine a URL names. ``durability`` overrides the URL's ``?durability=``."""
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
        return SQLiteEngine(path, clock=clock, durability=durability or options.get("durability", "normal"))
    if parts.scheme in ("postgresql", "postgres"):
        raise ConfigError(
            "the PostgreSQL engine is not available in this version of Overcast; use sqlite:///PATH"
        )
    raise ConfigError(
        f"engine URL {url!r}: unknown scheme {parts.scheme!r} (expected sqlite:///PATH)"
    )
