"""What only the PostgreSQL engine has to get right: connecting (and saying clearly why not),
its URL, migrations raced by workers starting together, and surviving a server restart."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from overcast.clock import ManualClock
from overcast.engine import Maintained, open_engine
from overcast.engine.base import NewMessage, QueueSpec
from overcast.errors import ConfigError, EngineError, EngineUnavailable
from overcast.testing.postgres import PostgresServer, free_port


def test_wrong_credentials_are_one_clear_line_without_the_password(postgres_server: PostgresServer) -> None:
    url = postgres_server.url(password="not-the-password")
    with pytest.raises(EngineUnavailable) as err:
        open_engine(url)
    message = str(err.value)
    assert "password authentication failed" in message and "check the user and password" in message
    assert "not-the-password" not in message and "\n" not in message
    assert f"127.0.0.1:{postgres_server.port}" in message


def test_an_unreachable_server_and_a_missing_database_are_clear(postgres_server: PostgresServer) -> None:
    with pytest.raises(EngineUnavailable, match="cannot connect to PostgreSQL .* Connection refused"):
        open_engine(f"postgresql://u:p@127.0.0.1:{free_port()}/db")
    with pytest.raises(EngineUnavailable, match='database "nope" does not exist .*createdb'):
        open_engine(postgres_server.url("nope"))


def test_bad_urls_are_config_errors(postgres_server: PostgresServer) -> None:
    with pytest.raises(ConfigError, match="invalid URI query parameter"):
        open_engine(postgres_server.url(bogus="1"))
    with pytest.raises(ConfigError, match="durability"):
        open_engine(postgres_server.url(durability="sometimes"))


def test_a_missing_driver_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from overcast.engine import open_engine\n"
        "from overcast.errors import ConfigError\n"
        "try:\n    open_engine('postgresql://u:p@127.0.0.1:1/db')\n"
        "except ConfigError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "the PostgreSQL engine needs psycopg: pip install 'overcast[postgres]'"


def test_postgres_scheme_options_and_durability(postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_schema_url().replace("postgresql://", "postgres://", 1) + "&durability=full&pool_size=2"
    engine = open_engine(url, durability="normal")  # the argument wins over the URL, as on SQLite
    assert "***" in repr(engine) and postgres_server.password not in repr(engine)
    setting = engine.read(lambda tx: tx._conn.execute("SHOW synchronous_commit").fetchone())  # type: ignore[attr-defined]
    schema = engine.read(lambda tx: tx._conn.execute("SELECT current_schema()").fetchone())  # type: ignore[attr-defined]
    engine.close()
    assert setting == ("off",)
    assert schema[0].startswith("t")  # options=-csearch_path=... went to the server


def test_workers_starting_together_migrate_once(postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_schema_url("m")
    engines: list[object] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            engines.append(open_engine(url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(engines) == 6
    first = engines[0]
    assert isinstance(first, Maintained)
    versions = first.read(lambda tx: tx._conn.execute("SELECT version FROM overcast_schema").fetchall())  # type: ignore[attr-defined]
    assert [v for (v,) in versions] == list(range(1, first.schema_version() + 1))
    for e in engines:
        e.close()  # type: ignore[attr-defined]


def test_an_engine_survives_a_server_restart(postgres_server: PostgresServer, clock: ManualClock) -> None:
    url = postgres_server.fresh_schema_url()
    engine = open_engine(url, clock=clock)
    other = open_engine(url, clock=clock)
    engine.atomic(lambda tx: tx.queue_create(QueueSpec("q")))
    engine.watch("q")  # the listening connection is up before the restart
    for i in range(4):  # several pooled connections, all of which the restart breaks
        engine.atomic(lambda tx, i=i: tx.queue_send("q", [NewMessage(str(i), "before")]))
    postgres_server.restart()
    # the transaction meets a dead connection, retries on a fresh one, and succeeds
    engine.atomic(lambda tx: tx.queue_send("q", [NewMessage("after", "after")]))
    assert engine.read(lambda tx: tx.queue_stats("q")).visible == 5
    # and long polls are woken again by other processes once the listener is back
    deadline = time.monotonic() + 10
    while not engine._listening and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    watch = engine.watch("q")
    timer = threading.Timer(0.2, lambda: other.atomic(lambda tx: tx.queue_send("q", [NewMessage("x", "x")])))
    timer.start()
    start = time.monotonic()
    watch.wait(10)
    timer.join()
    assert time.monotonic() - start < 3
    engine.close()
    other.close()


def test_a_closed_engine_refuses_work(postgres_server: PostgresServer) -> None:
    engine = open_engine(postgres_server.fresh_schema_url())
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.atomic(lambda tx: tx.queue_list())
