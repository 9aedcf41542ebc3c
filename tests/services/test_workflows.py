"""The durable executor on the engine: declaring, starting (idempotent by name), describing,
listing, history, stopping, Waits that cost nothing, timeouts, callbacks with task tokens,
nested executions, Express, and the runtime's pollers. No worker processes: the Tasks here are
service integrations (see test_workflows_tasks.py for functions)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast import (
    AlreadyExists,
    App,
    ExecutionError,
    InvalidDefinition,
    ManualClock,
    NotFound,
    Runtime,
    ValidationError,
)
from overcast.workflows.executor import ADVANCE

SM = "arn:aws:states:us-east-1:000000000000:stateMachine:"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/"


@pytest.fixture
def wf_url(tmp_path: Path) -> str:
    """The engine these tests run on (the shared engine fixtures can replace it)."""
    return f"sqlite:///{tmp_path / 'wf.db'}"


@pytest.fixture
def app(wf_url: str, clock: ManualClock) -> Iterator[App]:
    app = App("wf", engine=wf_url, clock=clock)
    yield app
    app.close()


def pass_chain(*names: str, **extra: Any) -> dict[str, Any]:
    states: dict[str, Any] = {
        n: {"Type": "Pass", "Next": m} for n, m in zip(names, names[1:], strict=False)
    }
    states[names[-1]] = {"Type": "Pass", "End": True}
    return {"StartAt": names[0], "States": states, **extra}


def types(history: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in history]


def drain(app: App, queue: str) -> list[Any]:
    q = app.get_queue(queue)
    out = []
    while batch := q.receive(10):
        out += [m.body for m in batch]
        q.delete_batch(batch)
    return out


# -- declaring -------------------------------------------------------------------------------


def test_every_problem_of_a_definition_is_refused_at_declaration(app: App) -> None:
    bad = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.sync",
                "Next": "Shipp",
            },
            "Ship": {"Type": "Pass", "End": True},
        },
    }
    with pytest.raises(InvalidDefinition) as err:
        app.workflow("bad", bad)
    problems = err.value.problems
    assert 'States.Ask.Next: no state named "Shipp"' in problems
    assert any(p.startswith("States.Ask.Resource:") and ".sync" in p for p in problems)
    assert "workflow 'bad' (<dict>) is invalid" in str(err.value)
    token = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "End": True,
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            }
        },
    }
    with pytest.raises(InvalidDefinition, match="EXPRESS workflows cannot wait"):
        app.workflow("fast", token, type="EXPRESS")
    with pytest.raises(ValidationError, match="invalid workflow name"):
        app.workflow("no spaces", pass_chain("A"))


def test_a_definition_from_a_file(app: App, tmp_path: Path) -> None:
    path = tmp_path / "order.asl.json"
    path.write_text(json.dumps(pass_chain("A", "B")))
    assert app.workflow("order", str(path)).definition["StartAt"] == "A"
    (tmp_path / "broken.asl.json").write_text('{"StartAt": "A",\n "States": }')
    with pytest.raises(InvalidDefinition, match=r"broken\.asl\.json:2:12: not valid JSON"):
        app.workflow("broken", tmp_path / "broken.asl.json")
    from overcast import ConfigError

    with pytest.raises(ConfigError, match="no such file"):
        app.workflow("missing", "missing.asl.json")


# -- starting, describing, listing ----------------------------------------------------------------


def test_start_is_idempotent_on_the_name(app: App) -> None:
    app.workflow("order", pass_chain("A", "B"))
    first = app.start_execution("order", {"id": 1}, "order-1")
    again = app.start_execution("order", {"id": 1}, "order-1")
    assert again.arn == first.arn == "arn:aws:states:us-east-1:000000000000:execution:order:order-1"
    app.process_workflows()
    assert app.start_execution("order", {"id": 1}, "order-1").describe().status == "SUCCEEDED"
    assert len(app.list_executions("order")) == 1
    with pytest.raises(AlreadyExists, match="ExecutionAlreadyExists"):
        app.start_execution("order", {"id": 2}, "order-1")
    with pytest.raises(ValidationError, match="invalid execution name"):
        app.start_execution("order", {}, "has space")
    with pytest.raises(NotFound, match="no workflow 'nope'"):
        app.start_execution("nope", {})
    with pytest.raises(NotFound, match="does not exist"):
        app.describe_execution("order/never")


def test_describe_and_list_by_status(app: App, clock: ManualClock) -> None:
    app.workflow("order", pass_chain("A", "B"))
    app.workflow(
        "slow", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    )
    done = app.start_execution("order", {"n": 1}, "a")
    clock.advance(1)
    waiting = app.start_execution("slow", {"n": 2}, "b")
    app.process_workflows()
    description = app.describe_execution(done.arn)
    assert description.status == "SUCCEEDED" and description.output == {"n": 1}
    assert description.to_dict()["output"] == '{"n":1}'
    assert app.describe_execution("slow/b").status == "RUNNING"
    assert [e.name for e in app.list_executions()] == ["b", "a"]  # newest first
    assert [e.name for e in app.list_executions(status="RUNNING")] == ["b"]
    assert [e.name for e in app.list_executions("order", status="SUCCEEDED")] == ["a"]
    assert app.workflows["slow"].executions(status="SUCCEEDED") == []
    clock.advance(60)
    app.process_workflows()
    assert waiting.describe().status == "SUCCEEDED"
    assert [e.name for e in app.list_executions(status="SUCCEEDED")] == ["b", "a"]
    with pytest.raises(ValidationError, match="status is one of"):
        app.list_executions(status="DONE")


def test_history_uses_step_functions_event_types(app: App) -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [pass_chain("P1"), pass_chain("P2")],
                "ResultPath": "$.parallel",
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Check",
                    "States": {
                        "Check": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$", "NumericGreaterThan": 1, "Next": "Big"}],
                            "Default": "Small",
                        },
                        "Big": {"Type": "Pass", "Result": "big", "End": True},
                        "Small": {"Type": "Pass", "Result": "small", "End": True},
                    },
                },
                "End": True,
            },
        },
    }
    app.workflow("shapes", definition)
    run = app.start_execution("shapes", {"items": [1, 2]})
    app.process_workflows()
    assert run.describe().output == ["small", "big"]
    history = run.history()
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    seen = set(types(history))
    for kind in [
        "ExecutionStarted",
        "ParallelStateEntered",
        "ParallelStateStarted",
        "PassStateEntered",
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "MapStateEntered",
        "MapStateStarted",
        "MapIterationStarted",
        "ChoiceStateEntered",
        "MapIterationSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]:
        assert kind in seen, kind
    started = history[0]["executionStartedEventDetails"]
    assert json.loads(started["input"]) == {"items": [1, 2]}
    assert json.loads(history[-1]["executionSucceededEventDetails"]["output"]) == ["small", "big"]


# -- time ------------------------------------------------------------------------------------


def test_a_wait_of_hours_is_one_delayed_message(app: App, clock: ManualClock) -> None:
    app.workflow(
        "nap", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 4 * 3600, "End": True}}}
    )
    run = app.start_execution("nap", {"x": 1})
    app.process_workflows()
    assert app.get_queue(ADVANCE).stats() == {"visible": 0, "in_flight": 0, "delayed": 1}
    for _ in range(15):  # re-armed every 900 s (the queue's longest delay)
        clock.advance(900)
        assert app.process_workflows() == 1
        assert run.status == "RUNNING"
    clock.advance(900)
    app.process_workflows()
    assert run.describe().status == "SUCCEEDED"
    assert run.describe().stop_date - run.describe().start_date == 4 * 3600


def test_execution_timeout(app: App, clock: ManualClock) -> None:
    app.workflow(
        "late",
        {
            "TimeoutSeconds": 30,
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}},
        },
    )
    run = app.start_execution("late", {})
    app.process_workflows()
    clock.advance(30)
    app.process_workflows()
    description = run.describe()
    assert description.status == "TIMED_OUT" and description.error == "States.Timeout"
    assert types(run.history())[-1] == "ExecutionTimedOut"


# -- stopping ----------------------------------------------------------------------------------


def test_stop(app: App) -> None:
    app.workflow(
        "nap", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    )
    run = app.start_execution("nap", {})
    app.process_workflows()
    stopped = run.stop(error="Operator", cause="changed my mind")
    assert stopped.status == "ABORTED" and stopped.error == "Operator"
    assert types(run.history())[-1] == "ExecutionAborted"
    assert app.stop_execution(run.arn).status == "ABORTED"  # stopping again changes nothing
    early = app.start_execution("nap", {}, "never-ran")  # stopped before its first step
    assert early.stop().status == "ABORTED"
    assert types(early.history()) == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    app.process_workflows()
    assert early.status == "ABORTED"


# -- callbacks ------------------------------------------------------------------------------------

APPROVAL = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": QUEUE_URL + "approvals",
                "MessageBody": {"order.$": "$.order", "token.$": "$$.Task.Token"},
            },
            "HeartbeatSeconds": 600,
            "TimeoutSeconds": 3600,
            "ResultPath": "$.decision",
            "Catch": [
                {"ErrorEquals": ["Rejected"], "ResultPath": "$.error", "Next": "Rejected"},
                {
                    "ErrorEquals": ["States.Timeout", "States.HeartbeatTimeout"],
                    "ResultPath": "$.error",
                    "Next": "Expired",
                },
            ],
            "Next": "Approved",
        },
        "Approved": {"Type": "Pass", "End": True},
        "Rejected": {"Type": "Pass", "End": True},
        "Expired": {"Type": "Pass", "End": True},
    },
}


def test_wait_for_task_token_approval(app: App, clock: ManualClock) -> None:
    app.queue("approvals")
    app.workflow("approval", APPROVAL)
    yes = app.start_execution("approval", {"order": "o-1"}, "yes")
    no = app.start_execution("approval", {"order": "o-2"}, "no")
    app.process_workflows()
    asks = {m["order"]: m["token"] for m in drain(app, "approvals")}
    assert set(asks) == {"o-1", "o-2"} and yes.status == "RUNNING"
    clock.advance(500)
    for token in asks.values():
        app.send_task_heartbeat(token)  # restarts HeartbeatSeconds
    clock.advance(500)
    app.process_workflows()
    assert yes.status == "RUNNING"
    app.send_task_success(asks["o-1"], {"approved": True, "by": "ann"})
    app.send_task_failure(asks["o-2"], "Rejected", "over budget")
    app.process_workflows()
    assert yes.describe().output == {"order": "o-1", "decision": {"approved": True, "by": "ann"}}
    assert no.describe().output == {
        "order": "o-2",
        "error": {"Error": "Rejected", "Cause": "over budget"},
    }
    with pytest.raises(ExecutionError, match="no longer waits"):
        app.send_task_success(asks["o-1"], {})
    with pytest.raises(ValidationError, match="invalid task token"):
        app.send_task_success("not-a-token", {})
    task_types = types(yes.history())
    assert task_types.count("TaskSubmitted") == 0 and "TaskSucceeded" in task_types


def test_a_token_task_times_out(app: App, clock: ManualClock) -> None:
    app.queue("approvals")
    app.workflow("approval", APPROVAL)
    run = app.start_execution("approval", {"order": "o-3"})
    app.process_workflows()
    clock.advance(601)  # no heartbeat within HeartbeatSeconds
    app.process_workflows()
    assert run.describe().output["error"]["Error"] == "States.HeartbeatTimeout"
    [ask] = drain(app, "approvals")
    with pytest.raises(ExecutionError, match="no longer waits"):
        app.send_task_success(ask["token"], {"too": "late"})
    alive = app.start_execution("approval", {"order": "o-4"})
    app.process_workflows()
    [ask] = drain(app, "approvals")
    for _ in range(7):  # heartbeats keep it alive, but not past TimeoutSeconds = 3600
        clock.advance(500)
        app.send_task_heartbeat(ask["token"])
        app.process_workflows()
    assert alive.status == "RUNNING"
    clock.advance(100)
    app.process_workflows()
    assert alive.describe().output["error"]["Error"] == "States.Timeout"
    assert "TaskTimedOut" in types(alive.history())


# -- integrations ------------------------------------------------------------------------------------


def test_sqs_send_message(app: App) -> None:
    app.queue("out")
    app.workflow(
        "notify",
        {
            "StartAt": "Send",
            "States": {
                "Send": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage",
                    "Parameters": {
                        "QueueUrl": "out",
                        "MessageBody.$": "$",
                        "MessageAttributes": {
                            "kind": {"DataType": "String", "StringValue": "order"}
                        },
                    },
                    "Catch": [
                        {"ErrorEquals": ["SQS.QueueDoesNotExistException"], "Next": "NoQueue"}
                    ],
                    "End": True,
                },
                "NoQueue": {"Type": "Pass", "End": True},
            },
        },
    )
    run = app.start_execution("notify", {"id": 7})
    app.process_workflows()
    output = run.describe().output
    [message] = app.get_queue("out").receive(1)
    assert message.body == {"id": 7} and message.attributes == {"kind": "order"}
    assert output["MessageId"] == message.id and len(output["MD5OfMessageBody"]) == 32


def test_unknown_integrations_are_refused_with_the_available_ones(app: App) -> None:
    from overcast import ConfigError

    app.workflow(
        "topic",
        {
            "StartAt": "P",
            "States": {
                "P": {"Type": "Task", "Resource": "arn:aws:states:::sns:deleteTopic", "End": True}
            },
        },
    )
    with pytest.raises(ConfigError, match="no service integration 'sns:deleteTopic'.*sns:publish"):
        app.start_execution("topic", {})


# -- nested executions ---------------------------------------------------------------------------


def nested(app: App) -> None:
    app.workflow(
        "child",
        {
            "StartAt": "W",
            "States": {
                "W": {"Type": "Wait", "Seconds": 60, "Next": "Double"},
                "Double": {
                    "Type": "Pass",
                    "Parameters": {"n.$": "States.MathAdd($.n, $.n)"},
                    "Next": "Check",
                },
                "Check": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.n", "NumericGreaterThan": 100, "Next": "TooBig"}],
                    "Default": "Done",
                },
                "TooBig": {"Type": "Fail", "Error": "TooBig", "Cause": "over 100"},
                "Done": {"Type": "Succeed"},
            },
        },
    )
    app.workflow(
        "parent",
        {
            "StartAt": "Two",
            "States": {
                "Two": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {"StateMachineArn": SM + "child", "Input": {"n.$": "$.n"}},
                    "ResultSelector": {"n.$": "$.Output.n", "status.$": "$.Status"},
                    "Catch": [
                        {
                            "ErrorEquals": ["States.TaskFailed"],
                            "ResultPath": "$.error",
                            "Next": "Failed",
                        }
                    ],
                    "Next": "One",
                },
                "One": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync",
                    "Parameters": {
                        "StateMachineArn": SM + "child",
                        "Input": {"n.$": "$.n"},
                        "Name": "named-child",
                    },
                    "ResultSelector": {"output.$": "$.Output"},
                    "End": True,
                },
                "Failed": {"Type": "Pass", "End": True},
            },
        },
    )
    app.workflow(
        "fire",
        {
            "StartAt": "Go",
            "States": {
                "Go": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution",
                    "Parameters": {"StateMachineArn": SM + "child", "Input": '{"n": 1}'},
                    "End": True,
                }
            },
        },
    )


def test_nested_sync_executions(app: App, clock: ManualClock) -> None:
    nested(app)
    run = app.start_execution("parent", {"n": 5})
    app.process_workflows()
    [child] = app.list_executions("child")
    assert child.status == "RUNNING" and run.status == "RUNNING"
    assert app.describe_execution(child.arn).parent_arn == run.arn
    clock.advance(60)
    app.process_workflows()  # the first child ends; the parent starts the second
    clock.advance(60)
    app.process_workflows()
    description = run.describe()
    assert description.status == "SUCCEEDED"
    assert description.output == {"output": '{"n":20}'}  # .sync: Output is JSON text
    assert {e.status for e in app.list_executions("child")} == {"SUCCEEDED"}
    assert app.describe_execution("child/named-child").input == {"n": 10}


def test_a_failed_child_fails_the_parent_task(app: App, clock: ManualClock) -> None:
    nested(app)
    run = app.start_execution("parent", {"n": 60})
    app.process_workflows()
    clock.advance(60)
    app.process_workflows()
    error = run.describe().output["error"]
    assert error["Error"] == "States.TaskFailed"
    cause = json.loads(error["Cause"])
    assert (
        cause["Status"] == "FAILED" and cause["Error"] == "TooBig" and cause["Cause"] == "over 100"
    )


def test_stopping_a_parent_stops_its_child(app: App) -> None:
    nested(app)
    run = app.start_execution("parent", {"n": 1})
    app.process_workflows()
    run.stop()
    app.process_workflows()
    [child] = app.list_executions("child")
    assert child.status == "ABORTED"


def test_fire_and_forget_child(app: App, clock: ManualClock) -> None:
    nested(app)
    run = app.start_execution("fire", {})
    app.process_workflows()
    output = run.describe().output
    assert output["ExecutionArn"].startswith(
        "arn:aws:states:us-east-1:000000000000:execution:child:"
    )
    assert app.describe_execution(output["ExecutionArn"]).input == {"n": 1}


# -- express ------------------------------------------------------------------------------------


def test_express_executions(app: App) -> None:
    app.queue("out")
    app.workflow(
        "quick",
        {
            "StartAt": "Send",
            "States": {
                "Send": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage",
                    "Parameters": {"QueueUrl": QUEUE_URL + "out", "MessageBody.$": "$"},
                    "ResultSelector": {"sent": True},
                    "End": True,
                }
            },
        },
        type="EXPRESS",
    )
    result = app.start_sync_execution("quick", {"n": 1})
    assert result.status == "SUCCEEDED" and result.output == {"sent": True}
    app.start_execution("quick", {"n": 2})  # asynchronous: the runtime runs it in memory
    assert drain(app, "out") == [{"n": 1}]
    app.process_workflows()
    assert drain(app, "out") == [{"n": 2}]


def test_an_express_execution_times_out_after_five_minutes(app: App, clock: ManualClock) -> None:
    app.workflow("long", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 400, "Next": "P"}, "P": {"Type": "Pass", "End": True}}},
        type="EXPRESS")
    app.workflow("short", {"TimeoutSeconds": 60, "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 100, "End": True}}}, type="EXPRESS")
    for name, advance in (("long", 301.0), ("short", 61.0)):
        mover = threading.Timer(0.2, clock.advance, (advance,))
        mover.start()
        result = app.start_sync_execution(name, {})
        mover.join()
        assert result.status == "TIMED_OUT" and result.error == "States.Timeout"


def test_history_of_executions_gone_for_good_is_trimmed(app: App, clock: ManualClock) -> None:
    from overcast.services.workflows_api import _service
    from overcast.workflows import store
    from overcast.workflows.tokens import ExecutionKey

    app.workflow("brief", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    old = app.start_execution("brief", {"n": 1}, execution_name="old")
    app.process_workflows()
    clock.advance(store.HISTORY_HORIZON - 10)
    app.start_execution("brief", {"n": 2}, execution_name="recent")
    app.process_workflows()

    def history(name: str) -> list[dict[str, Any]]:
        return app.engine.read(lambda tx: store.read_history(tx, ExecutionKey("brief", name)))

    assert history("old") and history("recent")
    assert _service(app).trim_history() == 0  # nothing is old enough yet
    clock.advance(20)
    assert _service(app).trim_history() > 0
    assert history("old") == [] and history("recent")
    with pytest.raises(NotFound):  # its record went 90 days after it ended, as in Step Functions
        app.describe_execution(old)


# -- the runtime ------------------------------------------------------------------------------------


def test_the_runtime_runs_executions(tmp_path: Path) -> None:
    app = App("rt", engine=f"sqlite:///{tmp_path / 'rt.db'}")
    app.queue("approvals")
    app.workflow("approval", APPROVAL)
    app.workflow(
        "pause",
        {
            "StartAt": "W",
            "States": {
                "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
                "P": {"Type": "Pass", "End": True},
            },
        },
    )
    runtime = Runtime(app)
    runtime.start()
    try:
        runs = [app.start_execution("pause", {"i": i}) for i in range(20)]
        assert [r.wait(10).output for r in runs] == [{"i": i} for i in range(20)]
        ask = app.start_execution("approval", {"order": "o-9"})
        q = app.get_queue("approvals")
        [message] = q.receive(1, wait=10)
        app.send_task_success(message.body["token"], "ok")
        assert ask.wait(10).output == {"order": "o-9", "decision": "ok"}
    finally:
        runtime.stop()
