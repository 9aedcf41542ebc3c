"""Topics: publish, fan-out to many subscriptions with mixed filter policies, raw and enveloped
delivery, FIFO topics, HTTP retries and dead letters, parallel delivery. Roles are driven by
hand on a manual clock, except where parallelism itself is tested."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from overcast import (
    App,
    BatchLimitExceeded,
    InvalidPattern,
    ManualClock,
    MessageTooLarge,
    ValidationError,
)
from overcast.services.bus.delivery import Deliverer
from overcast.services.topics import DeliveryPolicy
from tests.apps.events_drive import Drive, bodies, drain
from tests.apps.http_sink import http_sink


@pytest.fixture
def app(engine_url: str, clock: ManualClock) -> Iterator[App]:
    app = App("topics", engine=engine_url, clock=clock)
    yield app
    app.close()


def test_publish_validates_like_sns(app: App) -> None:
    topic = app.topic("news")
    with pytest.raises(MessageTooLarge, match="262144-byte limit"):
        topic.publish("x" * 262_145)
    with pytest.raises(ValidationError, match="subject"):
        topic.publish("hi", subject="x" * 101)
    with pytest.raises(ValidationError, match="empty"):
        topic.publish("")
    with pytest.raises(ValidationError, match="FIFO topics only"):
        topic.publish("hi", group_id="g")
    with pytest.raises(ValidationError, match="'default' string"):
        topic.publish({"sqs": "x"}, message_structure="json")
    with pytest.raises(BatchLimitExceeded):
        topic.publish_batch(["m"] * 11)
    results = topic.publish_batch([{"id": "a", "message": "one"}, {"id": "b", "message": "", "subject": "s"},
                                   {"id": "c", "message": {"n": 3}, "attributes": {"n": 3}}])
    assert [r.entry_id for r in results] == ["a", "b", "c"]
    assert [r.ok for r in results] == [True, False, True]
    with pytest.raises(InvalidPattern, match="subscription of queue:q to topic 'news'"):
        topic.subscribe("queue", "q", filter_policy={"a": [{"wildcard": "x*"}]})
    with pytest.raises(ValidationError, match="raw message delivery applies"):
        topic.subscribe("function", "f", raw=True)


def test_fan_out_reaches_each_matching_subscription_once(app: App) -> None:
    topic = app.topic("orders")
    policies = {
        "all": None,
        "gold": {"tier": ["gold"]},
        "not-gold": {"tier": [{"anything-but": "gold"}]},
        "big": {"total": [{"numeric": [">=", 100]}]},
        "eu": {"region": [{"prefix": "eu-"}]},
        "tagged": {"tags": ["urgent"]},
        "absent": {"tier": [{"exists": False}]},
        "either": {"$or": [{"tier": ["silver"]}, {"total": [{"numeric": ["<", 10]}]}]},
        "body-big": ("MessageBody", {"order": {"total": [{"numeric": [">", 100]}]}}),
        "body-eu": ("MessageBody", {"order": {"region": [{"prefix": "eu-"}]}}),
    }
    for name, policy in policies.items():
        app.queue(name)
        scope, policy = policy if isinstance(policy, tuple) else ("MessageAttributes", policy)
        topic.subscribe("queue", name, filter_policy=policy, filter_scope=scope, raw=True)
    messages = [
        ({"tier": "gold", "total": 150, "region": "eu-west-1", "tags": ["urgent", "vip"]}, {"order": {"total": 150, "region": "eu-west-1"}}),
        ({"tier": "silver", "total": 5, "region": "us-east-1"}, {"order": {"total": 5, "region": "us-east-1"}}),
        ({"total": 100}, "not json at all"),
    ]
    ids = [topic.publish(body, attributes=attrs) for attrs, body in messages]
    Drive(app).settle()
    got = {name: [m.attributes.get("total") for m in drain(app, name)] for name in policies}
    assert got == {
        "all": [150, 5, 100],
        "gold": [150],
        "not-gold": [5],  # anything-but needs the attribute to be there
        "big": [150, 100],
        "eu": [150],
        "tagged": [150],  # a String.Array attribute matches on any element
        "absent": [100],
        "either": [5],
        "body-big": [150],  # matched on the body; raw delivery carries the attributes along
        "body-eu": [150],
    }
    assert len(set(ids)) == 3


def test_envelope_raw_and_per_protocol_messages(app: App) -> None:
    app.queue("enveloped")
    app.queue("raw")
    topic = app.topic("news")
    topic.subscribe("queue", "enveloped")
    topic.subscribe("queue", "raw", raw=True)
    message_id = topic.publish({"headline": "hi"}, subject="Breaking", attributes={"kind": "alert", "n": 2, "tags": ["a", "b"]})
    topic.publish(json.dumps({"default": "plain", "sqs": "for queues"}), message_structure="json")
    Drive(app).settle()
    first, second = drain(app, "enveloped")
    note = first.body
    assert note["Type"] == "Notification" and note["MessageId"] == message_id
    assert note["TopicArn"] == "arn:aws:sns:us-east-1:000000000000:news"
    assert note["Subject"] == "Breaking" and json.loads(note["Message"]) == {"headline": "hi"}
    assert note["Timestamp"] == "2026-01-01T00:00:00.000Z"
    assert note["MessageAttributes"] == {"kind": {"Type": "String", "Value": "alert"}, "n": {"Type": "Number", "Value": "2"},
                                         "tags": {"Type": "String.Array", "Value": '["a", "b"]'}}
    assert second.body["Message"] == "for queues" and "Subject" not in second.body
    raw_first, raw_second = drain(app, "raw")
    assert raw_first.body == '{"headline":"hi"}' and raw_first.attributes == {"kind": "alert", "n": 2, "tags": '["a", "b"]'}
    assert raw_first.message_attributes["tags"]["DataType"] == "String.Array"
    assert raw_second.body == "for queues"


def test_fifo_topic_dedups_and_keeps_group_order(app: App, clock: ManualClock) -> None:
    app.queue("sink.fifo")
    topic = app.topic("orders.fifo", content_based_dedup=True)
    topic.subscribe("queue", "sink.fifo", raw=True)
    with pytest.raises(ValidationError, match="FIFO topic delivers to queues only"):
        topic.subscribe("function", "f")
    with pytest.raises(ValidationError, match="needs a group_id"):
        topic.publish("x")
    first = topic.publish("one", group_id="g")
    assert topic.publish("one", group_id="g") == first  # a duplicate within five minutes
    topic.publish("two", group_id="g", dedup_id="explicit")
    topic.publish("three", group_id="h")
    Drive(app).settle()
    got = drain(app, "sink.fifo")
    assert [(m.group_id, m.body) for m in got] == [("g", "one"), ("g", "two"), ("h", "three")]
    clock.advance(301)
    topic.publish("one", group_id="g")  # past the window: a new message
    Drive(app).settle()
    assert bodies(app, "sink.fifo") == ["one"]


def test_http_subscription_retries_and_dead_letters(app: App, clock: ManualClock) -> None:
    app.queue("dlq")
    topic = app.topic("news")
    with http_sink(statuses=[500, 502]) as flaky, http_sink(statuses=[500] * 10) as broken, http_sink(statuses=[403]) as refusing:
        topic.subscribe("http", flaky.url + "/in", delivery_policy=DeliveryPolicy(num_retries=3, min_delay=20, max_delay=20))
        topic.subscribe("http", broken.url, dead_letter="dlq", delivery_policy=DeliveryPolicy(num_retries=1, min_delay=5, max_delay=5))
        topic.subscribe("http", refusing.url, raw=True, dead_letter="dlq")
        message_id = topic.publish("hello", attributes={"kind": "x"})
        drive = Drive(app)
        drive.settle()
        for _ in range(3):
            clock.advance(20)
            drive.settle()
        assert len(flaky.received) == 3 and len(broken.received) == 2 and len(refusing.received) == 1
        delivered = flaky.received[-1]
        assert delivered.headers["x-amz-sns-message-type"] == "Notification"
        assert delivered.headers["x-amz-sns-message-id"] == message_id
        assert delivered.headers["content-type"].startswith("text/plain")
        assert json.loads(delivered.body)["Message"] == "hello"
        assert refusing.received[0].body == "hello" and refusing.received[0].headers["x-amz-sns-rawdelivery"] == "true"
    letters = {m.attributes["ErrorCode"]: m for m in drain(app, "dlq")}
    assert set(letters) == {"HTTP500", "HTTP403"}
    assert letters["HTTP500"].body["Message"] == "hello" and letters["HTTP403"].body == "hello"


def test_http_fan_out_is_parallel(engine_url: str) -> None:
    app = App("parallel", engine=engine_url)  # real time: the endpoints really take their time
    topic = app.topic("news")
    with http_sink(delay=0.4) as sink:
        for n in range(4):
            topic.subscribe("http", f"{sink.url}/{n}")
        drive = Drive(app)
        topic.publish("hi")
        for router in drive.routers:
            router.run_once()  # routed: four deliveries wait for the deliverer
        deliverer = Deliverer(app, threads=4)
        started = time.monotonic()
        deliverer.start()
        try:
            deadline = time.monotonic() + 10
            while len(sink.received) < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            deliverer.stop()
            deliverer.join(5)
        elapsed = time.monotonic() - started
    app.close()
    assert sorted(r.path for r in sink.received) == ["/0", "/1", "/2", "/3"]
    overlapping = max(sum(1 for r in sink.received if r.started < s.finished and s.started < r.finished) for s in sink.received)
    assert overlapping >= 2, "deliveries to different subscriptions ran one after another"
    assert elapsed < 1.5


def test_sns_event_round_trip() -> None:
    from overcast.services.topics import SNSEvent

    record = {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:sub",
              "Sns": {"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:t", "Subject": None,
                      "Message": '{"a": 1}', "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "1",
                      "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "",
                      "MessageAttributes": {"n": {"Type": "Number", "Value": "2.5"},
                                            "tags": {"Type": "String.Array", "Value": '["x"]'}}}}
    event = SNSEvent.from_dict({"Records": [record]})
    assert event.to_dict() == {"Records": [record]} and SNSEvent.from_dict(event.to_dict()) == event
    assert event.message.body == {"a": 1} and event.message.attributes == {"n": 2.5, "tags": ["x"]}
    assert SNSEvent.looks_like({"Records": [record]}) and not SNSEvent.looks_like({"Records": [{"eventSource": "aws:sqs"}]})
