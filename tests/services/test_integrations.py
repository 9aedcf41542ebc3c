"""Workflows wired to topics, the event bus and the scheduler: ``sns:publish`` and
``events:putEvents`` Task integrations, and ``Target.workflow`` on bus rules and schedules.
Everything runs on a manual clock and is driven by hand: ``app.process_workflows()`` for the
executor, ``tests/apps/events_drive.Drive`` for the routers, the deliverer and the scheduler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from overcast import App, ManualClock, Runtime
from overcast.services.bus import RetryPolicy, Target
from overcast.workflows import TaskCall
from overcast.workflows.resources import call_task, parse_resource
from tests.apps.events_drive import Drive, bodies, drain

REGION_ACCOUNT = "us-east-1:000000000000"
SM = f"arn:aws:states:{REGION_ACCOUNT}:stateMachine:"
TOPIC_ARN = f"arn:aws:sns:{REGION_ACCOUNT}:"


@pytest.fixture
def app(engine_url: str, clock: ManualClock) -> Iterator[App]:
    app = App("integ", engine=engine_url, clock=clock)
    yield app
    app.close()


def task(resource: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A one-Task definition."""
    state = {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True, **extra}
    return {"StartAt": "Do", "States": {"Do": state}}


def run(app: App, workflow: str, input: Any) -> Any:
    execution = app.start_execution(workflow, input)
    app.process_workflows()
    return execution.describe()


# -- sns:publish ---------------------------------------------------------------------------------


def test_publish_reaches_a_queue_subscription_with_its_attributes(app: App) -> None:
    app.queue("raw")
    app.queue("enveloped")
    topic = app.topic("orders")
    topic.subscribe("queue", "raw", raw=True)
    topic.subscribe("queue", "enveloped")
    app.workflow(
        "announce",
        task(
            "arn:aws:states:::sns:publish",
            {
                "TopicArn": f"{TOPIC_ARN}orders",
                "Message.$": "$.order",
                "Subject": "New order",
                "MessageAttributes": {
                    "kind": {"DataType": "String", "StringValue": "order"},
                    "total": {"DataType": "Number", "StringValue": "150"},
                },
            },
        ),
    )
    description = run(app, "announce", {"order": {"id": 7}})
    assert description.status == "SUCCEEDED"
    assert set(description.output) == {"MessageId"}
    Drive(app).settle()
    [raw] = drain(app, "raw")
    assert json.loads(raw.body) == {"id": 7}
    assert raw.attributes == {"kind": "order", "total": 150}
    [note] = bodies(app, "enveloped")
    assert note["MessageId"] == description.output["MessageId"]
    assert note["TopicArn"] == f"{TOPIC_ARN}orders" and note["Subject"] == "New order"
    assert note["MessageAttributes"]["kind"] == {"Type": "String", "Value": "order"}


def with_catch(definition: dict[str, Any], error: str) -> dict[str, Any]:
    """The one-Task definition, catching ``error`` into ``$.error`` and succeeding."""
    state = dict(definition["States"]["Do"])
    state.pop("End")
    state["Catch"] = [{"ErrorEquals": [error], "ResultPath": "$.error", "Next": "Caught"}]
    state["Next"] = "Done"
    done = {"Type": "Pass", "End": True}
    return {"StartAt": "Do", "States": {"Do": state, "Caught": done, "Done": done}}


def test_publish_by_name_to_a_fifo_topic_and_a_missing_topic(app: App) -> None:
    app.queue("sink.fifo")
    app.topic("orders.fifo").subscribe("queue", "sink.fifo", raw=True)
    publish = task(
        "arn:aws:states:::sns:publish",
        {
            "TopicArn.$": "$.topic",
            "Message": "hello",
            "MessageGroupId": "g1",
            "MessageDeduplicationId.$": "$.dedup",
        },
    )
    app.workflow("fifo", with_catch(publish, "SNS.NotFoundException"))
    first = run(app, "fifo", {"topic": "orders.fifo", "dedup": "d1"})
    again = run(app, "fifo", {"topic": "orders.fifo", "dedup": "d1"})  # deduplicated by SNS
    assert first.status == again.status == "SUCCEEDED"
    assert again.output["MessageId"] == first.output["MessageId"]
    Drive(app).settle()
    assert [m.body for m in drain(app, "sink.fifo")] == ["hello"]
    missing = run(app, "fifo", {"topic": f"{TOPIC_ARN}nowhere.fifo", "dedup": "d2"})
    assert missing.status == "SUCCEEDED"
    assert missing.output["error"]["Error"] == "SNS.NotFoundException"


def test_publish_refuses_bad_parameters_with_the_sns_error(app: App) -> None:
    app.topic("orders")
    app.workflow(
        "bad",
        task("arn:aws:states:::sns:publish", {"TopicArn": "orders", "Message": "x", "Subject": ""}),
    )
    description = run(app, "bad", {})
    assert description.status == "FAILED" and description.error == "SNS.InvalidParameterException"


def test_publish_run_twice_for_one_attempt_publishes_once(app: App) -> None:
    app.queue("raw")
    app.topic("orders").subscribe("queue", "raw", raw=True)
    app.workflow("noop", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    app.engine  # noqa: B018
    call = TaskCall(
        app=app,
        target=parse_resource("arn:aws:states:::sns:publish"),
        input={"TopicArn": "orders", "Message": "once"},
        execution_arn="arn:aws:states:us-east-1:000000000000:execution:noop:x",
        state_name="Do",
        task_id="t1",
        attempt=1,
        idempotency_key="same-attempt",
        token="",
    )
    first, second = call_task(call), call_task(call)  # a redelivered task: same idempotency key
    assert first == second
    Drive(app).settle()
    assert [m.body for m in drain(app, "raw")] == ["once"]


# -- events:putEvents ----------------------------------------------------------------------------


def put_events_workflow(app: App, entries: list[dict[str, Any]], **extra: Any) -> None:
    app.workflow("emit", task("arn:aws:states:::events:putEvents", {"Entries": entries}, **extra))


def test_put_events_reaches_a_rule_target(app: App) -> None:
    app.queue("seen")
    app.bus("orders").rule("shop", {"source": ["shop"]}, targets=[Target.queue("seen")])
    put_events_workflow(
        app,
        [
            {
                "Source": "shop",
                "DetailType": "OrderPlaced",
                "Detail.$": "$",
                "EventBusName": "orders",
            }
        ],
    )
    description = run(app, "emit", {"id": 7})
    assert description.status == "SUCCEEDED"
    assert description.output["FailedEntryCount"] == 0
    [entry] = description.output["Entries"]
    Drive(app).settle()
    [event] = bodies(app, "seen")
    assert event["id"] == entry["EventId"] and event["detail"] == {"id": 7}
    assert event["detail-type"] == "OrderPlaced" and event["source"] == "shop"
    assert event["resources"] == [description.arn, f"{SM}emit"]  # added as Step Functions does


def test_a_failed_entry_fails_the_task(app: App) -> None:
    app.queue("seen")
    app.bus().rule("all", {"source": ["shop"]}, targets=[Target.queue("seen")])
    put_events_workflow(
        app,
        [
            {"Source": "shop", "DetailType": "Good", "Detail": {"n": 1}},
            {"Source": "shop", "DetailType": "Lost", "Detail": {"n": 2}, "EventBusName": "nowhere"},
        ],
    )
    description = run(app, "emit", {})
    assert description.status == "FAILED" and description.error == "EventBridge.FailedEntry"
    response = json.loads(description.cause or "")
    assert response["FailedEntryCount"] == 1
    assert response["Entries"][1]["ErrorCode"] == "ResourceNotFoundException"
    Drive(app).settle()
    assert [e["detail-type"] for e in bodies(app, "seen")] == ["Good"]  # accepted entries stay put


def test_a_failed_entry_can_be_caught(app: App) -> None:
    app.bus()
    emit = task(
        "arn:aws:states:::events:putEvents",
        {"Entries": [{"Source": "aws.ec2", "DetailType": "Spoofed", "Detail": {}}]},
    )
    app.workflow("emit", with_catch(emit, "EventBridge.FailedEntry"))
    description = run(app, "emit", {})
    assert description.status == "SUCCEEDED"
    entries = json.loads(description.output["error"]["Cause"])["Entries"]
    assert entries[0]["ErrorCode"] == "NotAuthorizedForSourceException"


# -- Target.workflow on a bus rule -----------------------------------------------------------------


def greeter(app: App, name: str = "greet") -> None:
    app.workflow(
        name,
        {
            "StartAt": "Hello",
            "States": {
                "Hello": {
                    "Type": "Pass",
                    "Parameters": {"got.$": "$"},
                    "End": True,
                }
            },
        },
    )


def test_a_rule_starts_an_execution_that_completes(app: App) -> None:
    greeter(app)
    bus = app.bus("orders")
    bus.rule("whole", {"source": ["shop"]}, targets=[Target.workflow("greet")])
    bus.rule(
        "detail",
        {"detail-type": ["OrderPlaced"]},
        targets=[Target.workflow(f"{SM}greet", input_path="$.detail")],
    )
    event_id = bus.put_event("shop", "OrderPlaced", {"id": 7})
    Drive(app).settle()
    runs = app.list_executions("greet")
    assert len(runs) == 2 and {r.status for r in runs} == {"RUNNING"}
    app.process_workflows()
    outputs = [app.describe_execution(r.arn) for r in app.list_executions("greet")]
    assert {d.status for d in outputs} == {"SUCCEEDED"}
    got = sorted((d.output["got"] for d in outputs), key=lambda v: "detail" not in v)
    assert got[0]["id"] == event_id and got[0]["detail"] == {"id": 7}
    assert got[1] == {"id": 7}


def test_a_workflow_target_is_committed_with_the_routing(app: App) -> None:
    greeter(app)
    app.queue("seen")
    bus = app.bus()
    bus.rule("both", {"source": ["shop"]}, targets=[Target.queue("seen"), Target.workflow("greet")])
    bus.put_event("shop", "A", {})
    bus.put_event("shop", "B", {})
    assert app.list_executions("greet") == []  # nothing before the router runs
    Drive(app).settle()
    assert len(bodies(app, "seen")) == 2 and len(app.list_executions("greet")) == 2


def test_an_undeclared_workflow_target_is_retried_then_dead_lettered(app: App) -> None:
    app.queue("dlq")
    bus = app.bus()
    target = Target.workflow(
        "ghost", dead_letter="dlq", retry_policy=RetryPolicy(max_retries=0, max_event_age=60)
    )
    bus.rule("lost", {"source": ["shop"]}, targets=[target])
    bus.put_event("shop", "A", {"n": 1})
    Drive(app).settle()
    [dead] = drain(app, "dlq")
    assert dead.body["detail"] == {"n": 1}
    assert dead.attributes["ERROR_CODE"] == "StateMachineDoesNotExist"
    assert dead.attributes["TARGET_ARN"] == f"{SM}ghost"


def test_an_express_workflow_target(app: App) -> None:
    app.queue("out")
    app.workflow(
        "fast",
        task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": "out", "MessageBody.$": "$.detail"}),
        type="EXPRESS",
    )
    app.bus().rule("go", {"source": ["shop"]}, targets=[Target.workflow("fast")])
    app.bus().put_event("shop", "A", {"n": 3})
    Drive(app).settle()
    app.process_workflows()
    assert bodies(app, "out") == [{"n": 3}]


# -- Target.workflow on a schedule -----------------------------------------------------------------


def test_a_schedule_starts_one_execution_per_tick(app: App, clock: ManualClock) -> None:
    greeter(app, "tick")
    app.schedule(
        "every-minute", "rate(1 minute)", Target.workflow("tick"), payload={"job": "sweep"}
    )
    drive = Drive(app)
    drive.tick()  # first sight: nothing fires
    assert app.list_executions("tick") == []
    clock.advance(60)
    drive.tick()
    drive.tick()  # the same instant again: nothing more
    assert len(app.list_executions("tick")) == 1
    clock.advance(60)
    drive.tick()
    app.process_workflows()
    runs = [app.describe_execution(r.arn) for r in app.list_executions("tick")]
    assert len(runs) == 2
    assert [(d.status, d.input, d.output) for d in runs] == [
        ("SUCCEEDED", {"job": "sweep"}, {"got": {"job": "sweep"}})
    ] * 2


def test_a_workflow_declared_after_the_engine_opened_is_a_target(app: App) -> None:
    app.bus().rule("late", {"source": ["shop"]}, targets=[Target.workflow("later")])
    app.engine  # noqa: B018 - the app is in use before it declares the workflow
    greeter(app, "later")
    app.bus().put_event("shop", "A", {})
    Drive(app).settle()
    app.process_workflows()
    [summary] = app.list_executions("later")
    assert summary.status == "SUCCEEDED"


# -- the runtime -----------------------------------------------------------------------------------


def test_a_runtime_runs_event_to_workflow_to_topic_to_queue(app: App) -> None:
    app.queue("inbox")
    app.topic("news").subscribe("queue", "inbox", raw=True)
    app.workflow(
        "relay",
        task(
            "arn:aws:states:::sns:publish",
            {
                "TopicArn": "news",
                "Message.$": "$.detail",
                "MessageAttributes": {"via": {"DataType": "String", "StringValue": "relay"}},
            },
        ),
    )
    bus = app.bus()
    bus.rule("relay", {"source": ["shop"]}, targets=[Target.workflow("relay")])
    runtime = Runtime(app)
    runtime.start()
    try:
        bus.put_event("shop", "OrderPlaced", {"id": 9})
        [message] = app.get_queue("inbox").receive(1, wait=10)
        assert json.loads(message.body) == {"id": 9} and message.attributes == {"via": "relay"}
    finally:
        runtime.stop()
    [summary] = app.list_executions("relay")
    assert summary.status == "SUCCEEDED"
