"""The queue primitive, as every engine must implement it."""

from __future__ import annotations

import threading

import pytest

from overcast.clock import ManualClock
from overcast.engine.base import Engine, NewMessage, QueueSpec
from overcast.errors import InvalidReceipt, QueueAlreadyExists, QueueNotFound


def msg(i: int | str, **kw: object) -> NewMessage:
    return NewMessage(id=str(i), body=f"body-{i}", **kw)  # type: ignore[arg-type]


def create(engine: Engine, name: str = "q", **kw: object) -> QueueSpec:
    return engine.atomic(lambda tx: tx.queue_create(QueueSpec(name=name, **kw)))  # type: ignore[arg-type]


def send(engine: Engine, queue: str, *messages: NewMessage) -> list[str]:
    return engine.atomic(lambda tx: tx.queue_send(queue, list(messages)))


def receive(engine: Engine, queue: str, n: int = 10, vt: float = 30) -> list:
    return engine.atomic(lambda tx: tx.queue_receive(queue, n, vt))


def stats(engine: Engine, queue: str) -> tuple[int, int, int]:
    s = engine.read(lambda tx: tx.queue_stats(queue))
    return s.visible, s.in_flight, s.delayed


def test_create_is_idempotent_for_equal_settings_and_refuses_others(engine: Engine) -> None:
    first = create(engine, "q", visibility_timeout=10)
    again = create(engine, "q", visibility_timeout=10)
    assert again.created_at == first.created_at
    with pytest.raises(QueueAlreadyExists):
        create(engine, "q", visibility_timeout=11)
    assert [s.name for s in engine.read(lambda tx: tx.queue_list())] == ["q"]



def test_batch_delete_answers_per_receipt_and_deletes_the_good_ones(engine: Engine, clock: ManualClock) -> None:
    create(engine)
    send(engine, "q", msg(1), msg(2), msg(3), msg(4))
    first = receive(engine, "q", n=4, vt=1)
    clock.advance(2)
    second = {m.id: m for m in receive(engine, "q", n=4, vt=30)}
    gone = second["4"].receipt
    engine.atomic(lambda tx: tx.queue_delete_message("q", gone))
    receipts = [
        second["1"].receipt,
        first[1].receipt,  # message 2, received again since: stale
        "garbage",
        second["3"].receipt,
        gone,  # already deleted: accepted
        second["1"].receipt,  # twice in one batch: accepted
    ]
    results = engine.atomic(lambda tx: tx.queue_delete_messages("q", receipts))
    assert [type(r).__name__ if r else None for r in results] == [
        None, "InvalidReceipt", "InvalidReceipt", None, None, None]
    assert "stale" in str(results[1]) and "malformed" in str(results[2])
    assert stats(engine, "q") == (0, 1, 0)  # only message 2 is left, in flight
    assert engine.atomic(lambda tx: tx.queue_delete_messages("q", [second["2"].receipt])) == [None]
    assert stats(engine, "q") == (0, 0, 0)
    # a receipt of this queue's message names nothing in another queue
    create(engine, "other")
    send(engine, "other", msg(5))
    [other] = receive(engine, "other")
    assert engine.atomic(lambda tx: tx.queue_delete_messages("q", [other.receipt])) == [None]
    assert stats(engine, "other") == (0, 1, 0)

def test_send_to_missing_queue_raises(engine: Engine) -> None:
    with pytest.raises(QueueNotFound):
        send(engine, "nope", msg(1))


def test_receive_hides_until_visibility_timeout(engine: Engine, clock: ManualClock) -> None:
    create(engine)
    send(engine, "q", msg(1))
    [m] = receive(engine, "q", vt=30)
    assert m.receive_count == 1 and m.body == "body-1"
    assert receive(engine, "q") == []
    assert stats(engine, "q") == (0, 1, 0)
    clock.advance(29.9)
    assert receive(engine, "q") == []
    clock.advance(0.2)
    [again] = receive(engine, "q")
    assert again.id == m.id and again.receive_count == 2
    assert again.first_received_at == m.first_received_at


def test_stale_receipt_is_refused_after_a_new_receive(engine: Engine, clock: ManualClock) -> None:
    create(engine)
    send(engine, "q", msg(1))
    [first] = receive(engine, "q", vt=1)
    clock.advance(2)
    [second] = receive(engine, "q", vt=30)
    with pytest.raises(InvalidReceipt):
        engine.atomic(lambda tx: tx.queue_delete_message("q", first.receipt))
    with pytest.raises(InvalidReceipt):
        engine.atomic(lambda tx: tx.queue_change_visibility("q", first.receipt, 0))
    engine.atomic(lambda tx: tx.queue_delete_message("q", second.receipt))
    # deleting an already deleted message with its last receipt is accepted, as SQS does
    engine.atomic(lambda tx: tx.queue_delete_message("q", second.receipt))
    with pytest.raises(InvalidReceipt):
        engine.atomic(lambda tx: tx.queue_delete_message("q", "garbage"))


def test_change_visibility(engine: Engine, clock: ManualClock) -> None:
    create(engine)
    send(engine, "q", msg(1))
    [m] = receive(engine, "q", vt=30)
    engine.atomic(lambda tx: tx.queue_change_visibility("q", m.receipt, 0))
    [m2] = receive(engine, "q", vt=30)
    engine.atomic(lambda tx: tx.queue_change_visibility("q", m2.receipt, 100))
    clock.advance(99)
    assert receive(engine, "q") == []
    clock.advance(2)
    assert len(receive(engine, "q")) == 1


def test_delay_and_counts(engine: Engine, clock: ManualClock) -> None:
    create(engine)
    send(engine, "q", msg(1, delay=10), msg(2))
    assert stats(engine, "q") == (1, 0, 1)
    assert [m.id for m in receive(engine, "q")] == ["2"]
    assert engine.read(lambda tx: tx.queue_next_visible_at("q")) == pytest.approx(clock.now() + 10)
    clock.advance(10)
    assert [m.id for m in receive(engine, "q")] == ["1"]


def test_priority_then_age(engine: Engine) -> None:
    create(engine)
    send(engine, "q", msg("a"), msg("b", priority=5), msg("c"), msg("d", priority=5), msg("e", priority=-1))
    assert [m.id for m in receive(engine, "q", 10)] == ["b", "d", "a", "c", "e"]


def test_dead_letter_after_max_receives(engine: Engine, clock: ManualClock) -> None:
    create(engine, "dlq")
    create(engine, "q", max_receive_count=2, dead_letter="dlq")
    send(engine, "q", msg(1))
    for _ in range(2):
        assert len(receive(engine, "q", vt=1)) == 1
        clock.advance(1)
    assert receive(engine, "q") == []
    [dead] = receive(engine, "dlq")
    assert dead.id == "1" and dead.source_queue == "q" and dead.receive_count == 1


def test_redrive_moves_back_to_source(engine: Engine, clock: ManualClock) -> None:
    create(engine, "dlq")
    create(engine, "q", max_receive_count=1, dead_letter="dlq")
    create(engine, "other")
    send(engine, "q", msg(1), msg(2))
    receive(engine, "q", vt=1)
    clock.advance(1)
    receive(engine, "q")  # moves both to the dead-letter queue
    assert stats(engine, "dlq") == (2, 0, 0)
    moved = engine.atomic(lambda tx: tx.queue_redrive("dlq", limit=1))
    assert moved == 1
    assert engine.atomic(lambda tx: tx.queue_redrive("dlq", to="other")) == 1
    assert stats(engine, "dlq") == (0, 0, 0)
    assert [m.receive_count for m in receive(engine, "q")] == [1]
    assert len(receive(engine, "other")) == 1


def test_fifo_groups_one_in_flight_and_strict_order(engine: Engine, clock: ManualClock) -> None:
    create(engine, "q.fifo", fifo=True)
    send(engine, "q.fifo", *[msg(f"a{i}", group_id="a", dedup_id=f"a{i}") for i in range(3)],
         *[msg(f"b{i}", group_id="b", dedup_id=f"b{i}") for i in range(2)])
    first = receive(engine, "q.fifo", 2)
    assert [m.id for m in first] == ["a0", "a1"]
    # group a is in flight: only b comes now, in order
    assert [m.id for m in receive(engine, "q.fifo", 10)] == ["b0", "b1"]
    assert receive(engine, "q.fifo") == []
    engine.atomic(lambda tx: tx.queue_delete_message("q.fifo", first[0].receipt))
    assert receive(engine, "q.fifo") == []  # a1 is still in flight
    clock.advance(31)  # a1 and b* come back; a1 before a2
    assert [m.id for m in receive(engine, "q.fifo", 10)] == ["a1", "a2", "b0", "b1"]


def test_fifo_dedup_window(engine: Engine, clock: ManualClock) -> None:
    create(engine, "q.fifo", fifo=True)
    [first] = send(engine, "q.fifo", msg("x1", group_id="g", dedup_id="d"))
    [dup] = send(engine, "q.fifo", msg("x2", group_id="g", dedup_id="d"))
    assert dup == first == "x1"
    assert stats(engine, "q.fifo") == (1, 0, 0)
    clock.advance(301)
    [later] = send(engine, "q.fifo", msg("x3", group_id="g", dedup_id="d"))
    assert later == "x3"
    assert stats(engine, "q.fifo") == (2, 0, 0)


def test_retention_expires_messages(engine: Engine, clock: ManualClock) -> None:
    create(engine, "q", retention=60)
    send(engine, "q", msg(1))
    clock.advance(61)
    assert receive(engine, "q") == []
    assert engine.atomic(lambda tx: tx.queue_expire()) == 1


def test_purge_and_delete(engine: Engine) -> None:
    create(engine)
    send(engine, "q", msg(1), msg(2))
    assert engine.atomic(lambda tx: tx.queue_purge("q")) == 2
    assert engine.atomic(lambda tx: tx.queue_delete("q")) is True
    assert engine.read(lambda tx: tx.queue_get("q")) is None


def test_concurrent_receivers_never_share_a_message(engine: Engine) -> None:
    create(engine)
    for start in range(0, 300, 50):
        send(engine, "q", *[msg(i) for i in range(start, start + 50)])
    seen: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        while True:
            got = receive(engine, "q", 3)
            if not got:
                return
            with lock:
                seen.extend(m.id for m in got)

    threads = [threading.Thread(target=consume) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen, key=int) == [str(i) for i in range(300)]


def test_watch_wakes_on_send(engine: Engine) -> None:
    create(engine)
    watch = engine.watch("q")
    timer = threading.Timer(0.05, lambda: send(engine, "q", msg(1)))
    timer.start()
    import time

    start = time.monotonic()
    watch.wait(5)
    assert time.monotonic() - start < 2
    timer.join()
