"""Queues with SQS semantics, through the public API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from overcast import (
    App,
    BatchLimitExceeded,
    InvalidAttribute,
    InvalidReceipt,
    ManualClock,
    MessageTooLarge,
    QueueNotFound,
    ValidationError,
)


@pytest.fixture
def app(engine_url: str, clock: ManualClock) -> Iterator[App]:
    application = App("t", engine=engine_url, clock=clock)
    yield application
    application.close()


def test_bodies_round_trip_and_str_is_kept_as_given(app: App) -> None:
    q = app.queue("q")
    for body in [{"id": 1, "nested": [1, 2]}, [1, "a"], "plain text", '{"not": "parsed"}', 42, 1.5]:
        q.send(body)
    got = q.receive(10)
    assert [m.body for m in got] == [{"id": 1, "nested": [1, 2]}, [1, "a"], "plain text",
                                     '{"not": "parsed"}', 42, 1.5]
    with pytest.raises(ValidationError):
        q.send(b"bytes")


def test_attributes_types_and_errors(app: App) -> None:
    q = app.queue("q")
    q.send("x", attributes={"kind": "new", "n": 3, "f": 2.5, "raw": b"\x00\x01",
                            "custom": {"DataType": "Number.int", "StringValue": "7"}})
    [m] = q.receive()
    assert m.attributes == {"kind": "new", "n": 3, "f": 2.5, "raw": b"\x00\x01", "custom": 7}
    record = m.to_dict()
    assert record["messageAttributes"]["kind"] == {
        "dataType": "String", "stringValue": "new", "stringListValues": [], "binaryListValues": []}
    assert record["eventSource"] == "aws:sqs" and record["body"] == "x"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    for bad in [{"AWS.x": "1"}, {"a b": "1"}, {"x": ""}, {"x": True}, {"x": None},
                {"x": {"DataType": "Blob", "StringValue": "1"}}, {"n": {"DataType": "Number", "StringValue": "abc"}},
                {f"a{i}": "v" for i in range(11)}]:
        with pytest.raises(InvalidAttribute):
            q.send("x", attributes=bad)


def test_size_limit_counts_body_and_attributes(app: App) -> None:
    q = app.queue("q", max_message_size=1024)
    q.send("x" * 1024)
    with pytest.raises(MessageTooLarge) as err:
        q.send("x" * 1025)
    assert "1025 bytes" in str(err.value) and "1024" in str(err.value)
    with pytest.raises(MessageTooLarge):
        q.send("x" * 1000, attributes={"name": "y" * 30})
    big = app.queue("big")
    big.send("x" * 262_144)
    with pytest.raises(MessageTooLarge):
        big.send("x" * 262_145)


def test_batch_limits_and_per_entry_errors(app: App) -> None:
    q = app.queue("q")
    with pytest.raises(BatchLimitExceeded):
        q.send_batch([{"body": i} for i in range(11)])
    with pytest.raises(ValidationError):
        q.send_batch([])
    with pytest.raises(ValidationError):
        q.send_batch([{"id": "a", "body": 1}, {"id": "a", "body": 2}])
    results = q.send_batch([{"id": "a", "body": 1}, {"id": "b", "body": 2, "attributes": {"AWS.bad": "x"}}, 3])
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, InvalidAttribute)
    assert q.stats()["visible"] == 2
    with pytest.raises(ValidationError):
        q.receive(11)
    with pytest.raises(ValidationError):
        q.receive(1, wait=21)
    got = q.receive(10)
    deleted = q.delete_batch([got[0], "nonsense", got[1].receipt])
    assert [d.ok for d in deleted] == [True, False, True]
    with pytest.raises(BatchLimitExceeded):
        q.delete_batch(["x"] * 11)


def test_visibility_expiry_redelivery_and_stale_receipts(app: App, clock: ManualClock) -> None:
    q = app.queue("q", visibility_timeout=30)
    q.send("hello")
    [first] = q.receive()
    assert q.stats() == {"visible": 0, "in_flight": 1, "delayed": 0}
    clock.advance(31)
    [second] = q.receive(visibility_timeout=5)
    assert second.id == first.id and second.receive_count == 2
    with pytest.raises(InvalidReceipt):
        q.delete(first)
    q.change_visibility(second, 0)
    [third] = q.receive()
    with pytest.raises(InvalidReceipt):
        q.change_visibility(second, 10)
    q.delete(third)
    assert q.stats() == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_delay_queue_default_and_per_message(app: App, clock: ManualClock) -> None:
    q = app.queue("q", delay=10)
    q.send("queue-delay")
    q.send("no-delay", delay=0)
    q.send("long", delay=100)
    assert q.stats() == {"visible": 1, "in_flight": 0, "delayed": 2}
    assert [m.body for m in q.receive(10)] == ["no-delay"]
    clock.advance(10)
    assert [m.body for m in q.receive(10)] == ["queue-delay"]
    with pytest.raises(ValidationError):
        q.send("x", delay=901)


def test_dead_letter_after_max_receives_and_redrive(app: App, clock: ManualClock) -> None:
    q = app.queue("q", visibility_timeout=5, max_receive_count=3, dead_letter="q-dlq")
    dlq = app.get_queue("q-dlq")
    q.send({"n": 1})
    for attempt in range(1, 4):
        [m] = q.receive()
        assert m.receive_count == attempt
        clock.advance(6)
    assert q.receive() == []
    assert dlq.stats()["visible"] == 1
    [dead] = dlq.receive(visibility_timeout=0)
    assert dead.body == {"n": 1} and dead.source_queue == "q"
    assert dlq.redrive() == 1
    [back] = q.receive()
    assert back.body == {"n": 1} and back.receive_count == 1


def test_long_poll_returns_as_soon_as_a_message_arrives(app: App) -> None:
    q = app.queue("q")
    q.stats()
    threading.Timer(0.2, lambda: q.send("wake")).start()
    start = time.monotonic()
    got = q.receive(wait=10)
    elapsed = time.monotonic() - start
    assert [m.body for m in got] == ["wake"]
    assert elapsed < 2.0


def test_long_poll_wakes_when_the_clock_makes_a_message_visible(app: App, clock: ManualClock) -> None:
    q = app.queue("q")
    q.send("later", delay=60)
    threading.Timer(0.2, lambda: clock.advance(60)).start()
    start = time.monotonic()
    assert [m.body for m in q.receive(wait=10)] == ["later"]
    assert time.monotonic() - start < 2.0


def test_long_poll_times_out_empty(app: App) -> None:
    q = app.queue("q")
    start = time.monotonic()
    assert q.receive(wait=0.3) == []
    assert time.monotonic() - start >= 0.3


def test_long_poll_sees_a_send_from_another_process(engine_url: str) -> None:
    import subprocess
    import sys

    app = App("t", engine=engine_url)  # the real clock, as the other process
    q = app.queue("q")
    q.stats()
    code = (
        "import time, sys; time.sleep(0.3); from overcast import App; "
        f"App('t', engine={app.engine_url!r}).get_queue('q').send('from-afar')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    start = time.monotonic()
    got = q.receive(wait=15)
    proc.wait(10)
    app.close()
    assert [m.body for m in got] == ["from-afar"]
    assert time.monotonic() - start < 10


def test_a_fifo_long_poll_wakes_when_the_group_in_flight_is_deleted(app: App) -> None:
    q = app.queue("jobs.fifo")
    q.send("a", group_id="g", dedup_id="1")
    q.send("b", group_id="g", dedup_id="2")
    [first] = q.receive(1)
    threading.Timer(0.2, lambda: q.delete(first)).start()
    start = time.monotonic()
    assert [m.body for m in q.receive(1, wait=10)] == ["b"]  # b waited for a's group
    assert time.monotonic() - start < 2.0
    # and the same for a batch delete
    app.queue("more.fifo").send_batch([{"body": "c", "group_id": "h", "dedup_id": "3"},
                                       {"body": "d", "group_id": "h", "dedup_id": "4"}])
    more = app.get_queue("more.fifo")
    [c] = more.receive(1)
    threading.Timer(0.2, lambda: more.delete_batch([c])).start()
    start = time.monotonic()
    assert [m.body for m in more.receive(1, wait=10)] == ["d"]
    assert time.monotonic() - start < 2.0


def test_prepare_gives_each_message_its_own_attributes_and_takes_int_like_priorities(app: App) -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 5

    q = app.queue("q")
    first = q.prepare({"n": 1})
    first.attributes["leak"] = True  # a caller's change stays in its own message
    assert q.prepare({"n": 2}).attributes == {"$json": True}
    q.send("urgent", priority=Level.HIGH)
    q.send("routine")
    assert [m.body for m in q.receive(2)] == ["urgent", "routine"]


def test_priority_higher_first_fifo_within(app: App) -> None:
    q = app.queue("q")
    for body, priority in [("low1", 0), ("high1", 9), ("low2", 0), ("high2", 9), ("mid", 5)]:
        q.send(body, priority=priority)
    assert [m.body for m in q.receive(10)] == ["high1", "high2", "mid", "low1", "low2"]


def test_fifo_rules(app: App, clock: ManualClock) -> None:
    q = app.queue("jobs.fifo")
    with pytest.raises(ValidationError, match="group_id"):
        q.send("x", dedup_id="d")
    with pytest.raises(ValidationError, match="dedup_id"):
        q.send("x", group_id="g")
    with pytest.raises(ValidationError, match="delay"):
        q.send("x", group_id="g", dedup_id="d", delay=5)
    with pytest.raises(ValidationError, match="priority"):
        q.send("x", group_id="g", dedup_id="d", priority=1)
    first = q.send("x", group_id="g", dedup_id="d")
    assert q.send("other body", group_id="g", dedup_id="d") == first
    content = app.queue("content.fifo", content_based_dedup=True)
    a = content.send({"same": 1}, group_id="g")
    assert content.send({"same": 1}, group_id="g") == a
    assert content.stats()["visible"] == 1
    clock.advance(301)
    assert content.send({"same": 1}, group_id="g") != a
    plain = app.queue("plain")
    with pytest.raises(ValidationError, match="FIFO"):
        plain.send("x", dedup_id="d")


def test_fifo_order_per_group_under_concurrent_consumers(app: App) -> None:
    q = app.queue("orders.fifo", visibility_timeout=30)
    groups = ["a", "b", "c", "d"]
    for i in range(40):
        q.send_batch([{"body": {"g": g, "i": i}, "group_id": g, "dedup_id": f"{g}-{i}"} for g in groups])
    handled: dict[str, list[int]] = {g: [] for g in groups}
    in_flight: set[str] = set()
    violations: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        idle = 0
        while idle < 3:
            got = q.receive(10, wait=0.2)
            if not got:
                idle += 1
                continue
            idle = 0
            groups_here = {m.body["g"] for m in got}
            with lock:
                if groups_here & in_flight:
                    violations.append(f"group in flight twice: {groups_here & in_flight}")
                in_flight.update(groups_here)
            for m in got:
                handled[m.body["g"]].append(m.body["i"])
            time.sleep(0.002)
            with lock:
                in_flight.difference_update(groups_here)
            q.delete_batch(got)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert violations == []
    for g in groups:
        assert handled[g] == list(range(40))


def test_queue_settings_are_validated(engine_url: str) -> None:
    app = App("v", engine=engine_url)
    for kwargs in [dict(visibility_timeout=43_201), dict(delay=-1), dict(retention=59),
                   dict(max_message_size=100), dict(max_receive_count=0, dead_letter="d")]:
        with pytest.raises(ValidationError):
            app.queue("q", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        app.queue("bad name")
    with pytest.raises(ValidationError):
        app.queue("x.fifo", dead_letter="std-dlq")
    with pytest.raises(ValidationError):
        app.queue("std", content_based_dedup=True)


def test_unknown_queue_is_a_clear_error(app: App) -> None:
    with pytest.raises(QueueNotFound, match="'ghost'"):
        app.get_queue("ghost").send("x")


def test_declared_settings_are_reconciled_on_first_use(engine_url: str) -> None:
    url = engine_url
    first = App("r", engine=url)
    first.queue("q", visibility_timeout=10)
    assert first.get_queue("q").spec.visibility_timeout == 10
    first.close()
    second = App("r", engine=url)
    second.queue("q", visibility_timeout=20)
    assert [action for action, name, _ in second.plan() if name == "q"] == ["update"]
    assert second.get_queue("q").spec.visibility_timeout == 20
    second.queue("late", delay=5)  # declared after first use: created at once
    assert second.get_queue("late").spec.delay == 5
    second.close()


def test_purge(app: App) -> None:
    q = app.queue("q")
    q.send_batch(list(range(5)))
    assert q.purge() == 5
    assert q.stats()["visible"] == 0


def test_characters_sqs_refuses(app: App) -> None:
    q = app.queue("chars")
    q.send("tab\t newline\n emoji \U0001F600")
    with pytest.raises(ValidationError, match="U\\+0000"):
        q.send("nul\x00")
    with pytest.raises(InvalidAttribute, match="U\\+0001"):
        q.send("x", attributes={"a": "\x01"})
