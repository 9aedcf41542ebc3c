"""Overcast benchmarks, side by side with the raw engine and the peers, in one run.

    .venv/bin/pip install -q -e '.[bench]' && .venv/bin/python benchmarks/run.py [--seconds 2]

Prints one table per topic with ratios (machines here are shared and noisy: compare ratios
measured in the same run, not absolute figures across runs).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

console = Console()


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Operations per second of ``fn`` (which returns how many operations it did), best of 3."""
    fn()  # warm up
    best = 0.0
    for _ in range(3):
        done = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            done += fn()
        best = max(best, done / elapsed)
    return best


# -- queue cycles ----------------------------------------------------------------------------


def overcast_cycles(folder: str, durability: str, batch: int, seconds: float) -> float:
    from overcast import App

    app = App("bench", engine=f"sqlite:///{folder}/overcast-{durability}-{batch}.db", durability=durability)
    q = app.queue("bench")
    if batch == 1:
        def cycle() -> int:
            q.send({"n": 1})
            [m] = q.receive(1)
            q.delete(m.receipt)
            return 1
    else:
        entries = [{"n": i} for i in range(batch)]

        def cycle() -> int:
            q.send_batch(entries)
            got = q.receive(batch)
            q.delete_batch(got)
            return len(got)
    try:
        return rate(cycle, seconds)
    finally:
        app.close()


def engine_cycles(folder: str, batch: int, seconds: float) -> float:
    """The engine's queue primitive alone (durability normal), without the service layer's
    validation and Message objects: the floor under ``overcast_cycles``."""
    from overcast.engine import open_engine
    from overcast.engine.base import NewMessage, QueueSpec
    from overcast.events import message_id

    engine = open_engine(f"sqlite:///{folder}/engine-{batch}.db")
    engine.atomic(lambda tx: tx.queue_create(QueueSpec(name="bench")))
    json_only = {"$json": True}

    def cycle() -> int:
        messages = [NewMessage(id=message_id(), body='{"n": 1}', attributes=json_only) for _ in range(batch)]
        engine.atomic(lambda tx: tx.queue_send("bench", messages))
        got = engine.atomic(lambda tx: tx.queue_receive("bench", batch, 30.0))
        receipts = [m.receipt for m in got]
        if batch == 1:
            engine.atomic(lambda tx: tx.queue_delete_message("bench", receipts[0]))
        else:
            engine.atomic(lambda tx: tx.queue_delete_messages("bench", receipts))
        return len(got)

    try:
        return rate(cycle, seconds)
    finally:
        engine.close()


def sql_floor_cycles(folder: str, batch: int, seconds: float) -> float:
    """The engine's own SQL statements (insert, un-hide + take, delete) on its own schema, run
    from a bare loop with prebuilt parameters and the raw row's WAL settings: what any Python
    layer over this storage is bounded by."""
    import json

    from overcast.engine import open_engine
    from overcast.engine.base import QueueSpec
    from overcast.engine.sqlite._base import QUERIES

    path = f"{folder}/floor-{batch}.db"
    engine = open_engine(f"sqlite:///{path}")
    engine.atomic(lambda tx: tx.queue_create(QueueSpec(name="bench")))
    engine.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    rows = [{"queue": "bench", "id": f"00000000-0000-4000-8000-{i:012d}", "body": '{"n": 1}',
             "attributes": '{"$json": true}', "priority": 0, "group_id": None, "dedup_id": None,
             "now": 0.0, "delay": 0.0, "expires_at": 1e12} for i in range(batch)]

    def cycle() -> int:
        now = time.time()
        for row in rows:
            row["now"] = now
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(QUERIES["message_insert"], rows)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(QUERIES["unhide"], {"queue": "bench", "now": now})
        got = conn.execute(QUERIES["receive_take"], {"queue": "bench", "now": now, "visibility_timeout": 30.0,
                                                     "token": "t", "limit": batch}).fetchall()
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(QUERIES["messages_delete"], {"queue": "bench", "seqs": json.dumps([g[0] for g in got]),
                                                  "receipts": json.dumps([g[11] for g in got])})
        conn.execute("COMMIT")
        return len(got)

    try:
        return rate(cycle, seconds)
    finally:
        conn.close()


def raw_sqlite_cycles(folder: str, durability: str, batch: int, seconds: float) -> float:
    conn = sqlite3.connect(f"{folder}/raw-{durability}-{batch}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    conn.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY, body TEXT, visible_at REAL, receipt TEXT)")
    conn.execute("CREATE INDEX m_v ON m (visible_at)")
    body = '{"n": 1}'

    def cycle() -> int:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO m (body, visible_at) VALUES (?, ?)", [(body, 0.0)] * batch)
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "UPDATE m SET visible_at = ?, receipt = ? WHERE seq IN "
            "(SELECT seq FROM m WHERE visible_at <= ? ORDER BY seq LIMIT ?) RETURNING seq, body",
            (time.time() + 30, "r", time.time(), batch),
        ).fetchall()
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM m WHERE seq = ?", [(r[0],) for r in rows])
        conn.execute("COMMIT")
        return len(rows)

    try:
        return rate(cycle, seconds)
    finally:
        conn.close()


def moto_cycles(batch: int, seconds: float) -> float | None:
    try:
        import boto3
        from moto import mock_aws
    except ImportError:
        return None
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]

        def cycle() -> int:
            if batch == 1:
                sqs.send_message(QueueUrl=url, MessageBody='{"n": 1}')
            else:
                sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "MessageBody": '{"n": 1}'} for i in range(batch)])
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch).get("Messages", [])
            if batch == 1:
                for m in got:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            elif got:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            return len(got)

        return rate(cycle, seconds)


# -- invoke ----------------------------------------------------------------------------------


def overcast_invoke(folder: str, seconds: float) -> float:
    import invoke_app

    os.environ["OVERCAST_ENGINE"] = f"sqlite:///{folder}/invoke.db"
    app = invoke_app.app
    app.invoke("echo", {"n": 1})

    def call() -> int:
        app.invoke("echo", {"n": 1})
        return 1

    try:
        return rate(call, seconds)
    finally:
        app.close()


def bare_pool_invoke(seconds: float) -> float:
    import invoke_app

    with concurrent.futures.ProcessPoolExecutor(1, mp_context=__import__("multiprocessing").get_context("spawn")) as pool:
        pool.submit(invoke_app.echo, {"n": 1}).result()

        def call() -> int:
            pool.submit(invoke_app.echo, {"n": 1}).result()
            return 1

        return rate(call, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--only", action="append", metavar="TOPIC",
                        help="run only this topic (queues, invoke, events, workflows, gateway, postgres); repeatable")
    args = parser.parse_args()
    wanted = set(args.only or [])
    s = args.seconds
    console.print(f"[bold]Overcast benchmarks[/bold] — {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
                  f"{s:g}s per figure, best of 3")
    with tempfile.TemporaryDirectory(prefix="overcast-bench-") as folder:
        if not wanted or "queues" in wanted:
            queue_table(s, folder)
        if not wanted or "invoke" in wanted:
            invoke_table(s, folder)

        # every other topic is a module bench_*.py here with run(console, seconds, folder)
        import importlib

        for path in sorted(Path(__file__).parent.glob("bench_*.py")):
            if not wanted or path.stem.removeprefix("bench_") in wanted:
                module = importlib.import_module(path.stem)
                module.run(console, s, folder)


def queue_table(s: float, folder: str) -> None:
    table = Table(title="queue full cycles per second (send → receive → delete)", title_justify="left")
    for col in ["system", "one at a time", "vs raw", "batches of 10", "vs raw"]:
        table.add_column(col, justify="right" if col != "system" else "left")
    raws: dict[str, tuple[float, float]] = {}
    for durability in ["normal", "full"]:
        with console.status(f"raw SQLite ({durability})"):
            raws[durability] = (raw_sqlite_cycles(folder, durability, 1, s),
                                raw_sqlite_cycles(folder, durability, 10, s))
        table.add_row(f"raw SQLite, synchronous={durability.upper()}", f"{raws[durability][0]:,.0f}", "1.00",
                      f"{raws[durability][1]:,.0f}", "1.00")
    with console.status("Overcast's SQL alone"):
        sql = (sql_floor_cycles(folder, 1, s), sql_floor_cycles(folder, 10, s))
    table.add_row("Overcast's SQL alone, no Python layer (normal)", f"{sql[0]:,.0f}",
                  f"{sql[0] / raws['normal'][0]:.2f}", f"{sql[1]:,.0f}", f"{sql[1] / raws['normal'][1]:.2f}")
    with console.status("Overcast engine primitive"):
        floor = (engine_cycles(folder, 1, s), engine_cycles(folder, 10, s))
    table.add_row("Overcast engine primitive alone (normal)", f"{floor[0]:,.0f}",
                  f"{floor[0] / raws['normal'][0]:.2f}", f"{floor[1]:,.0f}", f"{floor[1] / raws['normal'][1]:.2f}")
    overcast_normal = (0.0, 0.0)
    for durability in ["normal", "full"]:
        with console.status(f"Overcast ({durability})"):
            one = overcast_cycles(folder, durability, 1, s)
            ten = overcast_cycles(folder, durability, 10, s)
        if durability == "normal":
            overcast_normal = (one, ten)
        raw = raws[durability]
        table.add_row(f"Overcast SQLite, durability={durability}", f"{one:,.0f}", f"{one / raw[0]:.2f}",
                      f"{ten:,.0f}", f"{ten / raw[1]:.2f}")
    with console.status("moto SQS"):
        moto = (moto_cycles(1, s), moto_cycles(10, s))
    if moto[0] is None or moto[1] is None:
        table.add_row("moto SQS (mock_aws)", "not installed", "", "", "")
    else:
        table.add_row("moto SQS (mock_aws)", f"{moto[0]:,.0f}", f"{moto[0] / raws['normal'][0]:.3f}",
                      f"{moto[1]:,.0f}", f"{moto[1] / raws['normal'][1]:.3f}")
    console.print(table)
    if moto[0] and moto[1]:
        console.print(f"Overcast (normal) vs moto: {overcast_normal[0] / moto[0]:.1f}x one at a time, "
                      f"{overcast_normal[1] / moto[1]:.1f}x in batches of 10")


def invoke_table(s: float, folder: str) -> None:
    with console.status("invoke"):
        bare = bare_pool_invoke(s)
        ours = overcast_invoke(folder, s)
    inv = Table(title="warm synchronous invoke round trips per second", title_justify="left")
    inv.add_column("system")
    inv.add_column("calls/s", justify="right")
    inv.add_column("latency", justify="right")
    inv.add_column("vs bare pool", justify="right")
    inv.add_row("concurrent.futures.ProcessPoolExecutor (bare)", f"{bare:,.0f}", f"{1e6 / bare:,.0f} µs", "1.00")
    inv.add_row("Overcast app.invoke", f"{ours:,.0f}", f"{1e6 / ours:,.0f} µs", f"{ours / bare:.2f}")
    console.print(inv)


if __name__ == "__main__":
    main()
