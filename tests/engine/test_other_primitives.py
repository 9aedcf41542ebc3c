"""The log, kv, blob and lease primitives, and transactions across primitives."""

from __future__ import annotations

import threading

import pytest

from overcast.clock import ManualClock
from overcast.engine.base import ABSENT, Engine, NewMessage, QueueSpec
from overcast.errors import ConditionFailed


def test_log_append_read_checkpoint_trim(engine: Engine, clock: ManualClock) -> None:
    seqs = [engine.atomic(lambda tx, i=i: tx.log_append("s", "0", f"r{i}")) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert engine.atomic(lambda tx: tx.log_append("s", "1", "other")) == 1
    records = engine.read(lambda tx: tx.log_read("s", "0", after=2, limit=2))
    assert [(r.seq, r.data) for r in records] == [(3, "r2"), (4, "r3")]
    assert engine.read(lambda tx: tx.log_shards("s")) == ["0", "1"]
    engine.atomic(lambda tx: tx.log_set_checkpoint("s", "c", "0", 4))
    assert engine.read(lambda tx: tx.log_get_checkpoint("s", "c", "0")) == 4
    assert engine.read(lambda tx: tx.log_get_checkpoint("s", "other", "0")) == 0
    clock.advance(10)
    assert engine.atomic(lambda tx: tx.log_trim("s", before=clock.now(), limit=100)) == 6
    # numbers are never reused after a trim
    assert engine.atomic(lambda tx: tx.log_append("s", "0", "again")) == 6


def test_log_order_under_concurrent_appenders(engine: Engine) -> None:
    def append(worker: int) -> None:
        for i in range(50):
            engine.atomic(lambda tx, i=i: tx.log_append("s", "x", f"{worker}-{i}"))

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = engine.read(lambda tx: tx.log_read("s", "x", limit=1000))
    assert [r.seq for r in records] == list(range(1, 201))
    for w in range(4):  # each appender's records keep its order
        mine = [int(r.data.split("-")[1]) for r in records if r.data.startswith(f"{w}-")]
        assert mine == list(range(50))


def test_kv_conditions_versions_and_queries(engine: Engine) -> None:
    item = engine.atomic(lambda tx: tx.kv_put("t", "p", "a", {"n": 1}, condition=ABSENT))
    assert item.version == 1
    with pytest.raises(ConditionFailed):
        engine.atomic(lambda tx: tx.kv_put("t", "p", "a", {"n": 2}, condition=ABSENT))
    with pytest.raises(ConditionFailed):
        engine.atomic(lambda tx: tx.kv_put("t", "p", "a", {"n": 2}, condition=7))
    assert engine.atomic(lambda tx: tx.kv_put("t", "p", "a", {"n": 2}, condition=1)).version == 2
    for sk in ["b", "c", "d", "x1", "x2"]:
        engine.atomic(lambda tx, sk=sk: tx.kv_put("t", "p", sk, sk))
    q = engine.read(lambda tx: tx.kv_query("t", "p", start="b", end="d"))
    assert [i.sk for i in q] == ["b", "c"]
    assert [i.sk for i in engine.read(lambda tx: tx.kv_query("t", "p", prefix="x", reverse=True))] == ["x2", "x1"]
    assert engine.read(lambda tx: tx.kv_get("t", "p", "a")).value == {"n": 2}
    with pytest.raises(ConditionFailed):
        engine.atomic(lambda tx: tx.kv_delete("t", "p", "a", condition=1))
    assert engine.atomic(lambda tx: tx.kv_delete("t", "p", "a", condition=2)) is True
    assert engine.read(lambda tx: tx.kv_get("t", "p", "a")) is None


def test_kv_ttl(engine: Engine, clock: ManualClock) -> None:
    engine.atomic(lambda tx: tx.kv_put("t", "p", "", 1, expires_at=clock.now() + 10))
    assert engine.read(lambda tx: tx.kv_get("t", "p")) is not None
    clock.advance(11)
    assert engine.read(lambda tx: tx.kv_get("t", "p")) is None
    # an expired item is absent for conditions too
    engine.atomic(lambda tx: tx.kv_put("t", "p", "", 2, condition=ABSENT))
    engine.atomic(lambda tx: tx.kv_put("t", "old", "", 2, expires_at=clock.now() - 1))
    assert engine.atomic(lambda tx: tx.kv_expire()) == 1


def test_blobs(engine: Engine) -> None:
    stored = engine.atomic(lambda tx: tx.blob_put("b", "k/1", b"hello", {"type": "text"}))
    assert stored.size == 5 and len(stored.etag) == 32
    engine.atomic(lambda tx: tx.blob_put("b", "k/2", b"\x00\xff"))
    engine.atomic(lambda tx: tx.blob_put("b", "z", b""))
    got = engine.read(lambda tx: tx.blob_get("b", "k/1"))
    assert got.data == b"hello" and got.metadata == {"type": "text"}
    assert [b.key for b in engine.read(lambda tx: tx.blob_list("b", "k/"))] == ["k/1", "k/2"]
    assert [b.key for b in engine.read(lambda tx: tx.blob_list("b", after="k/1"))] == ["k/2", "z"]
    assert engine.atomic(lambda tx: tx.blob_delete("b", "k/1")) is True
    assert engine.atomic(lambda tx: tx.blob_delete("b", "k/1")) is False


def test_leases(engine: Engine, clock: ManualClock) -> None:
    assert engine.atomic(lambda tx: tx.lease_acquire("leader", "a", 10)) is True
    assert engine.atomic(lambda tx: tx.lease_acquire("leader", "b", 10)) is False
    assert engine.atomic(lambda tx: tx.lease_acquire("leader", "a", 10)) is True  # renew
    clock.advance(11)
    assert engine.atomic(lambda tx: tx.lease_acquire("leader", "b", 10)) is True
    assert engine.read(lambda tx: tx.lease_get("leader")).owner == "b"
    assert engine.atomic(lambda tx: tx.lease_release("leader", "a")) is False
    assert engine.atomic(lambda tx: tx.lease_release("leader", "b")) is True
    assert engine.read(lambda tx: tx.lease_get("leader")) is None


def test_transaction_spans_primitives_all_or_nothing(engine: Engine) -> None:
    engine.atomic(lambda tx: tx.queue_create(QueueSpec("q")))

    def failing(tx):  # type: ignore[no-untyped-def]
        tx.queue_send("q", [NewMessage("m1", "x")])
        tx.kv_put("t", "k", "", 1)
        tx.kv_put("t", "k", "", 2, condition=ABSENT)  # fails: the whole transaction is undone

    with pytest.raises(ConditionFailed):
        engine.atomic(failing)
    assert engine.read(lambda tx: tx.queue_stats("q")).visible == 0
    assert engine.read(lambda tx: tx.kv_get("t", "k")) is None

    def ok(tx):  # type: ignore[no-untyped-def]
        tx.queue_send("q", [NewMessage("m1", "x")])
        tx.kv_put("t", "k", "", 1)

    engine.atomic(ok)
    assert engine.read(lambda tx: tx.queue_stats("q")).visible == 1
    assert engine.read(lambda tx: tx.kv_get("t", "k")).value == 1


def test_concurrent_transactions_fail_alone(engine: Engine) -> None:
    """Many threads writing at once share commits, and one failure undoes only its own work."""
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            engine.atomic(lambda tx: tx.kv_put("t", "k", str(i % 50), i, condition=ABSENT))
        except ConditionFailed as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 50
    assert len(engine.read(lambda tx: tx.kv_query("t", "k"))) == 50


def test_read_refuses_writes(engine: Engine) -> None:
    with pytest.raises(Exception):  # noqa: B017 - each engine raises its own driver error
        engine.read(lambda tx: tx.kv_put("t", "k", "", 1))
