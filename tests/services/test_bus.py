"""The event bus: put_events, rules and targets, input transformers, retries and dead letters,
archives and replays, CloudEvents. Roles are driven by hand (tests/apps/events_drive.py) on a
manual clock: nothing here sleeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from overcast import (
    App,
    BatchLimitExceeded,
    ConfigError,
    InvalidPattern,
    ManualClock,
    ValidationError,
)
from overcast.services.bus import InputTransformer, RetryPolicy, Target
from overcast.services.bus.bus import Bus
from tests.apps.events_drive import Drive, bodies, drain
from tests.apps.http_sink import http_sink

ORDER = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": {"id": 1, "total": 150, "customer": {"tier": "gold"}}}


@pytest.fixture
def app(engine_url: str, clock: ManualClock) -> Iterator[App]:
    app = App("bus", engine=engine_url, clock=clock)
    yield app
    app.close()


def entry(**changes: Any) -> dict[str, Any]:
    return {**ORDER, **changes}


def test_put_events_fills_the_envelope_and_reports_each_entry(app: App, clock: ManualClock) -> None:
    bus = app.bus("orders")
    app.queue("all")
    bus.rule("all", {"source": ["shop"]}, targets=[Target.queue("all")])
    result = bus.put_events([
        entry(Resources=["arn:aws:s3:::bucket"]),
        entry(Source=""),
        entry(Detail="{not json"),
        entry(Detail="[1, 2]"),
        entry(Source="aws.ec2"),
        entry(Detail={"blob": "x" * 262_144}),
        entry(EventBusName="nowhere"),
        entry(Time="2025-06-01T12:00:00Z", DetailType="Late"),
        {"Source": "shop", "DetailType": "x", "Detail": "{}", "Colour": "red"},
    ])
    codes = [e.error_code for e in result.entries]
    assert codes == [None, "InvalidArgument", "MalformedDetail", "MalformedDetail", "NotAuthorizedForSourceException",
                     "InvalidArgument", "ResourceNotFoundException", None, "InvalidArgument"]
    assert result.failed_entry_count == 7
    shape = result.to_dict()
    assert shape["FailedEntryCount"] == 7 and set(shape["Entries"][0]) == {"EventId"}
    assert "Source is a required argument" in (result.entries[1].error_message or "")
    assert "262144-byte limit" in (result.entries[5].error_message or "")
    assert "Colour" in (result.entries[8].error_message or "")
    Drive(app).settle()
    first, late = bodies(app, "all")
    assert first == {
        "version": "0", "id": result.entries[0].event_id, "detail-type": "OrderPlaced", "source": "shop",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:s3:::bucket"], "detail": ORDER["Detail"],
    }
    assert late["time"] == "2025-06-01T12:00:00Z"


def test_batch_limits_and_put_event(app: App) -> None:
    bus = app.bus()
    with pytest.raises(BatchLimitExceeded, match="at most 10"):
        bus.put_events([entry()] * 11)
    with pytest.raises(ValidationError):
        bus.put_events([])
    assert len(bus.put_event("shop", "OrderPlaced", {"id": 2})) == 36
    with pytest.raises(ValidationError, match="MalformedDetail"):
        bus.put_event("shop", "OrderPlaced", "nope")


def test_rules_are_validated_when_declared(app: App) -> None:
    bus = app.bus("orders")
    with pytest.raises(InvalidPattern, match=r"rule 'bad' on bus 'orders': detail\.total\.numeric\[1\]"):
        bus.rule("bad", {"detail": {"total": [{"numeric": [">", "5"]}]}})
    with pytest.raises(ValidationError, match="at most 5 targets"):
        bus.rule("many", {"source": ["x"]}, targets=[Target.queue(f"q{i}") for i in range(6)])
    with pytest.raises(ValidationError, match="two targets have the id"):
        bus.rule("twice", {"source": ["x"]}, targets=[Target.queue("q"), Target.queue("q")])
    with pytest.raises(ValidationError, match="at most one of input, input_path"):
        Target.queue("q", input={"a": 1}, input_path="$.detail")
    with pytest.raises(ValidationError, match="not a supported JSONPath"):
        Target.queue("q", input_path="$.detail..x")
    assert Target.workflow("flow").kind == "workflow"  # registered by overcast.workflows
    with pytest.raises(ValidationError, match="max_retries"):
        RetryPolicy(max_retries=186)
    bus.rule("ghost", {"source": ["x"]}, targets=[Target.function("nobody")])
    with pytest.raises(ConfigError, match="target function 'nobody' is not declared"):
        app.engine  # noqa: B018


def test_fan_out_to_several_targets_and_kinds(app: App) -> None:
    for name in ("big", "gold", "every", "chained", "via-topic"):
        app.queue(name)
    orders = app.bus("orders")
    audit = app.bus("audit")
    news = app.topic("order-news")
    news.subscribe("queue", "via-topic", raw=True)
    audit.rule("chain", {"source": ["shop"]}, targets=[Target.queue("chained")])
    orders.rule("big", {"detail": {"total": [{"numeric": [">", 100]}]}},
                targets=[Target.queue("big"), Target.topic("order-news"), Target.bus("audit")])
    orders.rule("gold", {"detail": {"customer": {"tier": ["gold"]}}}, targets=[Target.queue("gold", input_path="$.detail.customer")])
    orders.rule("every", {"source": [{"prefix": "sh"}]}, targets=[Target.queue("every", input={"constant": True})])
    orders.rule("off", {"source": ["shop"]}, targets=[Target.queue("every")], enabled=False)
    orders.put_events([entry(), entry(Detail={"id": 2, "total": 5, "customer": {"tier": "silver"}})])
    Drive(app).settle()
    assert [b["detail"]["id"] for b in bodies(app, "big")] == [1]
    assert bodies(app, "gold") == [{"tier": "gold"}]
    assert bodies(app, "every") == [{"constant": True}, {"constant": True}]
    [chained] = bodies(app, "chained")
    assert chained["detail"]["id"] == 1 and chained["source"] == "shop"  # the same event, one bus on
    [published] = bodies(app, "via-topic")
    assert json.loads(published)["detail"]["id"] == 1


def test_input_transformer_quoting(app: App) -> None:
    app.queue("out")
    app.queue("text")
    bus = app.bus()
    paths = {"id": "$.detail.id", "tier": "$.detail.customer.tier", "customer": "$.detail.customer",
             "missing": "$.detail.nope", "first": "$.resources[0]"}
    bus.rule("t", {"source": ["shop"]}, targets=[
        Target.queue("out", input_transformer=InputTransformer(paths, (
            '{"order": <id>, "tier": <tier>, "text": "order <id> is \\"<tier>\\"", "customer": <customer>, '
            '"inline": "c=<customer>", "missing": <missing>, "quoted_missing": "<missing>", "rule": <aws.events.rule-name>, '
            '"first": <first>, "event": <aws.events.event>}'))),
        Target.queue("text", input_transformer=InputTransformer(paths, "order <id> for <tier>: <customer>")),
    ])
    bus.put_events([entry(Resources=["arn:r1"])])
    Drive(app).settle()
    [out] = bodies(app, "out")
    assert out == {
        "order": 1, "tier": "gold", "text": 'order 1 is "gold"', "customer": {"tier": "gold"},
        "inline": "c={tier:gold}", "missing": None, "quoted_missing": "", "rule": "t", "first": "arn:r1",
        "event": {k: v for k, v in out["event"].items() if k != "detail"},
    }
    assert "detail" not in out["event"] and out["event"]["source"] == "shop"
    assert bodies(app, "text") == ['order 1 for gold: {"tier":"gold"}']


def test_cloudevents_in_and_out(app: App) -> None:
    app.queue("ce")
    app.queue("eb")
    bus = app.bus()
    bus.rule("ce", {"source": ["urn:shop"]}, targets=[Target.queue("ce", cloudevents=True), Target.queue("eb")])
    cloud = {"specversion": "1.0", "id": "ce-1", "source": "urn:shop", "type": "order.placed",
             "time": "2026-01-01T08:00:00Z", "subject": "order/1", "datacontenttype": "application/json",
             "traceparent": "00-abc", "data": {"id": 1}}
    result = bus.put_events([cloud, {"specversion": "1.0", "id": "", "source": "x", "type": "t"},
                             {"specversion": "0.3", "id": "1", "source": "x", "type": "t"}])
    assert [e.error_code for e in result.entries] == [None, "InvalidArgument", "InvalidArgument"]
    assert result.entries[0].event_id == "ce-1"
    bus.put_events([entry(Source="urn:shop")])
    Drive(app).settle()
    original, converted = bodies(app, "ce")
    assert original == cloud  # the CloudEvent comes back as it was put
    assert converted["specversion"] == "1.0" and converted["type"] == "OrderPlaced" and converted["data"]["id"] == 1
    as_eventbridge = bodies(app, "eb")[0]
    assert as_eventbridge["detail-type"] == "order.placed" and as_eventbridge["detail"] == {"id": 1}
    assert as_eventbridge["time"] == "2026-01-01T08:00:00Z"


def test_http_target_retries_then_succeeds(app: App, clock: ManualClock) -> None:
    bus = app.bus()
    with http_sink(statuses=[503, 429]) as sink:
        bus.rule("hook", {"source": ["shop"]}, targets=[Target.http(sink.url + "/hook", headers={"x-api-key": "k"})])
        bus.put_events([entry()])
        drive = Drive(app)
        drive.settle()
        assert len(sink.received) == 1  # first attempt failed; the retry waits for its backoff
        clock.advance(2)
        drive.settle()
        clock.advance(4)
        drive.settle()
        assert len(sink.received) == 3
        delivered = sink.received[-1]
        assert json.loads(delivered.body)["detail"]["id"] == 1
        assert delivered.headers["x-api-key"] == "k" and delivered.headers["content-type"].startswith("application/json")
    assert app.get_queue("overcast:deliveries").stats() == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_retry_policy_and_dead_letter_queue(app: App, clock: ManualClock) -> None:
    app.queue("dlq")
    bus = app.bus()
    with http_sink(statuses=[500] * 10) as failing, http_sink(statuses=[400]) as refusing:
        bus.rule("hooks", {"source": ["shop"]}, targets=[
            Target.http(failing.url, id="failing", retry_policy=RetryPolicy(max_retries=2), dead_letter="dlq"),
            Target.http(refusing.url, id="refusing", dead_letter="dlq"),
        ])
        bus.put_events([entry()])
        drive = Drive(app)
        for _ in range(4):
            drive.settle()
            clock.advance(300)
        assert len(failing.received) == 3  # the first attempt and two retries
        assert len(refusing.received) == 1  # a 400 is not retried
    letters = {m.attributes["TARGET_ARN"]: m for m in drain(app, "dlq")}
    exhausted = letters[failing.url]
    assert exhausted.body["detail"]["id"] == 1
    assert exhausted.attributes["ERROR_CODE"] == "HTTP500"
    assert exhausted.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert exhausted.attributes["RETRY_ATTEMPTS"] == "2"
    assert exhausted.attributes["RULE_ARN"] == "arn:aws:events:us-east-1:000000000000:rule/hooks"
    refused = letters[refusing.url]
    assert refused.attributes["ERROR_CODE"] == "HTTP400" and "EXHAUSTED_RETRY_CONDITION" not in refused.attributes


def test_maximum_event_age(app: App, clock: ManualClock) -> None:
    app.queue("dlq")
    bus = app.bus()
    with http_sink(statuses=[500] * 10) as failing:
        bus.rule("old", {"source": ["shop"]}, targets=[
            Target.http(failing.url, retry_policy=RetryPolicy(max_event_age=60), dead_letter="dlq")])
        bus.put_events([entry()])
        drive = Drive(app)
        drive.settle()
        clock.advance(61)
        drive.settle()
    [letter] = drain(app, "dlq")
    assert letter.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"


def test_a_missing_queue_target_is_retried_until_it_exists(app: App, clock: ManualClock) -> None:
    bus = app.bus()
    bus.rule("late", {"source": ["shop"]}, targets=[Target.queue("later")])
    bus.put_events([entry()])
    drive = Drive(app)
    drive.settle()
    assert sum(app.get_queue("overcast:deliveries").stats().values()) == 1
    app.queue("later")
    clock.advance(10)
    drive.settle()
    assert [b["detail"]["id"] for b in bodies(app, "later")] == [1]


def test_fifo_queue_target_uses_the_group_and_the_event_id(app: App) -> None:
    app.queue("orders.fifo")
    bus = app.bus()
    bus.rule("fifo", {"source": ["shop"]}, targets=[Target.queue("orders.fifo", message_group_id="g1")])
    ids = bus.put_events([entry(Detail={"id": n}) for n in range(3)]).event_ids
    Drive(app).settle()
    got = drain(app, "orders.fifo")
    assert [m.body["detail"]["id"] for m in got] == [0, 1, 2]
    assert {m.group_id for m in got} == {"g1"} and [m.dedup_id for m in got] == ids


def test_archive_and_replay(app: App, clock: ManualClock) -> None:
    app.queue("a")
    app.queue("b")
    bus = app.bus("orders")
    bus.rule("a", {"source": ["shop"]}, targets=[Target.queue("a")])
    bus.rule("b", {"source": ["shop"]}, targets=[Target.queue("b")])
    bus.archive("everything")
    bus.archive("big", pattern={"detail": {"total": [{"numeric": [">=", 100]}]}}, retention_days=1)
    drive = Drive(app)
    start = clock.now()
    for n in range(5):
        bus.put_events([entry(Detail={"id": n, "total": n * 50})])
        clock.advance(60)
    drive.settle()
    drain(app, "a")
    drain(app, "b")
    from overcast.services.bus.archive import archive_stats

    assert archive_stats(app.engine, "everything")["events"] == 5
    assert archive_stats(app.engine, "big")["events"] == 3  # totals 100, 150, 200
    state = bus.replay("everything", start=start + 60, end=start + 180, name="r1", rules=["a"])
    assert state["state"] == "COMPLETED" and state["replayed"] == 3
    drive.settle()
    replayed = bodies(app, "a")
    assert [e["detail"]["id"] for e in replayed] == [1, 2, 3]
    assert {e["replay-name"] for e in replayed} == {"r1"}
    assert bodies(app, "b") == []  # the replay went to rule "a" only
    assert archive_stats(app.engine, "everything")["events"] == 5  # replayed events are not archived again
    from overcast.errors import AlreadyExists

    with pytest.raises(AlreadyExists, match="already ran"):
        bus.replay("everything", start=start, end=start + 600, name="r1")
    assert bus.replay("everything", start=start, end=start + 600)["replayed"] == 5
    clock.advance(86_400 + 1)
    from overcast.services.bus.archive import trim

    assert trim(app.engine, bus.archives["big"]) == 3
    assert trim(app.engine, bus.archives["everything"]) == 0  # kept forever


def test_accepted_events_survive_the_process(engine_url: str, clock: ManualClock) -> None:
    first = App("durable", engine=engine_url, clock=clock)
    first.queue("out")
    first.bus().rule("r", {"source": ["shop"]}, targets=[Target.queue("out")])
    first.bus().put_events([entry()])
    first.close()  # nothing routed it: the runtime was not running
    second = App("durable", engine=engine_url, clock=clock)
    second.queue("out")
    second.bus().rule("r", {"source": ["shop"]}, targets=[Target.queue("out")])
    Drive(second).settle()
    assert [b["detail"]["id"] for b in bodies(second, "out")] == [1]
    second.close()


def test_a_bus_handle_on_an_engine_alone(app: App) -> None:
    app.bus("orders")
    app.engine  # noqa: B018 - reconciled: the bus exists in the engine
    bare = Bus("orders", lambda: app.engine)
    assert bare.put_events([entry()]).failed_entry_count == 0
    assert Bus("ghost", lambda: app.engine).put_events([entry()]).entries[0].error_code == "ResourceNotFoundException"
    with pytest.raises(ValidationError, match="declare rules"):
        bare.rule("r", {"source": ["x"]})


def test_a_router_that_fails_before_committing_loses_nothing(app: App, clock: ManualClock,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from overcast.services.bus import router

    app.queue("out")
    bus = app.bus()
    bus.rule("r", {"source": ["shop"]}, targets=[Target.queue("out")])
    bus.archive("all")
    bus.put_events([entry(Detail={"id": n}) for n in range(5)])
    drive = Drive(app)
    real = router.deliver_or_defer

    def crash(tx: Any, delivery: Any) -> None:
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(router, "deliver_or_defer", crash)
    assert drive.settle() == 0  # received, nothing committed
    assert app.get_queue("overcast:bus:default").stats()["in_flight"] == 5
    monkeypatch.setattr(router, "deliver_or_defer", real)
    drive.settle()
    assert bodies(app, "out") == []  # still hidden: as after a crash, they wait for their visibility timeout
    clock.advance(router.VISIBILITY)
    drive.settle()
    assert sorted(b["detail"]["id"] for b in bodies(app, "out")) == [0, 1, 2, 3, 4]  # each once
    from overcast.services.bus.archive import archive_stats

    assert archive_stats(app.engine, "all")["events"] == 5


def test_a_message_that_is_not_an_event_is_dropped_not_retried_forever(app: App, caplog: pytest.LogCaptureFixture) -> None:
    app.queue("out")
    bus = app.bus()
    bus.rule("r", {"source": ["shop"]}, targets=[Target.queue("out")])
    app.engine  # noqa: B018
    from overcast.engine.base import NewMessage

    app.engine.atomic(lambda tx: tx.queue_send("overcast:bus:default", [NewMessage(id="junk", body="{not json")]))
    bus.put_events([entry()])
    Drive(app).settle()
    assert [b["detail"]["id"] for b in bodies(app, "out")] == [1]
    assert app.get_queue("overcast:bus:default").stats() == {"visible": 0, "in_flight": 0, "delayed": 0}
    assert "dropping message junk" in caplog.text


def test_typed_events_round_trip() -> None:
    from overcast.services.bus import CloudEvent, EventBridgeEvent
    from overcast.services.bus.cloudevents import from_cloudevent, to_cloudevent

    envelope = {"version": "0", "id": "e1", "detail-type": "T", "source": "s", "account": "1", "time": "2026-01-01T00:00:00Z",
                "region": "eu-west-1", "resources": ["arn:r"], "detail": {"a": [1, {"b": None}]}, "replay-name": "r1"}
    event = EventBridgeEvent.from_dict(envelope)
    assert event.detail_type == "T" and event.replay_name == "r1"
    assert event.to_dict() == envelope and EventBridgeEvent.from_dict(event.to_dict()) == event
    for cloud in ({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": {"x": 1}, "ext1": "v"},
                  {"specversion": "1.0", "id": "2", "source": "s", "type": "t", "data": [1, 2]},
                  {"specversion": "1.0", "id": "3", "source": "s", "type": "t", "data_base64": "AAE="},
                  {"specversion": "1.0", "id": "4", "source": "s", "type": "t", "subject": "x"}):
        fields, sidecar = from_cloudevent(cloud)
        assert isinstance(fields["detail"], dict)
        assert to_cloudevent({"detail": fields["detail"]}, sidecar) == cloud
        assert CloudEvent.from_dict(cloud).to_dict() == cloud
