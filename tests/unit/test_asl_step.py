"""The step API: start/step/stop as pure functions, timers, heartbeats, serialisation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from overcast.workflows import (
    CancelTask,
    CancelTimer,
    ExecutionState,
    Finish,
    InvokeTask,
    StartTimer,
    TaskFailed,
    TaskHeartbeat,
    TaskSucceeded,
    TimerFired,
    run_definition,
    start,
    step,
    stop,
)

CHAIN = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Task", "Resource": "add", "ResultPath": "$.sum", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 30, "Next": "B"},
        "B": {"Type": "Task", "Resource": "echo", "OutputPath": "$.sum", "End": True},
    },
}


def only(actions: list[Any], kind: type) -> Any:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


def test_step_by_step_execution() -> None:
    t = start(CHAIN, {"a": 1, "b": 2}, now=100.0)
    invoke = only(t.actions, InvokeTask)
    assert (invoke.resource, invoke.input, invoke.state_name) == ("add", {"a": 1, "b": 2}, "A")
    t = step(t.state, TaskSucceeded(invoke.id, 3), now=101.0)
    timer = only(t.actions, StartTimer)
    assert (timer.until, timer.purpose) == (131.0, "wait")
    t = step(t.state, TimerFired(timer.id), now=131.0)
    invoke = only(t.actions, InvokeTask)
    assert invoke.input == {"a": 1, "b": 2, "sum": 3}
    t = step(t.state, TaskSucceeded(invoke.id, invoke.input), now=132.0)
    finish = only(t.actions, Finish)
    assert (finish.status, finish.output) == ("SUCCEEDED", 3)
    assert t.state.done and t.state.stop_time == 132.0


def test_step_never_modifies_its_input_state() -> None:
    t = start(CHAIN, {"a": 1, "b": 2}, now=0.0)
    snapshot = copy.deepcopy(t.state.to_dict())
    invoke = only(t.actions, InvokeTask)
    step(t.state, TaskSucceeded(invoke.id, 3), now=1.0)
    step(t.state, TaskFailed(invoke.id, "E", "c"), now=1.0)
    assert t.state.to_dict() == snapshot


def test_state_round_trips_through_json_mid_execution() -> None:
    t = start(CHAIN, {"a": 1, "b": 2}, now=0.0)
    invoke = only(t.actions, InvokeTask)
    t = step(t.state, TaskSucceeded(invoke.id, 3), now=1.0)
    saved = json.dumps(t.state.to_dict())
    restored = ExecutionState.from_dict(json.loads(saved))
    timer = only(t.actions, StartTimer)
    t2 = step(restored, TimerFired(timer.id), now=31.0)
    assert only(t2.actions, InvokeTask).input == {"a": 1, "b": 2, "sum": 3}


def test_duplicate_and_unknown_events_are_ignored() -> None:
    t = start(CHAIN, {"a": 1, "b": 2}, now=0.0)
    invoke = only(t.actions, InvokeTask)
    t1 = step(t.state, TaskSucceeded(invoke.id, 3), now=1.0)
    again = step(t1.state, TaskSucceeded(invoke.id, 3), now=2.0)
    assert again.actions == [] and again.history == [] and again.state is t1.state
    assert step(t1.state, TimerFired("timer-999"), now=2.0).actions == []


def test_heartbeat_restarts_timer_and_missing_heartbeat_fails() -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "r", "HeartbeatSeconds": 10, "End": True}},
    }
    t = start(definition, {}, now=0.0)
    invoke = only(t.actions, InvokeTask)
    first_timer = only(t.actions, StartTimer)
    assert (first_timer.until, invoke.heartbeat_seconds) == (10.0, 10)
    t = step(t.state, TaskHeartbeat(invoke.id), now=8.0)
    assert only(t.actions, CancelTimer).id == first_timer.id
    second = only(t.actions, StartTimer)
    assert second.until == 18.0
    t = step(t.state, TimerFired(second.id), now=18.0)
    assert (t.state.status, t.state.error) == ("FAILED", "States.HeartbeatTimeout")
    assert only(t.actions, CancelTask).id == invoke.id


def test_task_timeout_timer_and_late_result() -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 5, "End": True}},
    }
    t = start(definition, {}, now=0.0)
    invoke = only(t.actions, InvokeTask)
    timer = only(t.actions, StartTimer)
    assert timer.until == 5.0 and invoke.timeout_seconds == 5
    timed_out = step(t.state, TimerFired(timer.id), now=5.0)
    assert timed_out.state.error == "States.Timeout"
    late = step(timed_out.state, TaskSucceeded(invoke.id, "late"), now=6.0)
    assert late.actions == []
    on_time = step(t.state, TaskSucceeded(invoke.id, "ok"), now=1.0)
    assert only(on_time.actions, CancelTimer).id == timer.id
    assert on_time.state.output == "ok"


def test_stop_aborts_and_cancels() -> None:
    t = start(CHAIN, {"a": 1, "b": 2}, now=0.0)
    invoke = only(t.actions, InvokeTask)
    stopped = stop(t.state, now=1.0, error="Manual", cause="user asked")
    assert (stopped.state.status, stopped.state.error) == ("ABORTED", "Manual")
    assert only(stopped.actions, CancelTask).id == invoke.id
    assert stopped.history[-1]["type"] == "ExecutionAborted"
    assert stop(stopped.state, now=2.0).actions == []


def test_execution_timeout() -> None:
    definition = dict(CHAIN, TimeoutSeconds=10)
    t = start(definition, {"a": 1, "b": 2}, now=0.0)
    timer = [
        a for a in t.actions if isinstance(a, StartTimer) and a.purpose == "execution-timeout"
    ][0]
    assert timer.until == 10.0
    t = step(t.state, TimerFired(timer.id), now=10.0)
    assert (t.state.status, t.state.error) == ("TIMED_OUT", "States.Timeout")
    assert t.history[-1]["type"] == "ExecutionTimedOut"


def test_execution_timeout_in_run_definition_with_long_wait() -> None:
    definition = {
        "TimeoutSeconds": 60,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}},
    }
    execution = run_definition(definition, {}, resources={})
    assert execution.status == "TIMED_OUT"


def test_wait_timestamp_and_seconds_path() -> None:
    definition = {
        "StartAt": "W1",
        "States": {
            "W1": {"Type": "Wait", "Timestamp": "2026-01-01T00:01:00Z", "Next": "W2"},
            "W2": {"Type": "Wait", "SecondsPath": "$.s", "End": True},
        },
    }
    begin = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    t = start(definition, {"s": 5}, now=begin)
    timer = only(t.actions, StartTimer)
    assert timer.until == begin + 60
    t = step(t.state, TimerFired(timer.id), now=begin + 60)
    assert only(t.actions, StartTimer).until == begin + 65
    past = start(definition, {"s": 0}, now=begin + 3600)  # timestamp already passed, 0 seconds
    assert past.state.status == "SUCCEEDED"


def test_same_seed_same_random_values() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {"u.$": "States.UUID()", "r.$": "States.MathRandom(0, 1000000)"},
                "End": True,
            }
        },
    }
    a = start(definition, {}, now=0.0, seed=7).state.output
    b = start(definition, {}, now=0.0, seed=7).state.output
    c = start(definition, {}, now=0.0, seed=8).state.output
    assert a == b and a != c


def test_start_validates() -> None:
    from overcast.errors import InvalidDefinition

    with pytest.raises(InvalidDefinition):
        start({"StartAt": "X", "States": {}}, {}, now=0.0)


def test_unregistered_resource_fails_the_task() -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "nothing", "End": True}},
    }
    execution = run_definition(definition, {}, resources={})
    assert execution.error == "States.TaskFailed"


def test_history_limit_stops_endless_loops() -> None:
    definition = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}},
    }
    execution = run_definition(definition, {}, resources={})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
