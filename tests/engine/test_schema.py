"""Schema versions, migrations and status, as every engine offers them (``Maintained``)."""

from __future__ import annotations

import sqlite3

import pytest

from overcast.clock import ManualClock
from overcast.engine import Maintained, open_engine
from overcast.engine.base import NewMessage, QueueSpec
from overcast.errors import EngineError


def execute(url: str, sql: str) -> None:
    """Run SQL on an engine's database behind its back (what an old or newer Overcast did)."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql)
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.encode())


def test_a_fresh_database_is_migrated_on_open_and_reports_its_version(engine_url: str) -> None:
    bare = open_engine(engine_url, migrate=False)
    assert isinstance(bare, Maintained)
    assert bare.schema_version() == 0
    latest = bare.migrate()[1]
    assert latest >= 1 and bare.migrate() == (latest, latest)  # once only
    bare.close()
    engine = open_engine(engine_url)
    assert isinstance(engine, Maintained) and engine.schema_version() == latest
    engine.close()


def test_a_schema_newer_than_the_code_is_refused(engine_url: str) -> None:
    open_engine(engine_url).close()
    execute(engine_url, "INSERT INTO overcast_schema (version"
            + (", applied_at) VALUES (999, 0)" if engine_url.startswith("postgres") else ") VALUES (999)"))
    with pytest.raises(EngineError, match="schema version 999, newer than this Overcast"):
        open_engine(engine_url)


def test_status_shows_tables_and_the_oldest_message_per_queue(engine_url: str, clock: ManualClock) -> None:
    engine = open_engine(engine_url, clock=clock)
    engine.atomic(lambda tx: [tx.queue_create(QueueSpec(n)) for n in ("a", "b")])
    engine.atomic(lambda tx: tx.queue_send("a", [NewMessage("1", "x")]))
    sent = clock.now()
    clock.advance(90)
    engine.atomic(lambda tx: tx.queue_send("a", [NewMessage("2", "y")]))
    assert isinstance(engine, Maintained)
    status = engine.status()
    engine.close()
    assert status["schema_version"] == status["code_schema_version"] >= 1
    assert status["now"] == clock.now()
    tables = {t["table"]: t for t in status["tables"]}
    assert {"queues", "messages", "kv", "log_records", "blobs", "leases"} <= set(tables)
    assert tables["messages"]["rows"] == 2 and tables["queues"]["rows"] == 2
    assert status["queues"] == [
        {"queue": "a", "messages": 2, "oldest_sent_at": sent},
        {"queue": "b", "messages": 0, "oldest_sent_at": None},
    ]
    assert "***" in status["url"] or "@" not in status["url"]  # never a password
