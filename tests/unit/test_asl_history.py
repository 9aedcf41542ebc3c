"""Execution history: the Step Functions event types, in order, with inputs and outputs."""

from __future__ import annotations

import json
from typing import Any

from overcast.errors import TaskFailed
from overcast.workflows import run_definition


def types(definition: dict[str, Any], data: Any = None, **resources: Any) -> list[str]:
    return [e["type"] for e in run_definition(definition, data, resources=resources).history]


def test_pass_chain_events_and_details() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Result": {"x": 1}, "Next": "B"},
            "B": {"Type": "Succeed"},
        },
    }
    execution = run_definition(definition, {"in": True}, resources={})
    assert [e["type"] for e in execution.history] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    started, entered, exited = execution.history[:3]
    assert json.loads(started["executionStartedEventDetails"]["input"]) == {"in": True}
    assert entered["stateEnteredEventDetails"] == {"name": "A", "input": '{"in":true}'}
    assert json.loads(exited["stateExitedEventDetails"]["output"]) == {"x": 1}
    assert json.loads(execution.history[-1]["executionSucceededEventDetails"]["output"]) == {"x": 1}
    ids = [e["id"] for e in execution.history]
    assert ids == list(range(1, len(ids) + 1))
    assert all(e["previousEventId"] < e["id"] for e in execution.history)
    assert all(e["timestamp"].endswith("Z") for e in execution.history)


def test_task_success_events() -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "r", "Parameters": {"p": 1}, "End": True}},
    }
    execution = run_definition(definition, {}, resources={"r": lambda x: {"ok": x["p"]}})
    assert [e["type"] for e in execution.history] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    scheduled = execution.history[2]["taskScheduledEventDetails"]
    assert scheduled["resource"] == "r" and json.loads(scheduled["parameters"]) == {"p": 1}
    assert json.loads(execution.history[4]["taskSucceededEventDetails"]["output"]) == {"ok": 1}


def test_task_failure_retry_and_execution_failed() -> None:
    def boom(value: Any) -> Any:
        raise TaskFailed("E", "bad")

    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 1}],
                "End": True,
            }
        },
    }
    execution = run_definition(definition, {}, resources={"r": boom})
    assert [e["type"] for e in execution.history] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "ExecutionFailed",
    ]
    assert execution.history[4]["taskFailedEventDetails"]["error"] == "E"
    assert execution.history[-1]["executionFailedEventDetails"] == {"error": "E", "cause": "bad"}


def test_map_events() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    history = run_definition(definition, [1, 2], resources={}).history
    kinds = [e["type"] for e in history]
    assert kinds[:3] == ["ExecutionStarted", "MapStateEntered", "MapStateStarted"]
    assert kinds.count("MapIterationStarted") == 2 and kinds.count("MapIterationSucceeded") == 2
    assert kinds[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    assert history[2]["mapStateStartedEventDetails"] == {"length": 2}
    iteration = [e for e in history if e["type"] == "MapIterationStarted"][1]
    assert iteration["mapIterationStartedEventDetails"] == {"name": "M", "index": 1}


def test_parallel_choice_wait_fail_events() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
                ],
                "Next": "C",
            },
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$[0].x", "IsPresent": True, "Next": "F"}],
            },
            "F": {"Type": "Fail", "Error": "Done", "Cause": "by design"},
        },
    }
    kinds = types(definition, {"x": 1})
    assert kinds == [
        "ExecutionStarted",
        "ParallelStateEntered",
        "ParallelStateStarted",
        "WaitStateEntered",
        "WaitStateExited",
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "FailStateEntered",
        "ExecutionFailed",
    ]


def test_map_iteration_failed_and_map_state_failed() -> None:
    def boom(value: Any) -> Any:
        raise TaskFailed("E")

    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": "r", "End": True}},
                },
                "End": True,
            }
        },
    }
    kinds = types(definition, [1], r=boom)
    assert "MapIterationFailed" in kinds and "MapStateFailed" in kinds
    assert kinds[-1] == "ExecutionFailed"
