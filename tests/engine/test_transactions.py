"""What a transaction function sees: an op's error is raised where the op is called (so ``fn``
can handle it and carry on), and whatever ``fn`` did before is kept or undone with it. The
PostgreSQL engine sends some ops only with the commit; these tests hold it to the same rules."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.engine.base import Engine, NewMessage, QueueSpec
from overcast.errors import ConditionFailed, InvalidReceipt, QueueNotFound


def test_a_send_to_a_missing_queue_raises_inside_fn(engine: Engine) -> None:
    def fn(tx: Any) -> str:
        try:
            tx.queue_send("missing", [NewMessage("1", "x")])
        except QueueNotFound:
            tx.kv_put("t", "fallback", "", True)
            return "handled"
        return "sent"

    assert engine.atomic(fn) == "handled"
    item = engine.read(lambda tx: tx.kv_get("t", "fallback"))
    assert item is not None and item.value is True
    with pytest.raises(QueueNotFound):
        engine.atomic(lambda tx: tx.queue_send("missing", [NewMessage("2", "x")]))


def test_a_stale_receipt_raises_inside_fn_and_the_rest_commits(engine: Engine) -> None:
    engine.atomic(lambda tx: tx.queue_create(QueueSpec("q", visibility_timeout=0)))
    engine.atomic(lambda tx: tx.queue_send("q", [NewMessage("a", "x"), NewMessage("b", "y")]))
    [first_a, first_b] = engine.atomic(lambda tx: tx.queue_receive("q", 10, 0))
    [again_a, again_b] = engine.atomic(lambda tx: tx.queue_receive("q", 10, 0))

    def delete_batch(tx: Any) -> list[str]:  # as the queues service deletes a batch
        outcomes = []
        for receipt in (first_a.receipt, again_b.receipt):
            try:
                tx.queue_delete_message("q", receipt)
                outcomes.append("ok")
            except InvalidReceipt:
                outcomes.append("stale")
        return outcomes

    assert engine.atomic(delete_batch) == ["stale", "ok"]
    assert [m.id for m in engine.atomic(lambda tx: tx.queue_receive("q", 10, 30))] == ["a"]
    with pytest.raises(InvalidReceipt):  # alone in its transaction, it still raises
        engine.atomic(lambda tx: tx.queue_change_visibility("q", first_b.receipt, 5))
    with pytest.raises(InvalidReceipt):
        engine.atomic(lambda tx: tx.queue_delete_message("q", again_a.receipt))


def test_a_failing_op_after_a_send_undoes_the_send(engine: Engine) -> None:
    engine.atomic(lambda tx: tx.queue_create(QueueSpec("q")))
    engine.atomic(lambda tx: tx.kv_put("t", "k", "", 1))

    def fn(tx: Any) -> None:
        tx.queue_send("q", [NewMessage("1", "x")])
        tx.kv_put("t", "k", "", 2, condition=99)

    with pytest.raises(ConditionFailed):
        engine.atomic(fn)
    assert engine.read(lambda tx: tx.queue_stats("q")).visible == 0


def test_a_send_then_an_error_of_fn_itself_undoes_the_send(engine: Engine) -> None:
    engine.atomic(lambda tx: tx.queue_create(QueueSpec("q")))

    def fn(tx: Any) -> None:
        tx.queue_send("q", [NewMessage("1", "x")])
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        engine.atomic(fn)
    assert engine.read(lambda tx: tx.queue_stats("q")).visible == 0
    assert engine.atomic(lambda tx: tx.queue_send("q", [NewMessage("2", "y")])) == ["2"]
    assert engine.read(lambda tx: tx.queue_stats("q")).visible == 1


def test_a_receive_followed_by_more_work_is_all_or_nothing(engine: Engine) -> None:
    engine.atomic(lambda tx: tx.queue_create(QueueSpec("q")))
    engine.atomic(lambda tx: tx.queue_send("q", [NewMessage("1", "x"), NewMessage("2", "y")]))

    def receive_then_fail(tx: Any) -> None:
        assert [m.id for m in tx.queue_receive("q", 1, 30)] == ["1"]
        raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        engine.atomic(receive_then_fail)
    stats = engine.read(lambda tx: tx.queue_stats("q"))
    assert (stats.visible, stats.in_flight) == (2, 0)  # as if never received

    def receive_and_record(tx: Any) -> list[str]:
        got = tx.queue_receive("q", 1, 30)
        tx.kv_put("seen", got[0].id, "", got[0].receive_count)
        return [m.id for m in got]

    assert engine.atomic(receive_and_record) == ["1"]
    seen = engine.read(lambda tx: tx.kv_get("seen", "1"))
    assert seen is not None and seen.value == 1  # received once, not twice
    [m2] = engine.atomic(lambda tx: tx.queue_receive("q", 5, 30))
    assert (m2.id, m2.receive_count, m2.first_received_at is not None) == ("2", 1, True)
    engine.atomic(lambda tx: tx.queue_delete_message("q", m2.receipt))  # its receipt works

    def receive_then_fail_on_condition(tx: Any) -> None:
        tx.queue_receive("q", 1, 30)
        tx.kv_put("seen", "1", "", "again", condition=99)

    engine.atomic(lambda tx: tx.queue_send("q", [NewMessage("3", "z")]))
    with pytest.raises(ConditionFailed):
        engine.atomic(receive_then_fail_on_condition)
    [m3] = engine.atomic(lambda tx: tx.queue_receive("q", 5, 30))
    assert (m3.id, m3.receive_count) == ("3", 1)
