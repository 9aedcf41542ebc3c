"""Queue full cycles per second with 1, 2 and 4 worker processes: Overcast on PostgreSQL next to
raw psycopg ``FOR UPDATE SKIP LOCKED`` on the same server, in the same run, and Overcast on SQLite.

    .venv/bin/python benchmarks/bench_postgres.py [--seconds 2]    (or with every topic: run.py)

It starts its own PostgreSQL (``overcast.testing.postgres``, as the tests do) with ``fsync`` and
``synchronous_commit`` on: every committed send, receive and delete is on disk. Each worker is
a separate process doing send → receive → delete, one message at a time, on one shared queue.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

PROCESSES = (1, 2, 4)
WARMUP = 30  # cycles each process runs before the first window

RAW_SCHEMA = """
CREATE TABLE raw_messages (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue text NOT NULL,
    body text NOT NULL,
    visible_at double precision NOT NULL,
    receipt text
);
CREATE INDEX raw_messages_order ON raw_messages (queue, seq);
"""


def _raw_worker(url: str, queue: str) -> Any:
    """The raw limit: one autocommit statement per step, no Overcast code."""
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    body = '{"n": 1}'

    def cycle() -> int:
        conn.execute("INSERT INTO raw_messages (queue, body, visible_at) VALUES (%s, %s, 0)", (queue, body))
        now = time.time()
        row = conn.execute(
            "UPDATE raw_messages SET visible_at = %s, receipt = %s WHERE seq = ("
            " SELECT seq FROM raw_messages WHERE queue = %s AND visible_at <= %s"
            " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING seq, body",
            (now + 30, "r", queue, now),
        ).fetchone()
        if row is None:
            return 0
        conn.execute("DELETE FROM raw_messages WHERE seq = %s", (row[0],))
        return 1

    return cycle, conn.close


def _overcast_worker(url: str, queue: str, durability: str | None = None) -> Any:
    from overcast import App

    app = App("bench", engine=url, durability=durability)
    q = app.queue(queue)

    def cycle() -> int:
        q.send({"n": 1})
        got = q.receive(1)
        if not got:  # others hold every visible message right now
            return 0
        q.delete(got[0].receipt)
        return 1

    return cycle, app.close


def _process(kind: str, url: str, queue: str, seconds: float, rounds: int, go: Any, results: Any) -> None:
    if kind == "raw":
        cycle, close = _raw_worker(url, queue)
    elif kind.startswith("sqlite-"):
        cycle, close = _overcast_worker(url, queue, kind.removeprefix("sqlite-"))
    else:
        cycle, close = _overcast_worker(url, queue)
    try:
        for _ in range(WARMUP):
            cycle()
        for _ in range(rounds):
            go.wait(600)  # every process of this kind starts at once
            done = 0
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                done += cycle()
            results.put(done / elapsed)
    finally:
        close()


def measure(systems: dict[str, str], processes: int, seconds: float, rounds: int = 3) -> dict[str, float]:
    """Cycles per second of ``processes`` workers of each system running together, best of
    ``rounds`` windows of ``seconds``. The systems take turns window by window, so that the
    load of a shared machine weighs on each of them alike."""
    ctx = multiprocessing.get_context("spawn")
    crews = {}
    for kind, url in systems.items():
        go, results = ctx.Barrier(processes + 1), ctx.Queue()
        queue = f"bench-{kind}-{processes}"
        procs = [ctx.Process(target=_process, args=(kind, url, queue, seconds, rounds, go, results))
                 for _ in range(processes)]
        for p in procs:
            p.start()
        crews[kind] = (go, results, procs)
    best = dict.fromkeys(systems, 0.0)
    for _ in range(rounds):
        for kind, (go, results, _procs) in crews.items():
            go.wait(600)
            best[kind] = max(best[kind], sum(results.get(timeout=seconds + 600) for _ in range(processes)))
    for _go, _results, procs in crews.values():
        for p in procs:
            p.join(60)
    return best


def run(console: Console, seconds: float, folder: str) -> dict[str, dict[int, float]]:
    from overcast.engine import open_engine
    from overcast.testing.postgres import PostgresServer

    figures: dict[str, dict[int, float]] = {}
    with PostgresServer(fsync=True, synchronous_commit=True) as server:
        raw_url = server.fresh_schema_url("raw")
        ours_url = server.fresh_schema_url("overcast")
        import psycopg

        with psycopg.connect(raw_url, autocommit=True) as conn:
            conn.execute(RAW_SCHEMA.encode())
        open_engine(ours_url).close()  # migrated before any worker starts
        for n in PROCESSES:
            systems = {
                "raw": raw_url,
                "postgres": ours_url,
                "sqlite-full": f"sqlite:///{folder}/bench-pg-full-{n}.db",
                "sqlite-normal": f"sqlite:///{folder}/bench-pg-normal-{n}.db",
            }
            with console.status(f"{n} worker process(es) of each system"):
                for kind, rate in measure(systems, n, seconds / 3).items():
                    figures.setdefault(kind, {})[n] = rate

    raw = figures["raw"]
    table = Table(title="queue full cycles per second, N worker processes on one queue, best of 3 "
                        "(PostgreSQL: fsync and synchronous_commit on)", title_justify="left")
    table.add_column("system")
    for n in PROCESSES:
        table.add_column(f"{n} process{'es' if n > 1 else ''}", justify="right")
    table.add_column(f"vs raw PG at {PROCESSES[-1]}", justify="right")
    names = {
        "raw": "raw psycopg, FOR UPDATE SKIP LOCKED",
        "postgres": "Overcast PostgreSQL",
        "sqlite-full": "Overcast SQLite, durability=full",
        "sqlite-normal": "Overcast SQLite, durability=normal",
    }
    last = PROCESSES[-1]
    for kind, name in names.items():
        row = figures[kind]
        table.add_row(name, *[f"{row[n]:,.0f}" for n in PROCESSES], f"{row[last] / raw[last]:.2f}")
    console.print(table)
    ours = figures["postgres"]
    console.print(
        f"Overcast PostgreSQL: {ours[last] / raw[last]:.2f} of raw with {last} processes "
        f"(target ≥ 0.50); {ours[1]:,.0f} → {ours[last]:,.0f} cycles/s from 1 to {last} processes "
        f"({ours[last] / ours[1]:.1f}x)"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    console = Console()
    console.print(f"[bold]Overcast on PostgreSQL[/bold] — {os.cpu_count()} cores, "
                  f"{time.strftime('%Y-%m-%d')}, {args.seconds:g}s per figure")
    with tempfile.TemporaryDirectory(prefix="overcast-bench-") as folder:
        run(console, args.seconds, folder)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
