"""Guarantees under concurrency, between several engines on one database (as separate worker
processes have) and between threads of one engine. SQLite gets them from its single writer;
PostgreSQL from row and advisory locks — the same tests hold for both."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from overcast.clock import ManualClock
from overcast.engine import open_engine
from overcast.engine.base import Engine, NewMessage, QueueSpec


@pytest.fixture
def engines(engine: Engine, clock: ManualClock) -> Iterator[list[Engine]]:
    """Three engines on one database: the fixture's and two more, as other processes would be."""
    others = [open_engine(engine.url, clock=clock) for _ in range(2)]
    yield [engine, *others]
    for other in others:
        other.close()


def run_all(workers: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = workers[i]()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_engines_starting_together_create_the_same_queue(engines: list[Engine]) -> None:
    spec = QueueSpec("shared", visibility_timeout=12)
    created = run_all([lambda e=e: e.atomic(lambda tx: tx.queue_create(spec)) for e in engines * 3])
    assert {c.created_at for c in created} == {created[0].created_at}
    assert [s.name for s in engines[1].read(lambda tx: tx.queue_list())] == ["shared"]


def test_receivers_on_several_engines_never_share_a_message(engines: list[Engine]) -> None:
    engines[0].atomic(lambda tx: tx.queue_create(QueueSpec("q")))
    for start in range(0, 400, 100):
        engines[0].atomic(
            lambda tx, s=start: tx.queue_send("q", [NewMessage(str(i), "x") for i in range(s, s + 100)])
        )

    def consume(engine: Engine) -> list[str]:
        seen = []
        while got := engine.atomic(lambda tx: tx.queue_receive("q", 7, 30)):
            seen += [m.id for m in got]
        return seen

    results = run_all([lambda e=e: consume(e) for e in engines for _ in range(2)])
    everything = [i for r in results for i in r]
    assert sorted(everything, key=int) == [str(i) for i in range(400)]


def test_fifo_group_is_never_in_flight_twice_across_engines(engines: list[Engine]) -> None:
    engines[0].atomic(lambda tx: tx.queue_create(QueueSpec("q.fifo", fifo=True)))
    groups = ["a", "b", "c"]
    for i in range(30):
        engines[0].atomic(lambda tx, i=i: tx.queue_send(
            "q.fifo", [NewMessage(f"{g}{i}", f"{g}:{i}", group_id=g, dedup_id=f"{g}{i}") for g in groups]))
    in_flight: set[str] = set()
    handled: dict[str, list[int]] = {g: [] for g in groups}
    violations: list[str] = []
    lock = threading.Lock()

    def consume(engine: Engine) -> None:
        idle = 0
        while idle < 20:
            got = engine.atomic(lambda tx: tx.queue_receive("q.fifo", 4, 30))
            if not got:
                idle += 1
                time.sleep(0.005)
                continue
            idle = 0
            mine = {m.group_id for m in got}
            with lock:
                if mine & in_flight:
                    violations.append(f"{mine & in_flight} taken while in flight")
                in_flight.update(g for g in mine if g)
                for m in got:
                    handled[m.group_id or ""].append(int(m.body.split(":")[1]))
            time.sleep(0.002)
            with lock:
                in_flight.difference_update(mine)
            engine.atomic(lambda tx, got=got: [tx.queue_delete_message("q.fifo", m.receipt) for m in got])

    run_all([lambda e=e: consume(e) for e in engines for _ in range(2)])
    assert violations == []
    assert handled == {g: list(range(30)) for g in groups}


def test_a_dedup_id_sent_from_several_engines_at_once_is_enqueued_once(engines: list[Engine]) -> None:
    engines[0].atomic(lambda tx: tx.queue_create(QueueSpec("d.fifo", fifo=True)))
    ids = run_all([
        lambda e=e, n=n: e.atomic(lambda tx: tx.queue_send(
            "d.fifo", [NewMessage(f"m{n}", "x", group_id="g", dedup_id="same")]))[0]
        for n, e in enumerate(engines * 3)
    ])
    assert len(set(ids)) == 1
    assert engines[0].read(lambda tx: tx.queue_stats("d.fifo")).visible == 1


def test_read_modify_write_of_an_item_loses_no_update(engines: list[Engine]) -> None:
    def increment(engine: Engine) -> None:
        for _ in range(15):
            def bump(tx: Any) -> None:
                item = tx.kv_get("t", "counter")
                tx.kv_put("t", "counter", "", (item.value if item else 0) + 1)

            engine.atomic(bump)

    run_all([lambda e=e: increment(e) for e in engines for _ in range(2)])
    item = engines[0].read(lambda tx: tx.kv_get("t", "counter"))
    assert item is not None and item.value == 90 and item.version == 90


def test_exactly_one_of_many_takes_a_free_lease(engines: list[Engine], clock: ManualClock) -> None:
    won = run_all([
        lambda e=e, n=n: e.atomic(lambda tx: tx.lease_acquire("leader", f"owner-{n}", 10))
        for n, e in enumerate(engines * 3)
    ])
    assert won.count(True) == 1
    holder = engines[2].read(lambda tx: tx.lease_get("leader"))
    assert holder is not None and holder.owner == f"owner-{won.index(True)}"
    clock.advance(10)  # the holder died: after its ttl, someone else can take it
    assert engines[1].atomic(lambda tx: tx.lease_acquire("leader", "next", 10)) is True


def test_log_appenders_on_several_engines_get_strictly_increasing_numbers(engines: list[Engine]) -> None:
    def append(engine: Engine, who: int) -> list[int]:
        return [engine.atomic(lambda tx, i=i: tx.log_append("s", "0", f"{who}-{i}")) for i in range(30)]

    results = run_all([lambda e=e, n=n: append(e, n) for n, e in enumerate(engines * 2)])
    for seqs in results:
        assert seqs == sorted(seqs)  # each appender sees its own records in order
    records = engines[0].read(lambda tx: tx.log_read("s", "0", limit=1000))
    assert [r.seq for r in records] == list(range(1, 181))


def test_a_watch_wakes_on_a_send_through_another_engine(engines: list[Engine]) -> None:
    engines[0].atomic(lambda tx: tx.queue_create(QueueSpec("q")))
    watch = engines[0].watch("q")
    timer = threading.Timer(
        0.1, lambda: engines[1].atomic(lambda tx: tx.queue_send("q", [NewMessage("1", "x")])))
    timer.start()
    start = time.monotonic()
    watch.wait(10)
    elapsed = time.monotonic() - start
    timer.join()
    assert elapsed < 2.0
    assert engines[0].atomic(lambda tx: tx.queue_receive("q", 1, 30))[0].id == "1"


def test_sends_to_one_queue_do_not_wake_the_waiters_of_another(engines: list[Engine]) -> None:
    engine = engines[0]
    for name in ("busy", "quiet"):
        engine.atomic(lambda tx, name=name: tx.queue_create(QueueSpec(name)))
    stop = threading.Event()

    def send_busily() -> None:
        while not stop.is_set():
            engine.atomic(lambda tx: tx.queue_send("busy", [NewMessage(str(time.monotonic()), "x")]))
            time.sleep(0.002)

    sender = threading.Thread(target=send_busily)
    sender.start()
    try:
        watch = engine.watch("quiet")
        start = time.monotonic()
        watch.wait(0.5)
        elapsed = time.monotonic() - start
        busy_watch = engine.watch("busy")
        start = time.monotonic()
        busy_watch.wait(5)
        woken = time.monotonic() - start
    finally:
        stop.set()
        sender.join()
    assert elapsed >= 0.45  # slept through every commit to "busy"
    assert woken < 1.0  # while a waiter on "busy" wakes at once


def test_a_watch_taken_inside_a_transaction_is_refused_not_a_deadlock(engine: Engine) -> None:
    from overcast.engine.sqlite.engine import SQLiteEngine
    from overcast.errors import EngineError

    engine.atomic(lambda tx: tx.queue_create(QueueSpec("q")))
    if isinstance(engine, SQLiteEngine):  # its watch reads the writer, which the transaction holds
        with pytest.raises(EngineError, match="take the watch before"):
            engine.atomic(lambda tx: engine.watch("q"))
    else:
        engine.atomic(lambda tx: engine.watch("q"))
    engine.watch("q").wait(0.01)  # and the engine is not stuck
